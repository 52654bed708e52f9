"""The relay's publisher with a fake broker and a fake clock: windows, acknowledgements,
keepalive, reconnects with backoff and what is sent again after one; no socket and no
sleep."""
from __future__ import annotations

import pytest
from fakes import FakeClock

from coinsuper_cli.errors import ConnectFailed, SignInRefused
from coinsuper_cli.mqtt.codec import Decoder, encode
from coinsuper_cli.mqtt.packets import (ConnAck, Connect, Disconnect, PingReq, PingResp,
                                        PubAck, PubComp, Publish, PubRec, PubRel)
from coinsuper_cli.errors import ConnectionClosed
from coinsuper_cli.urls import split_credentials
from coinsuper_cli.relay.publisher import Publisher, TargetOptions
from coinsuper_cli.relay.queue import Outgoing, RelayQueue


class FakeBroker:
    """A target broker behind the transport interface: answers CONNECT, PINGREQ and the
    publish handshakes (unless told not to), and can hang up after some publishes."""

    def __init__(self, clock: FakeClock, *, connack: int = 0, ack: bool = True,
                 pong: bool = True, hang_up_after: int | None = None,
                 qos2_puback: bool = False) -> None:
        """`qos2_puback`: answer QoS 2 with PUBACK, as RabbitMQ does (it grants QoS 1)."""
        self.clock, self.connack, self.ack, self.pong = clock, connack, ack, pong
        self.qos2_puback = qos2_puback
        self.hang_up_after = hang_up_after
        self.sent: list = []
        self.unacked_peak = 0
        self.closed = False
        self._unacked: set[int] = set()
        self._inbox: list[bytes] = []
        self._decoder = Decoder.for_server()

    def publishes(self) -> list[Publish]:
        return [p for p in self.sent if isinstance(p, Publish)]

    def send(self, data: bytes) -> None:
        for packet in self._decoder.packets(data):
            self.sent.append(packet)
            kind = type(packet)
            if kind is Connect:
                self._inbox.append(encode(ConnAck(self.connack)))
            elif kind is PingReq and self.pong:
                self._inbox.append(encode(PingResp()))
            elif kind is Publish and packet.qos:
                self._unacked.add(packet.packet_id)
                self.unacked_peak = max(self.unacked_peak, len(self._unacked))
                if self.ack:
                    answer = PubAck if packet.qos == 1 or self.qos2_puback else PubRec
                    self._inbox.append(encode(answer(packet.packet_id)))
            elif kind is PubRel:
                self._inbox.append(encode(PubComp(packet.packet_id)))

    def recv(self, timeout: float) -> bytes | None:
        if self.clock.now() > 1000 + 3600:  # a stalled publisher fails, never hangs
            raise AssertionError("an hour on the fake clock: the publisher stalled")
        if self.hang_up_after is not None and len(self.publishes()) >= self.hang_up_after:
            raise ConnectionClosed("the broker closed the connection")
        if self._inbox:
            data = b"".join(self._inbox)
            self._inbox.clear()
            for packet in Decoder.for_client().packets(data):
                if isinstance(packet, (PubAck, PubComp)):
                    self._unacked.discard(packet.packet_id)
            return data
        self.clock.sleep(timeout)
        return None

    def close(self) -> None:
        self.closed = True


class Network:
    """The connect function: each call the next broker, or an exception to raise."""

    def __init__(self, clock: FakeClock, *items) -> None:
        self.clock, self.items, self.calls = clock, list(items), []

    def __call__(self, url, *, timeout, tls, max_frame, **route):
        self.calls.append((url, self.clock.now()))
        self.route = route
        if not self.items:
            raise ConnectFailed("could not connect: no more fake brokers")
        item = self.items.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item


def items(n: int, start: int = 0) -> list[Outgoing]:
    return [Outgoing(f"t/{i % 3}", b"payload %d" % i, i % 2 == 0) for i in range(start, n)]


