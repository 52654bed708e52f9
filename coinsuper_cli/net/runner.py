# The one blocking runner, as a message source: open a transport, sign in, subscribe,
# keep the link alive, yield what arrives, and reconnect when the link is lost. The
# transport's connect function, the clock and the sleep are passed in, so the whole
# policy (backoff, retries, stale detection, the first-connection rule) runs in tests
# with a fake transport and a fake clock. Several connections (the exchange wants one
# per public topic) run in threads that hand their batches to the consuming thread one
# at a time.
from __future__ import annotations

import dataclasses
import queue
import random
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass

from ..api import channels
from ..api.stream import Message, Stopped
from ..errors import (CoinsuperError, ConnectFailed, ConnectionClosed, SignInRefused,
                      SubscriptionRefused)
from ..mqtt import DEFAULT_MAX_PACKET
from ..mqtt.errors import ConnectionRefused, KeepaliveTimeout, MQTTError
from ..mqtt.packets import SUBACK_FAILURE
from ..mqtt.session import (ClientSession, Connected, Message as Received, Repeated,
                            Subscribed)
from .connecting import Opening
from .plans import ConnectionPlan
from .proxy import ProxySettings
from .reconnect import NEVER_CONNECTED, GiveUp, Lost, ReconnectPolicy, ReconnectState
from .tls import TLSOptions
from .transport import Transport, open_transport
from ..urls import redact_url

# How often a quiet connection hands back an empty batch, so that its consumer can
# check the deadline and the stop switch.
POLL_SECONDS = 0.25

