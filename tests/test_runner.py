"""The runner's policy with a fake clock and a fake transport (milliseconds, no sockets):
backoff, retries, the first-connection rule (the rule alone: test_reconnect.py), stale
detection, acknowledgement after writing, deadlines and the stop switch under a flood;
and the stop switch once over real sockets."""
import threading
import time

import pytest
from fakes import FakeClock, FakeNetwork, FakeTransport, plan_for, publishes
from peer import ScriptedPeer

from coinsuper_cli.api.stream import Limits, Sink, pump
from coinsuper_cli.errors import ConnectFailed, Finished, SignInRefused, SubscriptionRefused
from coinsuper_cli.mqtt.packets import Disconnect, PubAck, Publish, PubRec, Subscribe
from coinsuper_cli.net.runner import Connection, Connections, RunOptions

TOPIC = "env/api/ws/v1/market/tickers/BTC_USD"


def next_batch(batches, within: float = 10.0):
    """The next batch that holds messages; a failure, not a hang, if none comes."""
    deadline = time.monotonic() + within
    for batch in batches:
        if batch:
            return batch
        assert time.monotonic() < deadline, "no message came"
    raise AssertionError("the source ended")


class Collect(Sink):
    def __init__(self, clock: FakeClock | None = None, cost: float = 0.0) -> None:
        self.written: list[bytes] = []
        self.flushes = 0
        self._clock, self._cost = clock, cost

    def write(self, message, records):
        self.written.append(message.payload)
        if self._clock is not None:
            self._clock.sleep(self._cost)

    def flush(self):
        self.flushes += 1


def connection(clock: FakeClock, network: FakeNetwork, plan=None, **options) -> Connection:
    options.setdefault("stale_after", None)
    return Connection(plan or plan_for(TOPIC), RunOptions(**options), connect=network,
                      clock=clock.clock, uniform=lambda low, high: high)


def run(conn: Connection, clock: FakeClock, *, timeout=None, count=None) -> Collect:
    """Pumps `conn` into a Collect sink; reaching `count` is the expected end."""
    sink = Collect()
    try:
        pump(conn, sink, Limits(count, timeout), clock=clock.now)
    except Finished as finished:
        if count is None or str(finished) != f"{count} records":
            raise
    return sink


def test_a_lost_link_is_restored_after_the_backoff_and_delivery_resumes():
    clock = FakeClock()
    first = FakeTransport(clock, pushes=(publishes(TOPIC, b"a"),), then="close")
    second = FakeTransport(clock, pushes=(publishes(TOPIC, b"b"),), then="silent")
    network = FakeNetwork(first, second)
    log = []
    sink = run(connection(clock, network, log=log.append), clock, count=2)
    assert sink.written == [b"a", b"b"]
    # One reconnect, 0.5 s after the loss (the first backoff; jitter at its top).
    assert len(network.calls) == 2 and network.calls[1] - network.calls[0] == pytest.approx(0.5)
    assert any("reconnecting in 0.5 s" in line for line in log)
    assert first.closed


def test_retries_give_up_with_exit_4_after_that_many_failed_attempts():
    clock = FakeClock()
    lost = FakeTransport(clock, pushes=(publishes(TOPIC, b"a"),), then="close")
    refused = [ConnectFailed("could not connect: refused")] * 3
    network = FakeNetwork(lost, *refused)
    with pytest.raises(ConnectFailed, match="gave up after 2 reconnect attempts"):
        run(connection(clock, network, retries=2), clock)
    # Two attempts, 0.5 s then 1 s apart; the second failure gives up.
    gaps = [b - a for a, b in zip(network.calls, network.calls[1:])]
    assert gaps == pytest.approx([0.5, 1.0])


def test_retries_0_never_reconnects():
    clock = FakeClock()
    network = FakeNetwork(FakeTransport(clock, pushes=(publishes(TOPIC, b"a"),),
                                        then="close"), FakeTransport(clock))
    with pytest.raises(ConnectFailed, match="gave up after 0 reconnect attempts"):
        run(connection(clock, network, retries=0), clock)
    assert len(network.calls) == 1