def publisher_for(clock, network, queue, *, url="mqtt://broker", until=None, **options):
    """A publisher whose idle wait moves the fake clock, and which stops once
    `until(publisher)` holds (checked whenever it would wait)."""
    log: list[str] = []
    states: list[str] = []

    def wait(seconds: float) -> bool:
        if until is not None and until(publisher):
            publisher.stopping.set()
        clock.sleep(seconds)
        return bool(len(queue))

    warnings: list[str] = []
    publisher = Publisher(queue, TargetOptions(url, log=log.append, warn=warnings.append,
                                               on_state=lambda s, d: states.append(s),
                                               **options),
                          connect=network, clock=clock.clock, uniform=lambda a, b: b,
                          wait=wait, client_id="relay-test")
    publisher.log, publisher.states, publisher.warnings = log, states, warnings
    return publisher


def stop_when_done(total: int):
    return lambda p: p.delivered >= total and not p.pending and not len(p.queue)


def test_qos0_publishes_everything_in_order_with_retain_flags_and_says_goodbye():
    clock = FakeClock()
    broker = FakeBroker(clock)
    queue = RelayQueue(5000)
    queue.put_many(items(1200))
    publisher = publisher_for(clock, Network(clock, broker), queue,
                              url="mqtt://alice:won%40der@broker:1883",
                              until=stop_when_done(1200))
    publisher.run()
    got = broker.publishes()
    assert [(p.topic, p.payload, p.retain) for p in got] == \
        [(i.topic, i.payload, i.retain) for i in items(1200)]
    assert all(p.qos == 0 and not p.dup for p in got)
    connect = broker.sent[0]
    assert (connect.client_id, connect.username, connect.password) == \
        ("relay-test", "alice", b"won@der")
    assert connect.clean_session
    assert isinstance(broker.sent[-1], Disconnect) and broker.closed
    assert publisher.published == publisher.delivered == 1200
    assert publisher.states[0] == "connecting" and "connected" in publisher.states
    assert publisher.log[-1] == "relay → mqtt://***@broker:1883 connected"


@pytest.mark.parametrize("qos", [1, 2])
def test_qos1_and_2_keep_the_window_and_count_what_the_broker_acknowledged(qos):
    clock = FakeClock()
    broker = FakeBroker(clock)
    queue = RelayQueue(5000)
    queue.put_many(items(450))
    publisher = publisher_for(clock, Network(clock, broker), queue, qos=qos, window=40,
                              until=stop_when_done(450))
    publisher.run()
    got = broker.publishes()
    assert [p.payload for p in got] == [i.payload for i in items(450)]
    assert {p.qos for p in got} == {qos}
    assert broker.unacked_peak <= 40
    assert publisher.delivered == 450 and publisher.pending == 0
    if qos == 2:  # §4.3.3: every PUBREC answered by PUBREL
        assert len([p for p in broker.sent if isinstance(p, PubRel)]) == 450


def test_without_acknowledgements_the_window_stops_the_flow():
    clock = FakeClock()
    broker = FakeBroker(clock, ack=False, pong=True)
    queue = RelayQueue(5000)
    queue.put_many(items(100))
    calls = []

    def until(p):
        calls.append(1)
        return len(calls) > 5
    publisher = publisher_for(clock, Network(clock, broker), queue, qos=1, window=10,
                              until=until)
    # The window is full, so the publisher waits on the broker, not on the queue:
    # stop it from the broker's side after a while.
    original = broker.recv

    def recv(timeout):
        if clock.now() > 1010:
            publisher.stopping.set()
        return original(timeout)
    broker.recv = recv
    publisher.run()
    assert len(broker.publishes()) == 10
    assert publisher.delivered == 0 and publisher.pending == 10
    assert len(queue) == 90


