"""A fake clock and a fake transport, so that the runner's policy (backoff, retries,
stale detection, acknowledgements, deadlines) is tested in milliseconds, with no socket
and no sleep."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable

from coinsuper_cli.api.channels import Feed
from coinsuper_cli.api.exchange import public_sign_in
from coinsuper_cli.errors import ConnectFailed
from coinsuper_cli.mqtt.codec import Decoder, encode
from coinsuper_cli.mqtt.packets import ConnAck, Connect, Publish, SubAck, Subscribe
from coinsuper_cli.net.plans import ConnectionPlan
from coinsuper_cli.net.runner import Clock
from coinsuper_cli.errors import ConnectionClosed


class FakeClock:
    """Monotonic time that moves only when something sleeps or waits on it."""

    def __init__(self, start: float = 1000.0) -> None:
        self.t = start
        self._lock = threading.Lock()

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.t += max(seconds, 0)

    def wall_ns(self) -> int:
        return int(self.t * 1e9)

    @property
    def clock(self) -> Clock:
        return Clock(self.now, self.sleep, self.wall_ns)


class FakeTransport:
    """A broker seen through the transport interface. It answers CONNECT and SUBSCRIBE
    itself, then hands out `pushes` (bytes, one chunk per recv) and finally does
    `then`: "silent" (every recv waits its timeout on the clock), "close" (the broker
    hangs up) or "flood" (the last push again, for ever).

    Args:
        connack: the CONNACK return code.
        granted: SUBACK codes; default: the QoS asked for.
        answer: False: CONNECT gets no answer at all.
        suback: False: SUBSCRIBE gets no answer.
        threaded: the runner's threads use it with the real clock: a silent recv
            really waits (a little), instead of spinning.
    """

    def __init__(self, clock: FakeClock, *, connack: int = 0, granted=None,
                 pushes: tuple[bytes, ...] = (), then: str = "silent",
                 answer: bool = True, suback: bool = True, threaded: bool = False) -> None:
        self.clock = clock
        self.connack, self.granted, self.answer = connack, granted, answer
        self.suback = suback
        self.threaded = threaded
        self.pushes = list(pushes)
        self.then = then
        self.sent: list = []
        self.closed = False
        self.recvs = 0
        self.sent_event = threading.Event()
        self._decoder = Decoder.for_server()
        self._inbox: list[bytes] = []
        self._subscribed = False
        self._last = b""

    def send(self, data: bytes) -> None:
        for packet in self._decoder.packets(data):
            self.sent.append(packet)
            if isinstance(packet, Connect) and self.answer:
                self._inbox.append(encode(ConnAck(self.connack)))
            elif isinstance(packet, Subscribe) and self.suback:
                granted = self.granted or tuple(q for _, q in packet.topics)
                self._inbox.append(encode(SubAck(packet.packet_id, tuple(granted))))
                self._subscribed = True
        self.sent_event.set()

    def recv(self, timeout: float) -> bytes | None:
        self.recvs += 1
        if self._inbox:
            return self._inbox.pop(0)
        if self._subscribed and self.pushes:
            self._last = self.pushes.pop(0)
            return self._last
        if self._subscribed and self.then == "flood" and self._last:
            return self._last
        if self.then == "close":
            raise ConnectionClosed("the broker closed the connection")
        if self.threaded:
            time.sleep(min(timeout, 0.01))
        else:
            self.clock.sleep(timeout)
        return None

    def close(self) -> None:
        self.closed = True

    def of_kind(self, kind) -> list:
        return [p for p in self.sent if isinstance(p, kind)]


class FakeNetwork:
    """The runner's connect function: each call takes the next item, a FakeTransport
    or an exception to raise (a refused connection)."""

    def __init__(self, *items) -> None:
        self.items = list(items)
        self.calls: list[float] = []
        self.clock: FakeClock | None = next(
            (i.clock for i in items if isinstance(i, FakeTransport)), None)

    def __call__(self, url: str, *, timeout: float, tls, max_frame: int) -> FakeTransport:
        if self.clock is not None:
            self.calls.append(self.clock.now())
        if not self.items:
            raise ConnectFailed("could not connect: no more fake transports")
        item = self.items.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item


def publishes(topic: str, *payloads: bytes, qos: int = 0, first_id: int = 1) -> bytes:
    """One chunk holding a PUBLISH per payload."""
    return b"".join(encode(Publish(topic, p, qos, packet_id=first_id + i if qos else None))
                    for i, p in enumerate(payloads))


def plan_for(topic: str, channel: str = "trade", *,
             parse: Callable[[bytes], list] | None = None, qos: int = 0,
             url: str = "mqtt://fake") -> ConnectionPlan:
    """A plan whose records are the payloads themselves, unless `parse` says otherwise."""
    feed = Feed(topic, channel, "BTC_USD", parse or (lambda payload: [payload]))
    return ConnectionPlan(url, lambda: public_sign_in(topic), (feed,), qos)
