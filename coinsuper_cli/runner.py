# The one blocking runner: open a transport, sign in, subscribe, keep the link alive,
# and hand every message to the output. Several connections (the exchange wants one per
# public topic) run in threads that feed the main thread, which alone writes output.
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .errors import ConnectFailed, Finished, SignInRefused, SubscriptionRefused
from .exchange import SignIn
from .mqtt.errors import ConnectionRefused
from .mqtt.packets import SUBACK_FAILURE
from .mqtt.session import ClientSession, Connected, Message, Subscribed
from .payloads import Feed
from .transport import TLSOptions, open_transport

# How often a blocked receive wakes to check for a stop request or a deadline.
POLL_SECONDS = 0.25


@dataclass(frozen=True, slots=True)
class ConnectionPlan:
    """One MQTT connection: where, who, and which topics."""

    url: str
    sign_in: SignIn
    feeds: tuple[Feed, ...]
    qos: int = 0
    keepalive: int = 60


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How every connection runs.

    Args:
        log: receives one line per connection event (-v).
        on_state: receives (plan, state) as a connection moves through "connecting",
            "connected", "subscribed" and "closed"; live views show it.
    """

    tls: TLSOptions = TLSOptions()
    connect_timeout: float = 10.0
    max_packet: int = 1024 * 1024
    log: Callable[[str], None] | None = None
    on_state: Callable[[ConnectionPlan, str], None] | None = None


class Connection:
    """Runs one plan until told to stop, a deadline passes, or the link fails."""

    def __init__(self, plan: ConnectionPlan, options: RunOptions,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.plan = plan
        self._options = options
        self._clock = clock
        self._feeds = {feed.topic: feed for feed in plan.feeds}
        self.stopping = threading.Event()

    def _log(self, text: str) -> None:
        if self._options.log:
            self._options.log(text)

    def _state(self, state: str) -> None:
        if self._options.on_state:
            self._options.on_state(self.plan, state)

    def run(self, deliver: Callable[[Feed, bytes], None], flush: Callable[[], None],
            deadline: float | None = None) -> None:
        plan, options = self.plan, self._options
        self._log(f"connecting to {plan.url} as {plan.sign_in.username}")
        self._state("connecting")
        transport = open_transport(plan.url, timeout=options.connect_timeout, tls=options.tls)
        session = ClientSession(
            client_id=plan.sign_in.client_id, username=plan.sign_in.username,
            password=plan.sign_in.password, keepalive=plan.keepalive,
            max_packet=options.max_packet,
        )
        try:
            self._converse(transport, session, deliver, flush, deadline)
        finally:
            if session.connected:
                try:
                    session.disconnect(self._clock())
                    transport.send(session.data_to_send())
                except (ConnectFailed, OSError):
                    pass
            transport.close()
            self._state("closed")

    def _converse(self, transport, session: ClientSession, deliver, flush,
                  deadline: float | None) -> None:
        clock = self._clock
        session.connect(clock())
        transport.send(session.data_to_send())
        connect_by = clock() + self._options.connect_timeout
        feeds = self._feeds
        while not self.stopping.is_set():
            now = clock()
            if deadline is not None and now >= deadline:
                raise Finished("timeout")
            if not session.connected and now >= connect_by:
                raise ConnectFailed(f"no CONNACK from {self.plan.url} within "
                                    f"{self._options.connect_timeout:g} s")
            wait = POLL_SECONDS
            if deadline is not None:
                wait = min(wait, deadline - now)
            keepalive_due = session.next_deadline()
            if keepalive_due is not None:
                wait = min(wait, max(keepalive_due - now, 0.0))
            data = transport.recv(max(wait, 0.001))
            if data:
                try:
                    events = session.receive_data(data, clock())
                except ConnectionRefused as refused:
                    raise SignInRefused(f"the broker refused the sign-in: {refused}") from None
                for event in events:
                    if type(event) is Message:
                        feed = feeds.get(event.topic)
                        if feed is not None:
                            deliver(feed, event.payload)
                        else:
                            self._log(f"ignored a message on unsubscribed topic {event.topic}")
                    elif type(event) is Connected:
                        self._on_connected(session)
                    elif type(event) is Subscribed:
                        self._on_subscribed(event)
                flush()
            session.tick(clock())
            out = session.data_to_send()
            if out:
                transport.send(out)

    def _on_connected(self, session: ClientSession) -> None:
        topics = [feed.topic for feed in self.plan.feeds]
        self._state("connected")
        self._log(f"signed in; subscribing to {', '.join(topics)} at QoS {self.plan.qos}")
        session.subscribe(topics, self.plan.qos, self._clock())

    def _on_subscribed(self, event: Subscribed) -> None:
        refused = [t for t, code in zip(event.topics, event.granted) if code == SUBACK_FAILURE]
        if refused:
            raise SubscriptionRefused(f"the broker refused the subscription to "
                                      f"{', '.join(refused)}")
        self._state("subscribed")
        self._log("subscribed (granted QoS " + ", ".join(map(str, event.granted)) + ")")


def run_connections(plans: list[ConnectionPlan], options: RunOptions,
                    deliver: Callable[[Feed, bytes], None], flush: Callable[[], None],
                    timeout: float | None = None) -> None:
    """Run every plan until one fails, the output says Finished, or `timeout` passes."""
    deadline = None if timeout is None else time.monotonic() + timeout
    connections = [Connection(plan, options) for plan in plans]
    if len(connections) == 1:
        connections[0].run(deliver, flush, deadline)
        return
    # One thread per connection; only the main thread writes, so output needs no lock
    # and Ctrl-C lands where it can be handled.
    inbox: queue.SimpleQueue = queue.SimpleQueue()

    def work(connection: Connection) -> None:
        try:
            connection.run(lambda feed, payload: inbox.put((feed, payload)), lambda: None,
                           deadline)
        except BaseException as error:  # handed to the main thread, which decides
            inbox.put((None, error))

    threads = [threading.Thread(target=work, args=(c,), daemon=True) for c in connections]
    for thread in threads:
        thread.start()
    try:
        while True:
            try:
                feed, item = inbox.get(timeout=POLL_SECONDS)
            except queue.Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise Finished("timeout") from None
                continue
            while True:
                if feed is None:
                    raise item
                deliver(feed, item)
                try:
                    feed, item = inbox.get_nowait()
                except queue.Empty:
                    break
            flush()
    finally:
        for connection in connections:
            connection.stopping.set()
        for thread in threads:
            thread.join(timeout=1.0)