def test_after_a_lost_link_in_flight_messages_go_again_first_with_dup_after_backoff():
    clock = FakeClock()
    first = FakeBroker(clock, ack=False, hang_up_after=20)
    second = FakeBroker(clock)
    network = Network(clock, first, second)
    queue = RelayQueue(5000)
    queue.put_many(items(100))
    publisher = publisher_for(clock, network, queue, qos=1, window=20,
                              until=stop_when_done(100))
    publisher.run()
    lost = first.publishes()
    assert len(lost) == 20 and not any(p.dup for p in lost)
    again = second.publishes()
    assert [p.payload for p in again[:20]] == [p.payload for p in lost]
    assert all(p.dup for p in again[:20]) and not any(p.dup for p in again[20:])
    assert [p.payload for p in again] == [i.payload for i in items(100)]
    # The policy's first delay with the jitter at its top: 0.5 s after the loss.
    (_, t1), (_, t2) = network.calls
    assert t2 - t1 >= 0.5
    assert any("lost (the broker closed the connection); reconnecting in 0.5 s" in line
               for line in publisher.log)
    assert publisher.reconnects == 1 and "reconnecting" in publisher.states
    assert second.sent[0].client_id == first.sent[0].client_id


def test_while_the_target_is_down_it_keeps_trying_with_growing_delays():
    clock = FakeClock()
    down = [ConnectFailed("could not connect: refused")] * 4
    network = Network(clock, FakeBroker(clock, hang_up_after=1), *down, FakeBroker(clock))
    queue = RelayQueue(5000)
    queue.put_many(items(10))
    publisher = publisher_for(clock, network, queue,
                              until=lambda p: len(network.calls) == 6)
    publisher.run()
    times = [t for _, t in network.calls]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert gaps[:5] == pytest.approx([0.5, 1.0, 2.0, 4.0, 8.0], abs=0.3)
    assert publisher.delivered == 10


def test_a_target_that_never_accepted_a_connection_is_not_retried():
    clock = FakeClock()
    network = Network(clock, ConnectFailed("could not connect to mqtt://broker: refused"))
    publisher = publisher_for(clock, network, RelayQueue(10))
    publisher.run()
    assert isinstance(publisher.error, ConnectFailed)
    assert "relay target" in str(publisher.error) and len(network.calls) == 1
    with pytest.raises(ConnectFailed):
        publisher.wait_ready(0)


def test_a_refused_sign_in_is_exit_3_and_names_the_target_without_password():
    clock = FakeClock()
    publisher = publisher_for(clock, Network(clock, FakeBroker(clock, connack=5)),
                              RelayQueue(10), url="mqtt://bob:hunter2@broker")
    publisher.run()
    assert isinstance(publisher.error, SignInRefused)
    assert "hunter2" not in str(publisher.error) and "not authorized" in str(publisher.error)
    assert not any("hunter2" in line for line in publisher.log)


def test_a_quiet_link_is_pinged_and_one_without_pingresp_is_reconnected():
    clock = FakeClock()
    silent = FakeBroker(clock, pong=False)
    fine = FakeBroker(clock)
    queue = RelayQueue(10)
    publisher = publisher_for(clock, Network(clock, silent, fine), queue, keepalive=5,
                              until=lambda p: p.reconnects and clock.now() > 1030)
    publisher.run()
    assert [type(p) for p in silent.sent].count(PingReq) == 1
    assert publisher.reconnects == 1
    assert any("no PINGRESP" in line for line in publisher.log)
    assert PingReq in [type(p) for p in fine.sent]


def test_split_credentials():
    assert split_credentials("ws://u:p%3Aw@h:9/mqtt") == ("ws://h:9/mqtt", "u", "p:w")
    assert split_credentials("mqtt://h") == ("mqtt://h", None, None)
    assert split_credentials("mqtt://u@h") == ("mqtt://h", "u", None)


