# The sandbox's MQTT 3.1.1 broker core, independent of any transport: the `Broker` holds
# the sessions (kept ones bounded), the subscription index and the fan-out, for the
# `Connection`s (connection.py) that feed it packets. Everything here is synchronous, so
# the publisher never waits for a client: a slow subscriber only ever fills its own
# outbox.
from __future__ import annotations

import time
from collections import OrderedDict
from typing import Callable, Iterator

from ..mqtt.codec import encode
from ..mqtt.packets import (
    SUBACK_FAILURE, ConnAck, Connect, SubAck, Subscribe, UnsubAck, Unsubscribe,
)
from .auth import Account, check_connect
from .connection import Connection
from .delivery import OutgoingMessage, Session
from .logline import LogLimiter, masked, shown
from .topics import TopicParser, TopicRef

OUTBOX_SOFT_LIMIT = 1024 * 1024  # past this, QoS 0 messages to that client are dropped
OUTBOX_HARD_LIMIT = 4 * 1024 * 1024  # past this, the client is dropped
CONNECT_TIMEOUT = 10.0  # seconds a new connection may take to send CONNECT
RETRY_AFTER = 5.0  # seconds before an unacknowledged QoS 1/2 message is re-sent (DUP)
# Kept sessions (clean session off). 3.1.1 sets no limit, but without one every client id
# ever seen keeps a session: 2,000 of them, each on all 80 topics, took the sandbox from
# 30 MB to 204 MB. §4.1 lets a server discard session state by "an automated response
# based on defined conditions": a session whose client stays away SESSION_EXPIRY seconds
# is forgotten, and when MAX_KEPT_SESSIONS are kept a new one takes the place of the one
# away longest (a client that comes back finds no session present and subscribes again,
# as §3.2.2.2 expects). Only when every kept session is online is a new one refused
# (CONNACK 3): refusing instead of forgetting would let anyone lock kept sessions out for
# SESSION_EXPIRY by opening and leaving MAX_KEPT_SESSIONS of them.
MAX_KEPT_SESSIONS = 200
SESSION_EXPIRY = 300.0
SERVER_UNAVAILABLE = 3  # CONNACK return code (§3.2.2.3)
MAX_QOS = 2

Snapshot = Callable[[str, TopicRef], "OutgoingMessage | None"]


