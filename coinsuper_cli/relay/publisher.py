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
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import ConnectFailed, SignInRefused
from ..mqtt.errors import ConnectionRefused, MQTTError
from ..mqtt.session import ClientSession, Delivered
from ..runner import Clock, backoff_delay
from ..tls import TLSOptions
from ..transport import Transport, open_transport, redact_url, split_credentials
from .queue import Outgoing, RelayQueue

IDLE_WAIT = 0.1  # longest wait on an empty queue before the broker's side is read again
ACK_WAIT = 0.25  # longest wait for acknowledgements when the in-flight window is full
SEND_BATCH = 500  # messages encoded into one write


@dataclass(frozen=True, slots=True)
class TargetOptions:
    """Where and how the relay publishes.

    Args:
        url: the target broker (`check_url` passed it); user:password@ signs in.
        qos: the QoS of every publish (--to-qos).
        window: QoS 1 and 2 messages in flight at most, awaiting their acknowledgement.
        proxy: the proxy URL to reach the target through, or None.
        log: receives one line per connection event (-v); passwords never appear.
        on_state: receives (state, detail): "connecting", "connected", "reconnecting"
            (detail: why), "closed".
    """

    url: str
    qos: int = 0
    keepalive: int = 60
    tls: TLSOptions = TLSOptions()
    proxy: str | None = None
    connect_timeout: float = 10.0
    max_packet: int = 1024 * 1024
    window: int = 100
    log: Callable[[str], None] | None = None
    on_state: Callable[[str, str], None] | None = None


def random_client_id() -> str:
    """23 letters and digits: what every broker must accept (MQTT 3.1.1 §3.1.3-5)."""
    return "csrelay" + secrets.token_hex(8)


class Publisher:
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
        self.queue = queue
        self.options = options
        self.stopping = threading.Event()
        self._connect = connect
        self._clock = clock or Clock(sleep=self.stopping.wait)
        self._uniform = uniform
        self._wait = wait or queue.wait
        self.client_id = client_id or random_client_id()
        self.url, self._username, self._password = split_credentials(options.url)
        self.shown_url = redact_url(options.url)
        self.state = "connecting"
        self.error: BaseException | None = None  # why it gave up, if it did
        self.ready = threading.Event()  # first connection made, or given up
        self.published = 0  # messages written to the broker
        self.delivered = 0  # messages the broker acknowledged (QoS 0: written)
        self.reconnects = 0
        self._in_flight: dict[int, Outgoing] = {}  # this connection's, by packet id
        self._resend: list[Outgoing] = []  # to send first on the next connection
        self._ever_connected = False
        self._thread: threading.Thread | None = None

    # -- the outside world ------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Messages taken from the queue and not yet acknowledged."""
        return len(self._in_flight) + len(self._resend)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="coinsuper-relay-publisher",
                                        daemon=True)
        self._thread.start()

    def wait_ready(self, timeout: float | None = None) -> None:
        """Until the first connection is made; raises what made it fail."""
        self.ready.wait(timeout)
        self.check()

    def check(self) -> None:
        """Raises the error that made the publisher give up, if it did."""
        if self.error is not None:
            raise self.error

    def close(self, drain: float = 5.0, *, monotonic: Callable[[], float] = time.monotonic
              ) -> None:
        """Publishes what is still queued for up to `drain` seconds, then says goodbye."""
        deadline = monotonic() + drain
        thread = self._thread
        while (thread is not None and thread.is_alive() and self.state == "connected"
               and (len(self.queue) or self.pending) and monotonic() < deadline):
            self.stopping.wait(0.01)
        self.stopping.set()
        self.queue.wake()
        if thread is not None:
            thread.join(timeout=max(2.0, self.options.connect_timeout))

    # -- the loop ---------------------------------------------------------------------

    def _log(self, text: str) -> None:
        if self.options.log:
            self.options.log(text)

    def _state(self, state: str, detail: str = "") -> None:
        self.state = state
        if self.options.on_state:
            self.options.on_state(state, detail)

    def run(self) -> None:
        """Connects, publishes and reconnects until `stopping` is set, or gives up on a
        target that never accepted a first connection (`error` says why)."""
        attempt = 0
        try:
            while not self.stopping.is_set():
                delivered = self.delivered
                try:
                    self._connection()
                    return
                except (ConnectFailed, SignInRefused, MQTTError) as error:
                    if not self._ever_connected:
                        # A wrong URL, password or certificate: retrying would hide it.
                        if isinstance(error, SignInRefused):
                            self.error = error
                        else:
                            self.error = ConnectFailed(f"relay target: {error}")
                            self.error.__cause__ = error
                        return
                    attempt = 1 if self.delivered > delivered else attempt + 1
                    self._back_off(attempt, error)
        except BaseException as error:  # a bug: handed to the relay, which reports it
            self.error = error
        finally:
            self.ready.set()
            self._state("closed")

    def _back_off(self, attempt: int, error: BaseException) -> None:
        delay = backoff_delay(attempt, self._uniform)
        self.reconnects += 1
        self._state("reconnecting", str(error))
        self._log(f"relay → {self.shown_url} lost ({error}); reconnecting in {delay:.1f} s")
        clock = self._clock
        until = clock.now() + delay
        while not self.stopping.is_set() and (left := until - clock.now()) > 0:
            clock.sleep(min(left, ACK_WAIT))

    def _connection(self) -> None:
        options = self.options
        self._state("connecting")
        self._log(f"relay → {self.shown_url}: connecting as client {self.client_id}")
        route = {"proxy": options.proxy} if options.proxy else {}
        transport = self._connect(self.url, timeout=options.connect_timeout,
                                  tls=options.tls, max_frame=options.max_packet, **route)
        session = ClientSession(client_id=self.client_id, username=self._username,
                                password=self._password, keepalive=options.keepalive,
                                clean_session=True, max_packet=options.max_packet)
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
        self._ever_connected = True
        self._state("connected")
        self._log(f"relay → {self.shown_url} connected")
        self.ready.set()

    def _publish_loop(self, transport: Transport, session: ClientSession) -> None:
        clock, queue, qos = self._clock, self.queue, self.options.qos
        window = self.options.window if qos else 0
        while not self.stopping.is_set():
            self._send_some(transport, session)
            now = clock.now()
            if qos and len(self._in_flight) >= window:
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
                        if self._in_flight.pop(event.packet_id, None) is not None:
                            self.delivered += 1
            session.tick(clock.now())
            out = session.data_to_send()
            if out:
                transport.send(out)

    def _send_some(self, transport: Transport, session: ClientSession) -> None:
        """Publishes the messages to resend, then from the queue, within the window."""
        qos, now = self.options.qos, self._clock.now()
        if qos:
            room = self.options.window - len(self._in_flight)
            if room <= 0:
                return
        else:
            room = SEND_BATCH
        resend = bool(self._resend)
        if resend:
            items, self._resend = self._resend[:room], self._resend[room:]
        else:
            items = self.queue.take(room)
        if not items:
            return
        publish, in_flight = session.publish, self._in_flight
        if qos:
            for item in items:
                packet_id = publish(item.topic, item.payload, qos, now, retain=item.retain,
                                    dup=resend)
                in_flight[packet_id] = item
        else:
            for item in items:
                publish(item.topic, item.payload, 0, now, retain=item.retain)
        try:
            transport.send(session.data_to_send())
        except ConnectFailed:
            if not qos:  # QoS 1 and 2 ones are in flight, and go again from there
                self._resend[:0] = items
            raise
        self.published += len(items)
        if not qos:
            self.delivered += len(items)
