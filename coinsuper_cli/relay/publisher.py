# The downstream side of the relay: one MQTT connection to the target broker that
# publishes what the queue holds, and reconnects with backoff on its own while the
# upstream keeps going. The blocking loop only moves bytes; the protocol is the
# project's own sans-I/O ClientSession and codec, over the same transports
# (open_transport: mqtt, mqtts, ws, wss, proxies, TLS, client certificates) as the
# upstream. Not paho-mqtt: one codec and one transport stack for both sides, and no
# extra runtime dependency. The connect function, the clock, the jitter and the idle
# wait are passed in, so the whole policy runs in tests with fakes and no sleep.
#
# Guarantees (MQTT 3.1.1 §4.3, §4.4). Within one connection: QoS 1 at least once,
# QoS 2 exactly once. The relay signs in with a random client id and a clean session
# (a relay that restarts must not inherit a stale session, nor may two relays share
# one), so a broker that restarts, or a link that drops, forgets the QoS 1 and 2
# exchanges in flight. Those messages, and a QoS 0 batch whose write failed, are sent
# again first on the next connection, QoS 1 and 2 with DUP set: across a reconnect
# every message the queue handed over arrives at least once, and the few in flight
# at the cut may arrive twice.
from __future__ import annotations

import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import ConnectFailed, SignInRefused
from ..mqtt import DEFAULT_MAX_PACKET
from ..mqtt.errors import AcknowledgementTimeout, ConnectionRefused, MQTTError
from ..mqtt.session import ClientSession, Delivered
from ..net.reconnect import NEVER_CONNECTED, GiveUp, Lost, ReconnectPolicy, ReconnectState
from ..net.runner import Clock
from ..net.tls import TLSOptions
from ..net.transport import Transport, open_transport
from ..urls import redact_url, split_credentials
from .queue import Outgoing, RelayQueue, fitting, size
from .target import TargetStatus, TargetThread

IDLE_WAIT = 0.1  # longest wait on an empty queue before the broker's side is read again
ACK_WAIT = 0.25  # longest wait for acknowledgements when the in-flight window is full
SEND_BATCH = 500  # messages encoded into one write
SEND_BATCH_BYTES = 1024 * 1024  # and bytes: the encoded write is a copy of its payloads


@dataclass(frozen=True, slots=True)
class TargetOptions:
    """Where and how the relay publishes.

    Args:
        url: the target broker (`check_url` passed it); user:password@ signs in.
        qos: the QoS of every publish (--to-qos).
        window: QoS 1 and 2 messages in flight at most, awaiting their acknowledgement.
        window_bytes: and bytes (by queue.size) in flight at most: 100 messages of 1 MB
            are 100 MB held until the broker acknowledges them.
        ack_timeout: with publishes in flight and none acknowledged for this long, the
            broker is taken as stuck (it may still answer pings): say so, reconnect.
        proxy: the proxy URL to reach the target through, or None.
        log: receives one line per connection event (-v); passwords never appear.
        warn: receives what the user must hear about the target, once each (a QoS
            downgrade, a broker that stopped acknowledging).
        on_state: receives (state, detail): "connecting", "connected", "reconnecting"
            (detail: why), "closed".
    """

    url: str
    qos: int = 0
    keepalive: int = 60
    tls: TLSOptions = TLSOptions()
    proxy: str | None = None
    connect_timeout: float = 10.0
    max_packet: int = DEFAULT_MAX_PACKET
    window: int = 100
    window_bytes: int = 8 * 1024 * 1024
    ack_timeout: float = 30.0
    log: Callable[[str], None] | None = None
    warn: Callable[[str], None] | None = None
    on_state: Callable[[str, str], None] | None = None


def random_client_id() -> str:
    """23 letters and digits: what every broker must accept (MQTT 3.1.1 §3.1.3-5)."""
    return "csrelay" + secrets.token_hex(8)