def test_a_broker_that_answers_qos2_with_puback_completes_them_with_one_warning():
    """RabbitMQ: QoS 2 granted as 1. The old code ignored those PUBACKs and stalled for
    ever after the first window, still saying "connected"."""
    clock = FakeClock()
    broker = FakeBroker(clock, qos2_puback=True)
    queue = RelayQueue(5000)
    queue.put_many(items(450))
    publisher = publisher_for(clock, Network(clock, broker), queue, qos=2, window=40,
                              until=stop_when_done(450))
    publisher.run()
    assert [p.payload for p in broker.publishes()] == [i.payload for i in items(450)]
    assert publisher.delivered == 450 and publisher.pending == 0
    assert not any(isinstance(p, PubRel) for p in broker.sent)
    assert publisher.downgraded and publisher.reconnects == 0
    assert len(publisher.warnings) == 1
    assert "mqtt://broker answers QoS 2 publishes with PUBACK: it downgraded QoS 2 to 1" \
        in publisher.warnings[0]
    assert publisher.warnings[0] not in publisher.log  # -v writes where warnings go


def test_a_broker_that_stops_acknowledging_is_named_and_left_for_another_connection():
    """Pings answered, publishes not: after ack_timeout, one line and a reconnect that
    sends what was in flight again, DUP set."""
    clock = FakeClock()
    stuck = FakeBroker(clock, ack=False, pong=True)
    fine = FakeBroker(clock)
    queue = RelayQueue(5000)
    queue.put_many(items(100))
    publisher = publisher_for(clock, Network(clock, stuck, fine), queue, qos=1, window=10,
                              keepalive=5, ack_timeout=20, until=stop_when_done(100))
    publisher.run()
    assert len(stuck.publishes()) == 10 and PingReq in [type(p) for p in stuck.sent]
    assert publisher.reconnects == 1
    assert publisher.warnings == [
        "relay: the broker at mqtt://broker stopped acknowledging (no acknowledgement of "
        "10 publishes in flight within 20 s); reconnecting, they go again"]
    again = fine.publishes()
    assert all(p.dup for p in again[:10]) and not any(p.dup for p in again[10:])
    assert [p.payload for p in again] == [i.payload for i in items(100)]
    # Each message counted once as published, though the first ten were written twice.
    assert publisher.published == publisher.delivered == 100


def test_the_window_is_bounded_in_bytes_too():
    clock = FakeClock()
    broker = FakeBroker(clock, ack=False)
    queue = RelayQueue(5000, 10**9)
    queue.put_many([Outgoing("t", bytes(100_000), True)] * 50)
    publisher = publisher_for(clock, Network(clock, broker), queue, qos=1, window=100,
                              window_bytes=1_000_000, ack_timeout=1e9)
    original = broker.recv

    def recv(timeout):
        if clock.now() > 1010:
            publisher.stopping.set()
        return original(timeout)
    broker.recv = recv
    publisher.run()
    assert len(broker.publishes()) == 9  # 9 × (100,000 + overhead) ≤ 1,000,000
    assert len(queue) == 41


def test_qos0_writes_are_bounded_in_bytes():
    clock = FakeClock()
    broker = FakeBroker(clock)
    writes = []
    original = broker.send
    broker.send = lambda data: (writes.append(len(data)), original(data))
    queue = RelayQueue(5000, 10**9)
    queue.put_many([Outgoing("t", bytes(300_000), True)] * 20)
    publisher = publisher_for(clock, Network(clock, broker), queue,
                              until=stop_when_done(20))
    publisher.run()
    assert publisher.delivered == 20 and max(writes) < 1.2 * 1024 * 1024


def test_verbose_names_the_proxy_to_the_target_without_its_password():
    clock = FakeClock()
    network = Network(clock, FakeBroker(clock))
    queue = RelayQueue(10)
    queue.put_many(items(3))
    publisher = publisher_for(clock, network, queue, proxy="socks5://me:pw@127.0.0.1:1080",
                              until=stop_when_done(3))
    publisher.run()
    assert network.route == {"proxy": "socks5://me:pw@127.0.0.1:1080"}
    assert publisher.log[0] == ("relay → mqtt://broker: connecting through proxy "
                                "socks5://***@127.0.0.1:1080 as client relay-test")
