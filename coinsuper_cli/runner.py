# The one blocking runner: open a transport, sign in, subscribe, keep the link alive,
# hand every message to the output, and reconnect when the link is lost. Several
# connections (the exchange wants one per public topic) run in threads that feed the
# main thread, which alone writes output.
from __future__ import annotations

import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .errors import ConnectFailed, Finished, SignInRefused, SubscriptionRefused
from .exchange import PUBLIC_CHANNELS, SignIn
from .mqtt.errors import ConnectionRefused, KeepaliveTimeout, MQTTError
from .mqtt.packets import SUBACK_FAILURE
from .mqtt.session import ClientSession, Connected, Message, Subscribed
from .payloads import Feed
from .transport import ConnectionClosed, TLSOptions, open_transport, redact_url

# How often a blocked receive wakes to check for a stop request or a deadline.
POLL_SECONDS = 0.25
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0


@dataclass(frozen=True, slots=True)
class ConnectionPlan:
    """One MQTT connection: where, who, and which topics."""

    url: str
    # Called for each connection: a private password carries a timestamp that the
    # exchange checks, so a reconnect an hour later must sign anew.
    sign_in: Callable[[], SignIn]
    feeds: tuple[Feed, ...]
    qos: int = 0
    keepalive: int = 60


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How every connection runs.

    Args:
        retries: reconnect attempts after a lost link before giving up; None: forever.
        stale_after: seconds a public topic may stay silent before the link is presumed
            dead (the exchange pushes each one every 1-2 s); None: never.
        warn: receives lines the user must see (the broker broke the protocol).
        log: receives one line per connection event (-v).
        on_state: receives (plan, state) as a connection moves through "connecting",
            "connected", "subscribed", "reconnecting" and "closed"; live views show it.
        stop: when set, every connection says goodbye and `run_connections` returns
            within a poll interval (a live view's `q`).
    """

    tls: TLSOptions = TLSOptions()
    connect_timeout: float = 10.0
    max_packet: int = 1024 * 1024
    retries: int | None = None
    stale_after: float | None = 15.0
    warn: Callable[[str], None] | None = None
    log: Callable[[str], None] | None = None
    on_state: Callable[[ConnectionPlan, str], None] | None = None
    stop: threading.Event | None = None


class StaleStream(ConnectFailed):
    """A subscribed topic that should push every second or two has gone silent."""


def backoff_delay(attempt: int, uniform: Callable[[float, float], float] = random.uniform
                  ) -> float:
    """Exponential from 0.5 s to 30 s, jittered within its upper half, so that many
    clients cut off together do not all come back in the same instant."""
    ceiling = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (min(attempt, 16) - 1))
    return uniform(ceiling / 2, ceiling)


class Connection:
    """Runs one plan until told to stop or a deadline passes, reconnecting as needed."""

    def __init__(self, plan: ConnectionPlan, options: RunOptions,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.plan = plan
        self._options = options
        self._clock = clock
        self._feeds = {feed.topic: feed for feed in plan.feeds}
        # Only public channels push on a timetable; a quiet account is not a dead link.
        self._timed_topics = [f.topic for f in plan.feeds if f.channel in PUBLIC_CHANNELS]
        self.stopping = options.stop if options.stop is not None else threading.Event()
        self._ever_subscribed = False
        self._delivered = False  # since the latest (re)connection

    def _log(self, text: str) -> None:
        if self._options.log:
            self._options.log(text)

    def _state(self, state: str) -> None:
        if self._options.on_state:
            self._options.on_state(self.plan, state)

    def run(self, deliver: Callable[[Feed, bytes], None], flush: Callable[[], None],
            deadline: float | None = None) -> None:
        attempt = 0
        while not self.stopping.is_set():
            self._delivered = False
            try:
                self._run_once(deliver, flush, deadline)
                return
            except (SignInRefused, SubscriptionRefused):
                raise  # the broker said no: asking again will not change its mind
            except (ConnectFailed, MQTTError) as error:
                if not self._ever_subscribed:
                    # Never got going (a wrong URL, a refused certificate, a broker that
                    # hangs up): retrying would only hide the problem.
                    if isinstance(error, ConnectionClosed):
                        raise ConnectFailed(f"{redact_url(self.plan.url)} hung up before "
                                            f"the subscription was confirmed ({error})") from None
                    raise
                if isinstance(error, MQTTError) and not isinstance(error, KeepaliveTimeout):
                    self._warn(f"protocol error from the broker: {error}")
                attempt = 0 if self._delivered else attempt + 1
                retries = self._options.retries
                if retries is not None and attempt > retries:
                    raise ConnectFailed(f"gave up after {retries} reconnect attempts: "
                                        f"{error}") from None
                self._wait_to_reconnect(max(attempt, 1), error, deadline)

    def _warn(self, text: str) -> None:
        if self._options.warn:
            self._options.warn(text)

    def _wait_to_reconnect(self, attempt: int, error: BaseException,
                           deadline: float | None) -> None:
        delay = backoff_delay(attempt)
        self._state("reconnecting")
        self._log(f"connection lost ({error}); reconnecting in {delay:.1f} s")
        if deadline is not None and self._clock() + delay >= deadline:
            self.stopping.wait(max(deadline - self._clock(), 0))
            raise Finished("timeout")
        self.stopping.wait(delay)

    def _run_once(self, deliver, flush, deadline: float | None) -> None:
        plan, options = self.plan, self._options
        sign_in = plan.sign_in()
        self._log(f"connecting to {redact_url(plan.url)} as {sign_in.username}")
        self._state("connecting")
        transport = open_transport(plan.url, timeout=options.connect_timeout,
                                   tls=options.tls)
        session = ClientSession(
            client_id=sign_in.client_id, username=sign_in.username,
            password=sign_in.password, keepalive=plan.keepalive,
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
        stale_after = self._options.stale_after
        heard: dict[str, float] = {}
        while not self.stopping.is_set():
            now = clock()
            if deadline is not None and now >= deadline:
                raise Finished("timeout")
            if not session.connected and now >= connect_by:
                raise ConnectFailed(f"no CONNACK from {redact_url(self.plan.url)} within "
                                    f"{self._options.connect_timeout:g} s")
            if heard and stale_after:
                self._check_stale(heard, now, stale_after)
            wait = POLL_SECONDS
            if deadline is not None:
                wait = min(wait, deadline - now)
            keepalive_due = session.next_deadline()
            if keepalive_due is not None:
                wait = min(wait, keepalive_due - now)
            data = transport.recv(max(wait, 0.001))
            if data:
                try:
                    self._handle_events(session, session.receive_data(data, clock()), heard,
                                        deliver)
                except ConnectionRefused as refused:
                    raise SignInRefused(f"the broker refused the sign-in: {refused}") from None
                finally:
                    flush()  # what was delivered before any error is written out
            session.tick(clock())
            out = session.data_to_send()
            if out:
                transport.send(out)

    def _handle_events(self, session: ClientSession, events, heard: dict[str, float],
                       deliver) -> None:
        feeds = self._feeds
        for event in events:
            if type(event) is Message:
                feed = feeds.get(event.topic)
                if feed is None:
                    self._log(f"ignored a message on unsubscribed topic {event.topic}")
                    continue
                heard[event.topic] = self._clock()
                self._delivered = True
                deliver(feed, event.payload)
            elif type(event) is Connected:
                self._on_connected(session)
            elif type(event) is Subscribed:
                self._on_subscribed(event, heard)

    def _check_stale(self, heard: dict[str, float], now: float, stale_after: float) -> None:
        for topic in self._timed_topics:
            if now - heard[topic] > stale_after:
                raise StaleStream(f"no message on {topic} for {stale_after:g} s")

    def _on_connected(self, session: ClientSession) -> None:
        self._state("connected")
        topics = [feed.topic for feed in self.plan.feeds]
        self._log(f"signed in; subscribing to {', '.join(topics)} at QoS {self.plan.qos}")
        session.subscribe(topics, self.plan.qos, self._clock())

    def _on_subscribed(self, event: Subscribed, heard: dict[str, float]) -> None:
        refused = [t for t, code in zip(event.topics, event.granted) if code == SUBACK_FAILURE]
        if refused:
            raise SubscriptionRefused(f"the broker refused the subscription to "
                                      f"{', '.join(refused)}")
        self._ever_subscribed = True
        now = self._clock()
        for topic in self._timed_topics:  # the stale clock starts at the SUBACK
            heard.setdefault(topic, now)
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
                if options.stop is not None and options.stop.is_set():
                    return
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