def test_attempts_start_again_from_the_first_backoff_once_messages_flow():
    clock = FakeClock()
    network = FakeNetwork(*(FakeTransport(clock, pushes=(publishes(TOPIC, b"x"),),
                                          then="close") for _ in range(4)))
    with pytest.raises(ConnectFailed, match="gave up after 1 reconnect attempts"):
        run(connection(clock, network, retries=1), clock)
    # Every link delivered before it was lost, so no attempt counted against --retries
    # until the network ran out of transports.
    gaps = [b - a for a, b in zip(network.calls, network.calls[1:])]
    assert gaps == pytest.approx([0.5, 0.5, 0.5, 0.5])


def test_a_first_connection_that_fails_is_not_retried():
    clock = FakeClock()
    network = FakeNetwork(ConnectFailed("could not connect to fake: refused"),
                          FakeTransport(clock))
    with pytest.raises(ConnectFailed, match="refused"):
        run(connection(clock, network), clock)
    assert len(network.items) == 1  # the second transport was never asked for


def test_a_broker_that_hangs_up_before_the_suback_is_a_connection_failure():
    clock = FakeClock()
    transport = FakeTransport(clock, suback=False, then="close")
    with pytest.raises(ConnectFailed, match="hung up before the subscription was confirmed"):
        run(connection(clock, FakeNetwork(transport)), clock)


def test_no_connack_within_the_connect_timeout():
    clock = FakeClock()
    transport = FakeTransport(clock, answer=False)
    with pytest.raises(ConnectFailed, match="no CONNACK .* within 10 s"):
        run(connection(clock, FakeNetwork(transport)), clock)
    assert 10 <= clock.t - 1000 < 10.5


def test_refusals_are_not_retried():
    clock = FakeClock()
    with pytest.raises(SignInRefused, match="refused the sign-in"):
        run(connection(clock, FakeNetwork(FakeTransport(clock, connack=5))), clock)
    with pytest.raises(SubscriptionRefused, match=TOPIC):
        run(connection(clock, FakeNetwork(FakeTransport(clock, granted=(0x80,)))), clock)


def test_a_silent_market_topic_is_a_dead_link_after_stale_after():
    clock = FakeClock()
    network = FakeNetwork(FakeTransport(clock, pushes=(publishes(TOPIC, b"a"),)),
                          FakeTransport(clock, pushes=(publishes(TOPIC, b"b"),)))
    log = []
    sink = run(connection(clock, network, stale_after=15.0, log=log.append), clock, count=2)
    assert sink.written == [b"a", b"b"]
    assert any(f"no message on {TOPIC} for 15 s" in line for line in log)
    assert 15 < network.calls[1] - network.calls[0] < 16


def test_a_quiet_private_channel_is_not_stale():
    clock = FakeClock()
    topic = "env/api/ws/personal/v1/asset/change/a@b.c"
    plan = plan_for(topic, "asset")
    transport = FakeTransport(clock)
    with pytest.raises(Finished):
        run(connection(clock, FakeNetwork(transport), plan, stale_after=15.0), clock,
            timeout=120)
    assert clock.t - 1000 >= 120 and transport.of_kind(Disconnect)  # never reconnected


def test_timeout_holds_while_reconnecting():
    clock = FakeClock()
    network = FakeNetwork(FakeTransport(clock, pushes=(publishes(TOPIC, b"a"),),
                                        then="close"),
                          *[ConnectFailed("refused")] * 50)
    with pytest.raises(Finished, match="timeout"):
        run(connection(clock, network), clock, timeout=20)
    assert 20 <= clock.t - 1000 < 20.3


def test_timeout_is_checked_on_every_message_of_a_flood():
    clock = FakeClock()
    flood = publishes(TOPIC, *[b"m"] * 1000)
    transport = FakeTransport(clock, pushes=(flood,), then="flood")
    sink = Collect(clock, cost=0.01)  # writing takes 10 ms a message
    with pytest.raises(Finished, match="timeout"):
        pump(connection(clock, FakeNetwork(transport)), sink, Limits(timeout=1.0),
             clock=clock.now)
    assert 95 <= len(sink.written) <= 105  # ended inside the first chunk of 1000


