# The sandbox's MQTT 3.1.1 broker core, independent of any transport: a `Connection` is
# fed the bytes a client sent and queues the frames to send back in a bounded outbox that
# its transport drains (`write_loop`). The `Broker` holds the sessions, the subscription
# index and the fan-out. Everything here is synchronous, so the publisher never waits
# for a client: a slow subscriber only ever fills its own outbox.
from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Awaitable, Callable, Iterator

from ..mqtt.codec import Decoder, encode
from ..mqtt.errors import MQTTError
from ..mqtt.packets import (
    SUBACK_FAILURE, ConnAck, Connect, Disconnect, PingReq, PingResp, PubAck, PubComp,
    Publish, PubRec, PubRel, SubAck, Subscribe, UnsubAck, Unsubscribe,
)
from .auth import BAD_PROTOCOL, Account, Identity, check_connect, peek_protocol_level
from .delivery import OutgoingMessage, Session
from .topics import TopicParser, TopicRef

MAX_PACKET = 256 * 1024  # clients only send small control packets
OUTBOX_SOFT_LIMIT = 1024 * 1024  # past this, QoS 0 messages to that client are dropped
OUTBOX_HARD_LIMIT = 4 * 1024 * 1024  # past this, the client is dropped
CONNECT_TIMEOUT = 10.0  # seconds a new connection may take to send CONNECT
RETRY_AFTER = 5.0  # seconds before an unacknowledged QoS 1/2 message is re-sent (DUP)
# A kept session (clean session off) whose client stays away this long is forgotten.
# 3.1.1 sets no limit; without one, every client id ever seen would keep a session.
SESSION_EXPIRY = 3600.0
MAX_QOS = 2

Snapshot = Callable[[str, TopicRef], "OutgoingMessage | None"]


class Connection:
    """One client's network connection: bytes in through `receive`, frames out through
    `write_loop`, which the transport runs as a task.

    Args:
        send: writes one frame to the transport.
        close: closes the transport politely once the outbox is flushed.
        abort: closes the transport at once, whatever it was doing.
    """

    def __init__(self, broker: Broker, peer: str, *, send: Callable[[bytes], Awaitable[None]],
                 close: Callable[[], Awaitable[None]], abort: Callable[[], None]) -> None:
        self.broker = broker
        self.peer = peer
        self.session: Session | None = None
        self.identity: Identity | None = None
        self.keepalive = 0
        self.closing = False
        self.dropped_qos0 = 0
        self.opened_at = self.last_received = broker.clock()
        self._decoder = Decoder.for_server(max_packet=MAX_PACKET)
        self._send, self._close, self._abort = send, close, abort
        self._out: deque[bytes] = deque()
        self._out_bytes = 0
        self._wake = asyncio.Event()
        self._head = b""  # the first bytes received, to answer a foreign CONNECT

    @property
    def client_id(self) -> str:
        return self.session.client_id if self.session is not None else "?"

    # -- outgoing ---------------------------------------------------------------------

    def send_frame(self, frame: bytes, *, droppable: bool = False) -> bool:
        """Queue one frame; never waits. Returns False when it was not queued."""
        if self.closing:
            return False
        size = self._out_bytes + len(frame)
        if droppable and size > self.broker.outbox_soft_limit:
            self.dropped_qos0 += 1
            return False
        if size > self.broker.outbox_hard_limit:
            self.drop("outgoing queue full (client too slow)")
            return False
        self._out.append(frame)
        self._out_bytes = size
        self._wake.set()
        return True

    def take_outgoing(self) -> list[bytes]:
        """Empty the outbox (the write loop's work; tests call it directly)."""
        frames = list(self._out)
        self._out.clear()
        self._out_bytes = 0
        return frames

    async def write_loop(self) -> None:
        """Drain the outbox into the transport until the connection ends, then close it."""
        try:
            while True:
                while self._out:
                    frame = self._out.popleft()
                    self._out_bytes -= len(frame)
                    await self._send(frame)
                if self.closing:
                    break
                self._wake.clear()
                await self._wake.wait()
            await asyncio.wait_for(self._close(), timeout=2.0)
        except Exception:  # the peer went away or would not close: nothing left to do
            self._abort()

    # -- incoming ---------------------------------------------------------------------

    def receive(self, data: bytes) -> None:
        """Handle the bytes a client sent; a protocol error drops this client alone."""
        if self.closing:
            return
        self.last_received = self.broker.clock()
        if self.session is None and len(self._head) < 64:
            self._head += data[:64 - len(self._head)]
        try:
            for packet in self._decoder.packets(data):
                self._handle(packet)
                if self.closing:
                    return
        except MQTTError as exc:
            level = peek_protocol_level(self._head) if self.session is None else None
            if level not in (None, 4):
                # An MQTT 3.1 or 5 CONNECT that our 3.1.1 codec cannot read: §3.1.2-2
                # asks for CONNACK 1 before closing.
                self.broker.refuse(self, BAD_PROTOCOL, f"protocol level {level}")
            else:  # §4.8: on a protocol violation the server closes the connection.
                self.drop(f"protocol error: {exc}")

    def _handle(self, packet) -> None:
        kind = type(packet)
        if self.session is None:
            if kind is not Connect:  # §3.1.0-1: the first packet must be CONNECT
                self.drop(f"{kind.__name__} before CONNECT")
            else:
                self.broker.on_connect(self, packet)
            return
        now = self.broker.clock()
        session = self.session
        if kind is Publish:
            # Clients publish nothing on the exchange: acknowledge and discard, as
            # 3.1.1 brokers do with a publish their access rules deny.
            if packet.qos == 1:
                self.send_frame(encode(PubAck(packet.packet_id)))
            elif packet.qos == 2:
                self.send_frame(encode(PubRec(packet.packet_id)))
        elif kind is PubAck:
            session.on_puback(packet.packet_id, now)
        elif kind is PubRec:
            self.send_frame(session.on_pubrec(packet.packet_id, now))
        elif kind is PubRel:
            self.send_frame(encode(PubComp(packet.packet_id)))  # §4.3.3, any id
        elif kind is PubComp:
            session.on_pubcomp(packet.packet_id, now)
        elif kind is Subscribe:
            self.broker.on_subscribe(self, packet)
        elif kind is Unsubscribe:
            self.broker.on_unsubscribe(self, packet)
        elif kind is PingReq:
            self.send_frame(encode(PingResp()))
        elif kind is Disconnect:
            self.finish("disconnected")  # §3.14.4: close, no will
        else:  # a second CONNECT (§3.1.0-2)
            self.drop(f"unexpected {kind.__name__}")

    # -- ending -----------------------------------------------------------------------

    def finish(self, reason: str) -> None:
        """End after sending what is queued (a refusing CONNACK, say)."""
        if not self.closing:
            self._end(reason)

    def drop(self, reason: str) -> None:
        """End now, discarding what is queued."""
        if not self.closing:
            self._end(reason)
            self.take_outgoing()
            self._abort()

    def connection_lost(self) -> None:
        """The transport saw the end of input; the transport calls this once."""
        if not self.closing:
            self._end("connection closed by client")

    def _end(self, reason: str) -> None:
        self.closing = True
        self._wake.set()
        self.broker.on_connection_end(self, reason)