class Publisher(TargetThread):
    """Publishes the queue into the target broker until closed, reconnecting as needed.

    Args:
        connect: opens a transport, like the runner's (`proxy=` only when there is one).
        clock: time; its sleep should end early once `stopping` is set.
        wait: waits on the queue: `wait(seconds) -> bool` (something queued).
        client_id: default: a new random one.
    """

    def __init__(self, queue: RelayQueue, options: TargetOptions, *,
                 connect: Callable[..., Transport] = open_transport,
                 clock: Clock | None = None,
                 uniform: Callable[[float, float], float] = random.uniform,
                 wait: Callable[[float], bool] | None = None,
                 client_id: str | None = None) -> None:
        super().__init__(queue, redact_url(options.url), log=options.log,
                         warn=options.warn,
                         connected_join=max(2.0, options.connect_timeout))
        self.thread_name = "coinsuper-relay-publisher"
        self.options = options
        self._connect = connect
        self._clock = clock or Clock(sleep=self.stopping.wait)
        # Reconnects forever once connected; a first connection that fails is final.
        self._policy = ReconnectPolicy(uniform=uniform)
        self._wait = wait or queue.wait
        self.client_id = client_id or random_client_id()
        self.url, self._username, self._password = split_credentials(options.url)
        self.delivered = 0  # messages the broker acknowledged (QoS 0: written)
        self.downgraded = False  # the broker answered QoS 2 with PUBACK: QoS 1 it is
        self._in_flight: dict[int, Outgoing] = {}  # this connection's, by packet id
        self._in_flight_bytes = 0
        self._resend: list[Outgoing] = []  # in flight at a cut: first on the next one
        self._unsent: list[Outgoing] = []  # a QoS 0 batch whose write failed
        self._connected = False  # this connection's CONNACK came

    # -- the outside world ------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Messages taken from the queue and not yet acknowledged."""
        return len(self._in_flight) + len(self._resend) + len(self._unsent)

    def status(self) -> TargetStatus:
        """Its counts and state now, as the relay's target protocol gives them."""
        return TargetStatus(self.shown_url, state=self.state, published=self.published,
                            delivered=self.delivered, pending=self.pending,
                            reconnects=self.reconnects, downgraded=self.downgraded)

    # -- the loop ---------------------------------------------------------------------

    def _state(self, state: str, detail: str = "") -> None:
        self.state = state
        if self.options.on_state:
            self.options.on_state(state, detail)

    def run(self) -> None:
        """Connects, publishes and reconnects until `stopping` is set, or gives up on a
        target that never accepted a first connection (`error` says why)."""
        reconnect = ReconnectState()
        try:
            while not self.stopping.is_set():
                delivered = self.delivered
                self._connected = False
                try:
                    self._connection()
                    return
                except (ConnectFailed, SignInRefused, MQTTError) as error:
                    # Got going at its CONNACK; carried once the broker took a message.
                    reconnect, decision = self._policy.after(
                        reconnect, Lost(self._connected, self.delivered > delivered),
                        self._clock.now())
                    if isinstance(decision, GiveUp):
                        # Never connected: a wrong URL, password or certificate.
                        if isinstance(error, SignInRefused) and \
                                decision.reason == NEVER_CONNECTED:
                            self.error = error
                        else:
                            gave_up = ("" if decision.reason == NEVER_CONNECTED else
                                       f"gave up after {decision.retries} reconnect "
                                       "attempts: ")
                            self.error = ConnectFailed(f"relay target: {gave_up}{error}")
                            self.error.__cause__ = error
                        return
                    if isinstance(error, AcknowledgementTimeout):
                        self._warn(f"relay: the broker at {self.shown_url} stopped "
                                   f"acknowledging ({error}); reconnecting, they go again")
                    self._back_off(decision.delay, decision.at, error)
        except BaseException as error:  # a bug: handed to the relay, which reports it
            self.error = error
        finally:
            self.ready.set()
            self._state("closed")

    def _back_off(self, delay: float, until: float, error: BaseException) -> None:
        self.reconnects += 1
        self._state("reconnecting", str(error))
        self._log(f"relay → {self.shown_url} lost ({error}); reconnecting in {delay:.1f} s")
        clock = self._clock
        while not self.stopping.is_set() and (left := until - clock.now()) > 0:
            clock.sleep(min(left, ACK_WAIT))

    def _connection(self) -> None:
        options = self.options
        self._state("connecting")
        through = f" through proxy {redact_url(options.proxy)}" if options.proxy else ""
        self._log(f"relay → {self.shown_url}: connecting{through} as client "
                  f"{self.client_id}")
        route = {"proxy": options.proxy} if options.proxy else {}
        transport = self._connect(self.url, timeout=options.connect_timeout,
                                  tls=options.tls, max_frame=options.max_packet, **route)
        session = ClientSession(client_id=self.client_id, username=self._username,
                                password=self._password, keepalive=options.keepalive,
                                clean_session=True, max_packet=options.max_packet,
                                ack_timeout=options.ack_timeout if options.qos else None)
        try:
            self._sign_in(transport, session)
            self._publish_loop(transport, session)
            session.disconnect(self._clock.now())
            try:
                transport.send(session.data_to_send())
            except ConnectFailed:
                pass  # gone already: nothing was left to say
        finally:
            # What the broker did not acknowledge goes again on the next connection.
            self._resend[:0] = self._in_flight.values()
            self._in_flight.clear()
            self._in_flight_bytes = 0
            transport.close()

    def _sign_in(self, transport: Transport, session: ClientSession) -> None:
        now = self._clock.now
        session.connect(now())
        transport.send(session.data_to_send())
        connect_by = now() + self.options.connect_timeout
        while not session.connected:
            if now() >= connect_by or self.stopping.is_set():
                raise ConnectFailed(f"no CONNACK from {self.shown_url} within "
                                    f"{self.options.connect_timeout:g} s")
            data = transport.recv(ACK_WAIT)
            if data:
                try:
                    for event in session.receive_data(data, now()):
                        if type(event) is Delivered:  # not before CONNACK, but harmless
                            continue
                except ConnectionRefused as error:
                    raise SignInRefused(f"the target broker {self.shown_url} refused the "
                                        f"sign-in: {error}") from None
        self._connected = True
        self._state("connected")
        self._log(f"relay → {self.shown_url} connected")
        self.ready.set()

    def _publish_loop(self, transport: Transport, session: ClientSession) -> None:
        clock, queue, qos = self._clock, self.queue, self.options.qos
        while not self.stopping.is_set():
            self._send_some(transport, session)
            now = clock.now()
            if qos and not self._room():
                wait = ACK_WAIT  # nothing to do until the broker acknowledges
            elif not len(queue):
                idle = IDLE_WAIT
                due = session.next_deadline()
                if due is not None:
                    idle = min(idle, due - now)
                if idle > 0:
                    self._wait(idle)
                wait = 0.001
            else:
                wait = 0.001
            data = transport.recv(wait)
            if data:
                for event in session.receive_data(data, clock.now()):
                    if type(event) is Delivered:
                        self._delivered(event)
            session.tick(clock.now())
            out = session.data_to_send()
            if out:
                transport.send(out)

    def _delivered(self, event: Delivered) -> None:
        item = self._in_flight.pop(event.packet_id, None)
        if item is None:
            return
        self.delivered += 1
        self._in_flight_bytes -= size(item)
        if event.downgraded and not self.downgraded:
            self.downgraded = True
            self._warn(f"relay: the broker at {self.shown_url} answers QoS 2 publishes with "
                       "PUBACK: it downgraded QoS 2 to 1 (RabbitMQ grants at most 1), so "
                       "a message may arrive twice after a reconnect")

    def _room(self) -> tuple[int, int]:
        """(messages, bytes) the in-flight window has room for; (0, 0) when full."""
        options = self.options
        most = options.window - len(self._in_flight)
        max_bytes = options.window_bytes - self._in_flight_bytes
        return (most, max_bytes) if most > 0 and max_bytes > 0 else (0, 0)

    def _send_some(self, transport: Transport, session: ClientSession) -> None:
        """Publishes the messages to send again, then from the queue, within the window
        (messages and bytes), in writes of at most SEND_BATCH_BYTES."""
        qos, now = self.options.qos, self._clock.now()
        if qos:
            most, max_bytes = self._room()
            if not most:
                return
        else:
            most, max_bytes = SEND_BATCH, SEND_BATCH_BYTES
        max_bytes = min(max_bytes, SEND_BATCH_BYTES)
        # Sent again: the in-flight ones of a lost connection (counted as published
        # already, DUP set, §3.3.1.1), or a QoS 0 batch whose write failed (not counted).
        dup = bool(self._resend)
        again = self._resend if dup else self._unsent
        # A message larger than the window's room goes alone, once the window is empty.
        alone = not self._in_flight
        if again:
            n = fitting(again, most, max_bytes, at_least_one=alone)
            items = again[:n]
            del again[:n]
        else:
            items = self.queue.take(most, max_bytes, at_least_one=alone)
        if not items:
            return
        publish, in_flight = session.publish, self._in_flight
        if qos:
            for item in items:
                packet_id = publish(item.topic, item.payload, qos, now, retain=item.retain,
                                    dup=dup)
                in_flight[packet_id] = item
                self._in_flight_bytes += size(item)
        else:
            for item in items:
                publish(item.topic, item.payload, 0, now, retain=item.retain)
        try:
            transport.send(session.data_to_send())
        except ConnectFailed:
            if not qos:  # QoS 1 and 2 ones are in flight, and go again from there
                self._unsent[:0] = items
            raise
        if not dup:  # a message counts once however often it is written
            self.published += len(items)
        if not qos:
            self.delivered += len(items)