def test_messages_are_acknowledged_only_after_they_are_written():
    clock = FakeClock()
    chunk = publishes(TOPIC, b"one", b"two", qos=1)
    transport = FakeTransport(clock, pushes=(chunk, publishes(TOPIC, b"3", qos=2,
                                                              first_id=3)))
    batches = connection(clock, FakeNetwork(transport), plan_for(TOPIC, qos=2)).batches()
    batch = next_batch(batches)
    assert [m.payload for m in batch] == [b"one", b"two"]
    assert transport.of_kind(PubAck) == []  # handed out, not yet written
    batch = next_batch(batches)  # asking for more: the first batch is written
    assert [p.packet_id for p in transport.of_kind(PubAck)] == [1, 2]
    assert transport.of_kind(PubRec) == []
    batches.close()  # stopped before the QoS 2 message was written: not acknowledged
    assert transport.of_kind(PubRec) == [] and transport.of_kind(Disconnect) == [Disconnect()]


def test_count_reached_mid_batch_acknowledges_what_was_written_then_says_goodbye():
    clock = FakeClock()
    transport = FakeTransport(clock, pushes=(publishes(TOPIC, b"1", b"2", b"3", qos=1),))
    sink = run(connection(clock, FakeNetwork(transport), plan_for(TOPIC, qos=1)), clock,
               count=2)
    assert sink.written == [b"1", b"2"]
    assert [type(p).__name__ for p in transport.sent[2:]] == ["PubAck", "PubAck",
                                                              "Disconnect"]
    assert [p.packet_id for p in transport.of_kind(PubAck)] == [1, 2]


def test_several_connections_acknowledge_what_was_written_when_count_is_reached():
    clock = FakeClock()
    transports = [FakeTransport(clock, pushes=(publishes("env/t", b"1", b"2", b"3", qos=1),),
                                threaded=True) for _ in range(2)]
    source = Connections([plan_for("env/t", qos=1) for _ in range(2)],
                         RunOptions(stale_after=None), connect=FakeNetwork(*transports))
    sink = Collect()
    with pytest.raises(Finished):
        pump(source, sink, Limits(count=2))
    acked = sorted(len(t.of_kind(PubAck)) for t in transports)
    assert acked == [0, 2]
    # Each link that got as far as subscribing says goodbye (the other may not have).
    assert all(t.of_kind(Disconnect) for t in transports if t.of_kind(Subscribe))
    assert all(t.closed for t in transports if t.sent)


def test_messages_before_a_protocol_error_in_the_same_chunk_are_still_delivered():
    clock = FakeClock()
    chunk = publishes(TOPIC, b"kept") + b"\x00\x00"  # packet type 0 is reserved
    transport = FakeTransport(clock, pushes=(chunk,))
    sink, warnings = Collect(), []
    with pytest.raises(ConnectFailed, match="gave up after 0 reconnect attempts: .*type 0"):
        pump(connection(clock, FakeNetwork(transport), retries=0, warn=warnings.append),
             sink, clock=clock.now)
    assert sink.written == [b"kept"] and sink.flushes >= 1
    assert len(warnings) == 1 and warnings[0].startswith("protocol error from the broker")


# Several connections: real threads, so a real clock, but no sockets.

def test_several_connections_acknowledge_only_what_was_written():
    clock = FakeClock()
    # Which thread gets which transport is a race: one topic for both, and the payload
    # says which transport sent it.
    transports = [FakeTransport(clock, pushes=(publishes("env/t", b"x%d" % i, qos=1),),
                                threaded=True) for i in range(2)]
    network = FakeNetwork(*transports)
    source = Connections([plan_for("env/t", qos=1) for _ in range(2)],
                         RunOptions(stale_after=None), connect=network)
    batches = source.batches()
    batch = next_batch(batches)
    holder = transports[int(batch[0].payload[-1:])]
    holder.sent_event.clear()
    assert not holder.sent_event.wait(0.3)  # the worker waits for the write
    assert holder.of_kind(PubAck) == []
    next_batch(batches)
    assert holder.sent_event.wait(5) and [p.packet_id for p in holder.of_kind(PubAck)] == [1]
    batches.close()