Batches = Generator[list[Message], None, None]


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How every connection runs.

    Args:
        proxy: where each connection's proxy comes from (--proxy, the environment);
            by default none.
        retries: reconnect attempts after a lost link before giving up; None: forever.
        stale_after: seconds a timed topic may stay silent before the link is presumed
            dead (the exchange pushes each one every 1-2 s); None: never.
        warn: receives lines the user must see (the broker broke the protocol).
        log: receives one line per connection event (-v).
        on_state: receives (plan, state, detail) as a connection moves through
            "connecting", "connected", "subscribed", "reconnecting" (detail: why) and
            "closed"; live views show it, a recorder keeps it.
        on_repeat: called for each QoS 2 message dropped as a repeat of one whose
            PUBREL has not come; live views count them.
        stop: when set, every connection says goodbye and ends within a poll interval
            (a live view's `q`).
    """

    tls: TLSOptions = TLSOptions()
    proxy: ProxySettings = ProxySettings()
    connect_timeout: float = 10.0
    max_packet: int = DEFAULT_MAX_PACKET
    retries: int | None = None
    stale_after: float | None = 15.0
    warn: Callable[[str], None] | None = None
    log: Callable[[str], None] | None = None
    on_state: Callable[[ConnectionPlan, str, str], None] | None = None
    on_repeat: Callable[[], None] | None = None
    stop: threading.Event | None = None


@dataclass(frozen=True, slots=True)
class Clock:
    """Time as the runner sees it: `now` (monotonic seconds), `sleep(seconds)` that a
    stop request may cut short, and `wall_ns` (receive times)."""

    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], object] = time.sleep
    wall_ns: Callable[[], int] = time.time_ns


Connect = Callable[..., Transport]


class StaleStream(ConnectFailed):
    """A subscribed topic that should push every second or two has gone silent."""


class Connection:
    """Runs one plan until told to stop, reconnecting as needed.

    Args:
        connect: opens a transport: `connect(url, timeout=..., tls=..., max_frame=...)`,
            and `proxy=URL` when the connection goes through one.
        clock: the runner's time; the sleep should end early once `stopping` is set.
        uniform: the jitter's random source.
    """

    def __init__(self, plan: ConnectionPlan, options: RunOptions, *,
                 connect: Connect = open_transport, clock: Clock | None = None,
                 uniform: Callable[[float, float], float] = random.uniform) -> None:
        self.plan = plan
        self._options = options
        self.stopping = options.stop if options.stop is not None else threading.Event()
        self._connect = connect
        self._clock = clock or Clock(sleep=self.stopping.wait)
        # --retries and the first-connection rule (reconnect.py): asked after each loss.
        self._policy = ReconnectPolicy(retries=options.retries, uniform=uniform)
        self._feeds = {feed.topic: feed for feed in plan.feeds}
        # Only channels with a cadence push on a timetable; a quiet account is not a
        # dead link.
        self._timed_topics = [f.topic for f in plan.feeds
                              if channels.get(f.channel).cadence is not None]
        self._subscribed = False  # since the latest (re)connection
        self._delivered = False  # since the latest (re)connection
        self._repeats_logged = False

    def _log(self, text: str) -> None:
        if self._options.log:
            self._options.log(text)

    def _warn(self, text: str) -> None:
        if self._options.warn:
            self._options.warn(text)

    def _state(self, state: str, detail: str = "") -> None:
        if self._options.on_state:
            self._options.on_state(self.plan, state, detail)

    def batches(self) -> Batches:
        """What this connection receives, across reconnects (see stream.Source)."""
        reconnect = ReconnectState()
        while not self.stopping.is_set():
            self._subscribed = self._delivered = False
            try:
                yield from self._session_batches()
                return
            except (SignInRefused, SubscriptionRefused):
                raise  # the broker said no: asking again will not change its mind
            except (ConnectFailed, MQTTError) as error:
                # Got going once its subscription is confirmed; carried once it delivered.
                reconnect, decision = self._policy.after(
                    reconnect, Lost(self._subscribed, self._delivered), self._clock.now())
                if isinstance(decision, GiveUp) and decision.reason == NEVER_CONNECTED:
                    if isinstance(error, ConnectionClosed):
                        raise ConnectFailed(f"{redact_url(self.plan.url)} hung up before "
                                            f"the subscription was confirmed ({error})") from None
                    raise
                if isinstance(error, MQTTError) and not isinstance(error, KeepaliveTimeout):
                    self._warn(f"protocol error from the broker: {error}")
                if isinstance(decision, GiveUp):
                    raise ConnectFailed(f"gave up after {decision.retries} reconnect "
                                        f"attempts: {error}") from None
                yield from self._back_off(decision.delay, decision.at, error)

    def _back_off(self, delay: float, until: float, error: BaseException) -> Batches:
        """Waits until the next attempt, handing back empty batches meanwhile."""
        self._state("reconnecting", str(error))
        self._log(f"connection lost ({error}); reconnecting in {delay:.1f} s")
        clock = self._clock
        while not self.stopping.is_set():
            left = until - clock.now()
            if left <= 0:
                return
            clock.sleep(min(left, POLL_SECONDS))
            yield []

    def _session_batches(self) -> Batches:
        plan, options = self.plan, self._options
        sign_in = plan.sign_in()
        proxy = options.proxy.for_url(plan.url)
        through = f" through proxy {redact_url(proxy)}" if proxy else ""
        self._log(f"connecting to {redact_url(plan.url)}{through} as {sign_in.username}")
        self._state("connecting")
        # `proxy` only when there is one: a connect function that predates proxies (a
        # test's fake network) still fits.
        route = {"proxy": proxy} if proxy else {}
        opening = Opening(self._connect, plan.url, timeout=options.connect_timeout,
                          tls=options.tls, max_frame=options.max_packet, **route)
        try:
            # Empty batches while it opens: the consumer checks --timeout and the stop
            # switch on each, and neither waits out the connect timeout.
            while not opening.wait(POLL_SECONDS):
                if self.stopping.is_set():
                    raise Stopped(0)
                yield []
        except Stopped:
            opening.abandon()
            self._state("closed")
            return
        except BaseException:  # the generator closed, KeyboardInterrupt
            opening.abandon()
            raise
        transport = opening.result()
        session = ClientSession(
            client_id=sign_in.client_id, username=sign_in.username,
            password=sign_in.password, keepalive=plan.keepalive,
            max_packet=options.max_packet, auto_ack=False,
        )
        try:
            yield from self._converse(transport, session)
        finally:
            if session.connected:
                try:
                    session.disconnect(self._clock.now())
                    transport.send(session.data_to_send())
                except (ConnectFailed, OSError):
                    pass
            transport.close()
            self._state("closed")

    def _converse(self, transport: Transport, session: ClientSession) -> Batches:
        now = self._clock.now
        session.connect(now())
        transport.send(session.data_to_send())
        connect_by = now() + self._options.connect_timeout
        stale_after = self._options.stale_after
        heard: dict[str, float] = {}
        while not self.stopping.is_set():
            started = now()
            if not session.connected and started >= connect_by:
                raise ConnectFailed(f"no CONNACK from {redact_url(self.plan.url)} within "
                                    f"{self._options.connect_timeout:g} s")
            if heard and stale_after:
                self._check_stale(heard, started, stale_after)
            wait = POLL_SECONDS
            keepalive_due = session.next_deadline()
            if keepalive_due is not None:
                wait = min(wait, keepalive_due - started)
            data = transport.recv(max(wait, 0.001))
            batch: list[Message] = []
            received: list[Received] = []  # what each message of the batch acknowledges
            if data:
                try:
                    self._handle_events(session, session.receive_data(data, now()), heard,
                                        batch, received)
                except (MQTTError, CoinsuperError) as error:
                    if isinstance(error, ConnectionRefused):
                        error = SignInRefused(f"the broker refused the sign-in: {error}")
                    if batch:  # the messages before the fault are still written
                        yield batch
                    raise error from None
            # The consumer writes the batch before it asks for the next one: only then
            # do the acknowledgements of its messages (PUBACK, PUBREC) go out.
            try:
                yield batch
            except Stopped as stopped:
                # The goodbye follows the acknowledgements of what was written.
                self._acknowledge(session, received[:stopped.written])
                return
            self._acknowledge(session, received)
            session.tick(now())
            out = session.data_to_send()
            if out:
                transport.send(out)

    def _acknowledge(self, session: ClientSession, received: list[Received]) -> None:
        now = self._clock.now()
        for event in received:
            if event.qos:
                session.acknowledge(event, now)

    def _handle_events(self, session: ClientSession, events, heard: dict[str, float],
                       batch: list[Message], received: list[Received]) -> None:
        feeds = self._feeds
        recv_ns = self._clock.wall_ns()
        now = self._clock.now()
        for event in events:
            if type(event) is Received:
                feed = feeds.get(event.topic)
                if feed is None:
                    self._log(f"ignored a message on unsubscribed topic {event.topic}")
                    if event.qos:
                        session.acknowledge(event, now)
                    continue
                heard[event.topic] = now
                self._delivered = True
                batch.append(Message(feed, event.payload, recv_ns))
                received.append(event)
            elif type(event) is Repeated:
                self._on_repeated(event)
            elif type(event) is Connected:
                self._on_connected(session)
            elif type(event) is Subscribed:
                self._on_subscribed(event, heard)

    def _on_repeated(self, event: Repeated) -> None:
        if not self._repeats_logged:
            # A broker that never sends PUBREL makes every later message on that id a
            # repeat: said once per connection, then only counted.
            self._repeats_logged = True
            kind = "re-sent" if event.dup else "reused, without DUP,"
            self._log(f"the broker {kind} QoS 2 packet id {event.packet_id} before "
                      "releasing it with PUBREL: dropped as a repeat (MQTT 3.1.1 §4.3.3); "
                      "further repeats are counted, not logged")
        if self._options.on_repeat:
            self._options.on_repeat()

    def _check_stale(self, heard: dict[str, float], now: float, stale_after: float) -> None:
        for topic in self._timed_topics:
            if now - heard[topic] > stale_after:
                raise StaleStream(f"no message on {topic} for {stale_after:g} s")

    def _on_connected(self, session: ClientSession) -> None:
        self._state("connected")
        topics = [feed.topic for feed in self.plan.feeds]
        self._log(f"signed in; subscribing to {', '.join(topics)} at QoS {self.plan.qos}")
        session.subscribe(topics, self.plan.qos, self._clock.now())

    def _on_subscribed(self, event: Subscribed, heard: dict[str, float]) -> None:
        refused = [t for t, code in zip(event.topics, event.granted) if code == SUBACK_FAILURE]
        if refused:
            raise SubscriptionRefused(f"the broker refused the subscription to "
                                      f"{', '.join(refused)}")
        self._subscribed = True
        now = self._clock.now()
        for topic in self._timed_topics:  # the stale clock starts at the SUBACK
            heard.setdefault(topic, now)
        self._state("subscribed")
        self._log("subscribed (granted QoS " + ", ".join(map(str, event.granted)) + ")")


class Connections:
    """Every plan's connection, as one message source (see stream.Source).

    One connection runs in the consuming thread. Several run in threads, each handing
    over one batch at a time and waiting until the consumer asks for the next: so a
    message is acknowledged only once written, whichever connection it came on, and a
    fast broker behind a slow pipe holds its reading thread (TCP pushes back on the
    broker) instead of filling memory.
    """

    def __init__(self, plans: list[ConnectionPlan], options: RunOptions, *,
                 connect: Connect = open_transport, clock: Clock | None = None) -> None:
        self.stopping = options.stop if options.stop is not None else threading.Event()
        options = dataclasses.replace(options, stop=self.stopping)
        self.connections = [Connection(plan, options, connect=connect, clock=clock)
                            for plan in plans]

    def batches(self) -> Batches:
        if len(self.connections) == 1:
            yield from self.connections[0].batches()
            return
        inbox: queue.SimpleQueue = queue.SimpleQueue()
        threads = [threading.Thread(target=self._work, args=(c, inbox), daemon=True,
                                    name=f"coinsuper-connection-{i}")
                   for i, c in enumerate(self.connections, 1)]
        for thread in threads:
            thread.start()
        try:
            while not self.stopping.is_set():
                try:
                    handoff = inbox.get(timeout=POLL_SECONDS)
                except queue.Empty:
                    yield []
                    continue
                if isinstance(handoff, BaseException):
                    raise handoff
                try:
                    yield handoff.batch
                except Stopped as stopped:
                    handoff.written = stopped.written
                    return
                finally:
                    handoff.done.set()
        finally:
            self.stopping.set()
            for thread in threads:
                thread.join(timeout=1.0)

    def _work(self, connection: Connection, inbox: queue.SimpleQueue) -> None:
        batches = connection.batches()
        try:
            for batch in batches:
                if not batch:
                    continue  # the consuming thread keeps its own time
                handoff = _Handoff(batch)
                inbox.put(handoff)
                while not handoff.done.wait(POLL_SECONDS):
                    if self.stopping.is_set():
                        return
                if handoff.written is not None:  # the consumer stopped in this batch
                    batches.throw(Stopped(handoff.written))
                    return
        except StopIteration:
            pass  # the connection ended after acknowledging what was written
        except BaseException as error:  # handed to the consuming thread, which decides
            inbox.put(error)
        finally:
            batches.close()


class _Handoff:
    """One batch passed from a connection's thread to the consuming thread; `done` once
    it was written, or `written` of its messages were when the consumer stopped."""

    __slots__ = ("batch", "done", "written")

    def __init__(self, batch: list[Message]) -> None:
        self.batch = batch
        self.done = threading.Event()
        self.written: int | None = None