class Broker:
    """Sessions, subscriptions and fan-out for the whole sandbox.

    Args:
        parser: which topics exist.
        account: the demo account private clients sign in as.
        snapshot: the current message of a public topic, sent to each new subscriber.
        log: called with one line per connection, refusal and disconnection, at most
            one per packet, rate-limited, network strings escaped and shortened.
        clock: monotonic seconds; wall_ms: epoch milliseconds, for sign-in timestamps.
    """

    def __init__(self, parser: TopicParser, account: Account, *,
                 snapshot: Snapshot, log: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 wall_ms: Callable[[], int] = lambda: int(time.time() * 1000),
                 retry_after: float = RETRY_AFTER) -> None:
        self.parser = parser
        self.account = account
        self.snapshot = snapshot
        self.log = LogLimiter(log, clock) if log is not None else None
        self.clock = clock
        self.wall_ms = wall_ms
        self.retry_after = retry_after
        # The limits, as attributes that tests may lower.
        self.outbox_soft_limit = OUTBOX_SOFT_LIMIT
        self.outbox_hard_limit = OUTBOX_HARD_LIMIT
        self.connect_timeout = CONNECT_TIMEOUT
        self.max_kept_sessions = MAX_KEPT_SESSIONS
        self.session_expiry = SESSION_EXPIRY
        self.connections: set[Connection] = set()
        self.sessions: dict[str, Session] = {}
        self._kept = 0  # sessions with clean session off, online or away
        # Kept sessions whose client is away, the one away longest first.
        self._away: OrderedDict[str, Session] = OrderedDict()
        # topic -> {session: granted QoS}; refs keeps what each subscribed topic names.
        self._subscribers: dict[str, dict[Session, int]] = {}
        self._refs: dict[str, TopicRef] = {}

    def _say(self, line: str) -> None:
        if self.log is not None:
            self.log(line)

    def open(self, peer: str, **transport) -> Connection:
        """A new network connection; `transport` gives send, close and abort."""
        conn = Connection(self, peer, **transport)
        self.connections.add(conn)
        return conn

    # -- sign-in ----------------------------------------------------------------------

    def on_connect(self, conn: Connection, connect: Connect) -> None:
        verdict = check_connect(connect, self.account, self.wall_ms())
        if verdict.return_code:
            self.refuse(conn, verdict.return_code, verdict.reason, connect.client_id)
            return
        client_id = connect.client_id
        old = self.sessions.get(client_id)
        if old is not None and old.link is not None:
            old.link.drop("taken over by a new connection with the same client id")  # §3.1.4-2
            old = self.sessions.get(client_id)  # a clean one is gone now
        if connect.clean_session or old is None:
            if old is not None:
                self._discard(old)  # §3.1.2-6: a clean session starts from nothing
            if not connect.clean_session and not self._room_for_kept(conn, client_id):
                return
            session = Session(client_id, clean=connect.clean_session)
            self.sessions[client_id] = session
            if not session.clean:
                self._kept += 1
        else:
            session = old
            self._away.pop(client_id, None)
        present = session is old  # §3.2.2-2: only a resumed session is "present"
        conn.session, conn.identity, conn.keepalive = session, verdict.identity, connect.keepalive
        kind = "private" if verdict.identity.private else "public"
        resumed = ""
        if present:
            resumed = ", resumed session" + (
                f", {session.dropped} messages dropped from its full queue so far"
                if session.dropped else "")
        self._say(f"connected {conn.peer} client {masked(client_id)} ({kind}, "
                  f"keepalive {connect.keepalive}s{resumed})")
        conn.send_frame(encode(ConnAck(0, session_present=present)))
        session.attach(conn, self.clock())

    def _room_for_kept(self, conn: Connection, client_id: str) -> bool:
        """Make room for one more kept session: forget the one away longest, or refuse
        `conn` when every kept session is online."""
        if self._kept < self.max_kept_sessions:
            return True
        if self._away:
            oldest = next(iter(self._away.values()))
            self._discard(oldest)
            self._say(f"forgot the kept session of client {masked(oldest.client_id)}, away "
                      f"longest: {self.max_kept_sessions} kept sessions at most")
            return True
        self.refuse(conn, SERVER_UNAVAILABLE,
                    f"{self.max_kept_sessions} kept sessions, all online", client_id)
        return False

    def refuse(self, conn: Connection, code: int, reason: str,
               client_id: str | None = None) -> None:
        who = f" client {masked(client_id)}" if client_id is not None else ""
        self._say(f"refused {conn.peer}{who}: CONNACK {code} ({reason})")
        conn.send_frame(encode(ConnAck(code)))
        conn.finish(f"refused: {reason}")

    def on_connection_end(self, conn: Connection, reason: str) -> None:
        self.connections.discard(conn)
        session = conn.session
        if session is None:
            if not reason.startswith("refused"):
                self._say(f"closed {conn.peer} before sign-in: {reason}")
            return
        if session.link is conn:
            session.detach(self.clock())
            if session.clean:
                self._discard(session)  # §3.1.2-6: ends with its connection
            else:
                self._away[session.client_id] = session
        self._say(f"disconnected {conn.peer} client {masked(session.client_id)}: {reason}")

    def _discard(self, session: Session) -> None:
        for topic in session.subscriptions:
            self._unindex(topic, session)
        session.subscriptions.clear()
        session.queued.clear()
        if self.sessions.get(session.client_id) is session:
            del self.sessions[session.client_id]
            if not session.clean:
                self._kept -= 1
                self._away.pop(session.client_id, None)

    # -- subscriptions ----------------------------------------------------------------

    def refusal(self, conn: Connection, ref: TopicRef | None) -> str | None:
        """Why `conn` may not subscribe to the topic `ref` names, or None if it may."""
        if ref is None:
            return "no such topic"
        if ref.private and not conn.identity.private:
            return "private topic on a public connection"
        if ref.private and ref.email != conn.identity.email:
            return "another account's private topic"
        return None

    def on_subscribe(self, conn: Connection, packet: Subscribe) -> None:
        session, codes, fresh = conn.session, [], []
        first_refused = None
        for topic, qos in packet.topics:
            ref = self.parser.parse(topic)
            why = self.refusal(conn, ref)
            if why is not None:
                first_refused = first_refused or (topic, why)
                codes.append(SUBACK_FAILURE)
                continue
            granted = min(qos, MAX_QOS)
            session.subscriptions[topic] = granted  # §3.8.4-3: replaces an existing one
            self._subscribers.setdefault(topic, {})[session] = granted
            self._refs[topic] = ref
            codes.append(granted)
            if not ref.private:
                fresh.append((topic, ref, granted))
        if first_refused is not None:  # one line per packet, however many topics
            refused = codes.count(SUBACK_FAILURE)
            topic, why = first_refused
            more = f" and {refused - 1} more" if refused > 1 else ""
            self._say(f"refused {refused} of {len(codes)} subscriptions of client "
                      f"{masked(session.client_id)}: {shown(topic)} ({why}){more}")
        conn.send_frame(encode(SubAck(packet.packet_id, tuple(codes))))
        # The current state of each public topic right away, so the first record comes
        # without waiting for the next tick (a retained message's role; §3.8.4 lets the
        # server publish as soon as the SUBACK is out).
        now = self.clock()
        for topic, ref, granted in fresh:
            message = self.snapshot(topic, ref)
            if message is not None:
                session.deliver(message, granted, now)

    def on_unsubscribe(self, conn: Connection, packet: Unsubscribe) -> None:
        session = conn.session
        for topic in packet.topics:
            if session.subscriptions.pop(topic, None) is not None:
                self._unindex(topic, session)
        conn.send_frame(encode(UnsubAck(packet.packet_id)))  # §3.10.4-5: even if none

    def _unindex(self, topic: str, session: Session) -> None:
        subscribers = self._subscribers.get(topic)
        if subscribers is not None:
            subscribers.pop(session, None)
            if not subscribers:
                del self._subscribers[topic]
                del self._refs[topic]

    # -- delivery ---------------------------------------------------------------------

    def subscribed_topics(self) -> Iterator[tuple[str, TopicRef]]:
        """Every topic someone (online or in a kept session) is subscribed to."""
        return iter(list(self._refs.items()))

    def has_subscribers(self, topic: str) -> bool:
        return topic in self._subscribers

    def publish(self, message: OutgoingMessage) -> int:
        """Fan `message` out to its topic's subscribers; returns how many there were."""
        subscribers = self._subscribers.get(message.topic)
        if not subscribers:
            return 0
        now = self.clock()
        for session, qos in list(subscribers.items()):
            session.deliver(message, qos, now)
        return len(subscribers)

    def housekeeping(self) -> None:
        """Drop silent clients and re-send unacknowledged messages; call about 2 per s."""
        now = self.clock()
        for conn in list(self.connections):
            if conn.session is None:
                if now - conn.opened_at > self.connect_timeout:
                    conn.drop("no CONNECT in time")
            elif conn.keepalive and now - conn.last_received > 1.5 * conn.keepalive:
                conn.drop(f"silent for 1.5 x keepalive {conn.keepalive}s")  # §3.1.2-24
            else:
                conn.session.retry(now, after=self.retry_after)
        while self._away:
            session = next(iter(self._away.values()))
            if now - session.detached_at <= self.session_expiry:
                break
            self._discard(session)
        if self.log is not None:
            self.log.flush()

    def close_all(self) -> None:
        for conn in list(self.connections):
            conn.drop("sandbox stopping")