def test_several_connections_under_a_flood_hold_memory_and_the_timeout():
    clock = FakeClock()
    # Which thread gets which transport is a race: one topic for all keeps them equal.
    transports = [FakeTransport(clock, pushes=(publishes("env/t", *[b"m" * 100] * 500),),
                                then="flood", threaded=True) for _ in range(3)]
    source = Connections([plan_for("env/t", qos=1) for _ in range(3)],
                         RunOptions(stale_after=None), connect=FakeNetwork(*transports))

    class Slow(Collect):
        batches = 0

        def write(self, message, records):
            super().write(message, records)
            time.sleep(0.0005)

        def flush(self):
            Slow.batches += 1

    sink = Slow()
    started = time.monotonic()
    with pytest.raises(Finished, match="timeout"):
        pump(source, sink, Limits(timeout=0.5))
    assert time.monotonic() - started < 2.0
    # Each reading thread waits for its batch to be written before reading more: the
    # chunks read are the chunks written, plus at most one in hand per connection.
    read = sum(t.recvs for t in transports) - 3 * 2  # less CONNACK and SUBACK reads
    assert read <= Slow.batches + 3 + 1


def test_the_stop_switch_ends_every_connection_with_a_goodbye():
    goodbyes = []

    def script(peer):
        peer.send(Publish(peer.sign_in(), b"hello"))
        goodbyes.append(peer.wait_closed())

    peers = [ScriptedPeer(script), ScriptedPeer(script)]
    stop = threading.Event()
    sink = Collect()
    plans = [plan_for(f"env/t{i}", url=p.url) for i, p in enumerate(peers)]
    source = Connections(plans, RunOptions(stop=stop))
    runner = threading.Thread(target=pump, args=(source, sink), kwargs={"stop": stop})
    runner.start()
    deadline = time.monotonic() + 10
    while len(sink.written) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    stopped_at = time.monotonic()
    stop.set()
    runner.join(timeout=5)
    assert not runner.is_alive() and time.monotonic() - stopped_at < 1.5
    for peer in peers:
        peer.close()
    assert sink.written == [b"hello", b"hello"]
    assert goodbyes == [[Disconnect()], [Disconnect()]]


# -- a connect that takes long: --timeout and the stop switch do not wait for it -------

class SlowConnect:
    """A connect function that blocks until released, then hands out a transport that
    records being closed."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.closed = threading.Event()

    def __call__(self, url, **kwargs):
        self.release.wait(10)
        closed = self.closed

        class Opened:
            def close(self):
                closed.set()
        return Opened()


def test_timeout_ends_the_command_while_the_connect_blocks():
    """A proxy, TLS or a WebSocket handshake that hangs: --timeout still ends the
    command, and the connection that opens after that is closed, not leaked."""
    slow = SlowConnect()
    conn = Connection(plan_for(TOPIC), RunOptions(stale_after=None), connect=slow)
    started = time.monotonic()
    with pytest.raises(Finished):
        pump(conn, Collect(), Limits(timeout=0.3))
    assert time.monotonic() - started < 2.0
    slow.release.set()
    assert slow.closed.wait(5), "the abandoned transport was never closed"


def test_the_stop_switch_ends_a_connection_while_its_connect_blocks():
    slow = SlowConnect()
    stop = threading.Event()
    conn = Connection(plan_for(TOPIC), RunOptions(stale_after=None, stop=stop),
                      connect=slow)
    threading.Timer(0.2, stop.set).start()
    started = time.monotonic()
    pump(conn, Collect(), stop=stop)
    assert time.monotonic() - started < 2.0
    slow.release.set()
    assert slow.closed.wait(5)


def test_a_connect_error_comes_through_from_its_thread():
    def refused(url, **kwargs):
        raise ConnectFailed("could not connect to fake: refused")
    conn = Connection(plan_for(TOPIC), RunOptions(stale_after=None), connect=refused)
    with pytest.raises(ConnectFailed, match="refused"):
        pump(conn, Collect(), Limits(timeout=5))