class Broker:
    """Sessions, subscriptions and fan-out for the whole sandbox.

    Args:
        parser: which topics exist.
        account: the demo account private clients sign in as.
        snapshot: the current message of a public topic, sent to each new subscriber.
        log: called with one line per connection, refusal and disconnection.
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
        self.log = log
        self.clock = clock
        self.wall_ms = wall_ms
        self.retry_after = retry_after
        self.outbox_soft_limit = OUTBOX_SOFT_LIMIT
        self.outbox_hard_limit = OUTBOX_HARD_LIMIT
        self.connections: set[Connection] = set()
        self.sessions: dict[str, Session] = {}
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
        old = self.sessions.get(connect.client_id)
        if old is not None and old.link is not None:
            old.link.drop("taken over by a new connection with the same client id")  # §3.1.4-2
            old = self.sessions.get(connect.client_id)  # a clean one is gone now
        if connect.clean_session or old is None:
            if old is not None:
                self._discard(old)  # §3.1.2-6: a clean session starts from nothing
            session = Session(connect.client_id, clean=connect.clean_session)
            self.sessions[connect.client_id] = session
        else:
            session = old
        present = session is old  # §3.2.2-2: only a resumed session is "present"
        conn.session, conn.identity, conn.keepalive = session, verdict.identity, connect.keepalive
        kind = "private" if verdict.identity.private else "public"
        self._say(f"connected {conn.peer} client {connect.client_id[:16]!r} ({kind}, "
                  f"keepalive {connect.keepalive}s{', resumed session' if present else ''})")
        conn.send_frame(encode(ConnAck(0, session_present=present)))
        session.attach(conn, self.clock())

    def refuse(self, conn: Connection, code: int, reason: str, client_id: str = "?") -> None:
        self._say(f"refused {conn.peer} client {client_id[:16]!r}: CONNACK {code} ({reason})")
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
        self._say(f"disconnected {conn.peer} client {session.client_id[:16]!r}: {reason}")

    def _discard(self, session: Session) -> None:
        for topic in session.subscriptions:
            self._unindex(topic, session)
        session.subscriptions.clear()
        if self.sessions.get(session.client_id) is session:
            del self.sessions[session.client_id]

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
        for topic, qos in packet.topics:
            ref = self.parser.parse(topic)
            why = self.refusal(conn, ref)
            if why is not None:
                self._say(f"refused subscription of client {session.client_id[:16]!r} "
                          f"to {topic!r}: {why}")
                codes.append(SUBACK_FAILURE)
                continue
            granted = min(qos, MAX_QOS)
            session.subscriptions[topic] = granted  # §3.8.4-3: replaces an existing one
            self._subscribers.setdefault(topic, {})[session] = granted
            self._refs[topic] = ref
            codes.append(granted)
            if not ref.private:
                fresh.append((topic, ref, granted))
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
                if now - conn.opened_at > CONNECT_TIMEOUT:
                    conn.drop("no CONNECT in time")
            elif conn.keepalive and now - conn.last_received > 1.5 * conn.keepalive:
                conn.drop(f"silent for 1.5 x keepalive {conn.keepalive}s")  # §3.1.2-24
            else:
                conn.session.retry(now, after=self.retry_after)
        for session in list(self.sessions.values()):
            if session.link is None and now - session.detached_at > SESSION_EXPIRY:
                self._discard(session)

    def close_all(self) -> None:
        for conn in list(self.connections):
            conn.drop("sandbox stopping")
