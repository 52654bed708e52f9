"""The relay's parts without a network: the bounded queue, what the sink publishes
(topics, retain flags, --normalized records), the summary line, the session's publish
handshakes, and the command line's checks."""
from __future__ import annotations

import json

import pytest
from conftest import clean_env, run_coinsuper

from coinsuper_cli.api.channels import Feed, feed_of
from coinsuper_cli.api.stream import ListSource, Message, pump
from coinsuper_cli.mqtt.codec import Decoder, encode
from coinsuper_cli.mqtt.packets import ConnAck, PubAck, PubComp, Publish, PubRec, PubRel
from coinsuper_cli.mqtt.session import ClientSession, Delivered
from coinsuper_cli.relay.queue import Outgoing, RelayQueue
from coinsuper_cli.relay.sink import RelaySink, normalized_topic
from coinsuper_cli.relay.status import RelayStatus, Summaries, summary_line

TRADES = "exchange_ha_prod_hk/api/ws/v1/market/tickers/BTC_USD"
DEPTH = "exchange_ha_prod_hk/api/ws/v1/market/depth/BTC_USD"
FILLS = "exchange_ha_prod_hk/ws/personal/v1/trade/change/a@b.c"
TRADE_PUSH = (b'[{"symbol":"BTC/USD","price":"6597.50","quantity":"0.1253","action":"SELL",'
              b'"timestamp":1795730091000},{"symbol":"BTC/USD","price":"6598.10",'
              b'"quantity":"0.5","action":"BUY","timestamp":1795730092000}]')


# -- the queue ------------------------------------------------------------------------

def test_the_queue_keeps_the_newest_and_counts_what_it_dropped():
    queue = RelayQueue(3)
    queue.put_many(Outgoing("t", b"%d" % i, False) for i in range(5))
    assert queue.dropped == 2 and queue.added == 5 and len(queue) == 3
    assert [o.payload for o in queue.take(10)] == [b"2", b"3", b"4"]
    assert queue.take(10) == [] and not queue.wait(0)


def test_the_queue_hands_out_at_most_what_is_asked():
    queue = RelayQueue(100)
    queue.put_many(Outgoing("t", b"%d" % i, False) for i in range(10))
    assert [o.payload for o in queue.take(4)] == [b"0", b"1", b"2", b"3"]
    assert len(queue) == 6 and queue.wait(0)


def test_the_queue_is_bounded_in_bytes_and_drops_the_oldest_past_them():
    from coinsuper_cli.relay.queue import OVERHEAD, size

    mb = 1024 * 1024
    queue = RelayQueue(5000, 10 * mb)
    big = [Outgoing("t", b"%03d" % i + bytes(mb - 3), True) for i in range(25)]
    queue.put_many(big[:12])
    queue.put_many(big[12:])
    assert size(big[0]) == mb + 1 + OVERHEAD
    assert len(queue) == 9 and queue.dropped == 16 and queue.added == 25
    assert queue.bytes == 9 * size(big[0]) <= 10 * mb
    taken = queue.take(100, 3 * mb)  # a take is bounded in bytes too
    assert [o.payload[:3] for o in taken] == [b"016", b"017"]
    assert queue.bytes == 7 * size(big[0])
    assert len(queue.take(100, 10, at_least_one=False)) == 0
    assert [o.payload[:3] for o in queue.take(100, 10)] == [b"018"]  # alone, larger
    queue.take(100)
    assert queue.bytes == 0 and len(queue) == 0
    # The newest stays even when it alone is over the bound; tiny messages count too.
    queue.put_many([Outgoing("t", bytes(20 * mb), True)])
    assert len(queue) == 1 and queue.dropped == 16
    small = RelayQueue(5000, 100 * (OVERHEAD + 2))
    small.put_many(Outgoing("t", b"x", False) for _ in range(150))
    assert len(small) == 100 and small.dropped == 50


# -- the sink -------------------------------------------------------------------------

RECV_NS = 1_795_730_093_000_000_000


def message(topic: str, payload: bytes) -> Message:
    return Message(feed_of(topic), payload, RECV_NS)


def test_payloads_go_byte_for_byte_on_their_topic_market_retained_private_not():
    queue = RelayQueue(100)
    sink = RelaySink(queue)
    odd = b'{"not": "what the channel documents", "\xff": 1}'
    batch = [message(TRADES, TRADE_PUSH), message(DEPTH, odd), message(FILLS, b"[]")]
    pump(ListSource([batch]), sink)
    assert queue.take(10) == [Outgoing(TRADES, TRADE_PUSH, True, RECV_NS),
                              Outgoing(DEPTH, odd, True, RECV_NS),
                              Outgoing(FILLS, b"[]", False, RECV_NS)]
    assert sink.received == 3


def test_normalized_adds_each_record_once_on_its_own_topic():
    queue = RelayQueue(100)
    warnings: list[str] = []
    sink = RelaySink(queue, normalized=True, warn=warnings.append)
    push = message(TRADES, TRADE_PUSH)  # one feed, one de-duplicating parser
    batch = [push, push, message(DEPTH, b"garbage")]
    pump(ListSource([batch]), sink)
    out = queue.take(100)
    assert out[0] == Outgoing(TRADES, TRADE_PUSH, True, RECV_NS)
    records = [o for o in out if o.topic.startswith("coinsuper/v1/")]
    assert [o.topic for o in records] == ["coinsuper/v1/trade/BTC_USD"] * 2  # each once
    first = min((json.loads(o.payload) for o in records), key=lambda r: r["price"])
    assert first == {"channel": "trade", "recv": 1795730093000, "symbol": "BTC_USD",
                     "ts": 1795730091000, "price": "6597.50", "qty": "0.1253",
                     "side": "sell"}
    assert all(o.retain and o.recv_ns == RECV_NS for o in records)
    assert Outgoing(DEPTH, b"garbage", True, RECV_NS) in out  # relayed, though unreadable
    assert len(warnings) == 1 and sink.unreadable == 1


def test_derived_records_are_published_and_a_failing_derivation_loses_nothing_else():
    """relay --markets --normalized: what `derive` makes of a message's records is
    published after them; when it refuses them (a number out of any market's range)
    the payload and its own records still go, and it is counted."""
    from decimal import Decimal

    from coinsuper_cli.api.records import Ticker
    from coinsuper_cli.errors import PayloadError

    seen = []
    one = Decimal(1)
    tick = Ticker("BTC_USD", 1, one, one, one, one, one, one, one, one, one, one)

    def derive(records, recv_ms):
        seen.append(recv_ms)
        if len(seen) == 2:
            raise PayloadError("a best price 1e+40 is out of any market's range")
        return [tick]

    queue = RelayQueue(100)
    warnings: list[str] = []
    sink = RelaySink(queue, normalized=True, warn=warnings.append, derive=derive,
                     derive_topics=frozenset({TRADES}))
    pump(ListSource([[message(TRADES, TRADE_PUSH), message(TRADES, TRADE_PUSH)]]), sink)
    out = queue.take(100)
    assert [o.topic for o in out if not o.topic.startswith("coinsuper/")] == [TRADES] * 2
    assert any(o.topic == "coinsuper/v1/trade/BTC_USD" for o in out)
    assert [o.topic for o in out].count("coinsuper/v1/ticker/BTC_USD") == 1
    assert seen == [RECV_NS // 1_000_000] * 2 and sink.unreadable == 1
    assert len(warnings) == 1 and "out of any market's range" in warnings[0]


def test_normalized_topics_of_private_records_and_hostile_names():
    class Asset:
        channel, currency = "asset", "BTC"

    class Fill:
        channel, symbol = "fill", "ETH_BTC"

    class Odd:
        channel, currency = "asset", "A/#"

    assert normalized_topic(Asset()) == "coinsuper/v1/asset/BTC"
    assert normalized_topic(Fill()) == "coinsuper/v1/fill/ETH_BTC"
    assert normalized_topic(Odd()) == "coinsuper/v1/asset"


def test_count_counts_messages_received_even_with_normalized():
    queue = RelayQueue(100)
    sink = RelaySink(queue, normalized=True)
    from coinsuper_cli.api.stream import Limits
    from coinsuper_cli.errors import Finished

    with pytest.raises(Finished):
        pump(ListSource([[message(TRADES, TRADE_PUSH)] * 5]), sink, Limits(count=2))
    assert sink.received == 2


# -- the status -------------------------------------------------------------------------

def test_summary_line_says_rates_queue_drops_and_each_side():
    before = RelayStatus("mqtt://h:1883", received=100, published=100)
    now = RelayStatus("mqtt://h:1883", received=1300, published=1000, queued=300,
                      buffer=5000, dropped=7, upstream=("subscribed",) * 3 + ("reconnecting",),
                      downstream="reconnecting", upstream_lost=1, downstream_lost=2)
    assert summary_line(now, before, 60.0) == (
        "relay: in 1,300 (20.0/s), out 1,000 (15.0/s), queue 300/5,000, dropped 7; "
        "upstream 3 subscribed · 1 reconnecting (lost 1×); mqtt://h:1883 reconnecting "
        "(lost 2×)")
    rabbit = RelayStatus("mqtt://h:1883", downstream="connected", downgraded=True)
    assert summary_line(rabbit, None, 60.0).endswith(
        "; mqtt://h:1883 connected, QoS 2 downgraded to 1")


def test_summaries_come_once_a_minute():
    t = [0.0]
    lines: list[str] = []
    summaries = Summaries(lambda: RelayStatus("mqtt://h", received=int(t[0])), lines.append,
                          clock=lambda: t[0])
    for t[0] in (1.0, 30.0, 59.9, 60.0, 61.0, 119.0, 120.5):
        summaries.maybe_write()
    assert len(lines) == 2
    assert lines[0].startswith("relay: in 60 (1.0/s)")


# -- the session's side of publishing ----------------------------------------------------

def connected_session() -> ClientSession:
    session = ClientSession(client_id="c")
    session.connect(0.0)
    list(session.receive_data(encode(ConnAck(0)), 0.0))
    session.data_to_send()
    return session


def sent(session: ClientSession) -> list:
    return list(Decoder.for_server().packets(session.data_to_send()))


def test_qos1_publish_is_delivered_on_puback():
    session = connected_session()
    packet_id = session.publish("t", b"x", 1, 0.0, retain=True)
    assert sent(session) == [Publish("t", b"x", 1, True, False, packet_id)]
    assert session.in_flight == 1
    assert list(session.receive_data(encode(PubAck(packet_id)), 0.0)) == [Delivered(packet_id)]
    assert session.in_flight == 0
    assert list(session.receive_data(encode(PubAck(packet_id)), 0.0)) == []  # a repeat


def test_qos2_publish_pubrec_gets_pubrel_and_pubcomp_delivers():
    session = connected_session()
    packet_id = session.publish("t", b"x", 2, 0.0, dup=True)
    assert sent(session)[0].dup
    for _ in range(2):  # a repeated PUBREC gets PUBREL again (§4.3.3)
        assert list(session.receive_data(encode(PubRec(packet_id)), 0.0)) == []
        assert sent(session) == [PubRel(packet_id)]
    assert list(session.receive_data(encode(PubComp(packet_id)), 0.0)) == [Delivered(packet_id)]
    assert session.in_flight == 0


def test_packet_ids_in_flight_are_not_reused():
    session = connected_session()
    ids = {session.publish("t", b"x", 1, 0.0) for _ in range(65535)}
    assert len(ids) == 65535
    list(session.receive_data(encode(PubAck(7)), 0.0))
    assert session.publish("t", b"y", 1, 0.0) == 7


# -- the command line -------------------------------------------------------------------

@pytest.mark.parametrize("args, says", [
    (["--to", "http://h"], "Invalid value for '--to': unsupported target URL 'http://h'"),
    (["--to", "redis+unix://h"], "Invalid value for '--to': unsupported target URL"),
    (["--to", "redis://:s3cret@h:0"], "Invalid value for '--to': bad redis URL"),
    (["--to", "redis://:s3cret@h:99999"], "Invalid value for '--to': bad host or port"),
    (["--to", "redis://"], "Invalid value for '--to': bad redis URL 'redis://'"),
    (["--to", "redis://:s3cret@h/zero"], "Invalid value for '--to': bad database"),
    (["--to", "redis://h/0?password=s3cret"], "Invalid value for '--to': redis URL"),
    # "bad host or port" where urlsplit refuses [zz] itself (3.11.4+), else ours
    (["--to", "rediss://[zz]:6379"], "Invalid value for '--to': bad host"),
    (["--to", "redis://h x"], "Invalid value for '--to': redis URL 'redis://h x' holds"),
    (["--to", "redis://h", "--to-qos", "1"], "--to-qos applies to MQTT targets"),
    (["--to", "redis://h", "--max-len", "0"], "--max-len"),
    (["--to", "mqtt://h", "--max-len", "10"], "--max-len applies to redis:// targets only"),
    (["--to", "mqtt://u:s3cret@h:0"], "bad port"),
    (["--to", "mqtt://h", "--channels", "asset"], "unknown channel 'asset'"),
    (["--to", "mqtt://h", "--format", "jsonl"], "--format jsonl does not apply to relay"),
    (["--to", "mqtt://h", "--fields", "price"], "--fields does not apply to relay"),
    (["--to", "mqtt://h", "--template", "{price}"], "--template does not apply to relay"),
    (["--to", "mqtt://h", "--format", "live"], "--format live needs a terminal"),
    (["--to", "mqtt://h", "--private"], "private channels need credentials"),
    (["--to", "mqtt://h", "--to-qos", "3"], "--to-qos"),
    (["--to", "mqtt://h", "--buffer", "0"], "--buffer"),
    ([], "Missing option '--to'"),
])
def test_bad_usage_is_exit_2_in_one_line_without_the_password(args, says):
    result = run_coinsuper(["relay", "BTC_USD", *args])
    err = result.stderr.decode()
    assert result.returncode == 2, err
    assert says in err and "s3cret" not in err and len(err.strip().splitlines()) == 1


def test_a_redis_target_without_the_redis_package_says_how_to_install_it(tmp_path):
    shadow = tmp_path / "redis"
    shadow.mkdir()
    (shadow / "__init__.py").write_text("raise ImportError('no redis here')\n")
    result = run_coinsuper(["relay", "BTC_USD", "--sandbox", "--to", "redis://127.0.0.1"],
                           env=clean_env(PYTHONPATH=str(tmp_path)))
    err = result.stderr.decode()
    assert result.returncode == 2, err
    assert err == ("coinsuper: --to redis:// needs the redis package: "
                   "pip install 'coinsuper[redis]'\n")


def test_topics_relay_names_the_redis_target_its_trimming_and_no_password():
    result = run_coinsuper(["topics", "relay", "BTC_USD", "--channels", "trade", "--to",
                            "redis://:s3cret@127.0.0.1:6380/2", "--max-len", "5000"])
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr
    assert "relay to   redis://***@127.0.0.1:6380/2: a stream per topic, MAXLEN ~ 5,000" \
        in out and "s3cret" not in out


def test_topics_relay_prints_the_plan_and_the_target_without_password():
    result = run_coinsuper(["topics", "relay", "BTC_USD", "ETH_BTC", "--channels",
                            "trade,depth", "--to", "mqtts://u:s3cret@broker", "--to-qos", "1"])
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr
    assert out.count("connection ") == 4
    assert "relay to   mqtts://***@broker at QoS 1" in out and "s3cret" not in out


def test_the_status_panel_shows_rates_queue_drops_and_each_side():
    import io

    from rich.console import Console

    from coinsuper_cli.live.relay_panel import relay_panel
    from coinsuper_cli.relay.status import RelayStatus

    status = RelayStatus("mqtt://broker:1883", received=1234, published=1200, queued=34,
                         buffer=5000, dropped=7, pending=2,
                         upstream=("subscribed", "reconnecting"), downstream="connected",
                         upstream_lost=1)
    console = Console(file=io.StringIO(), width=100, color_system=None)
    console.print(relay_panel(status, 12.5, 11.0, note="relay → \x1b[2J lost"))
    screen = console.file.getvalue()
    for text in ("12.5/s", "1,234 received", "1 subscribed · 1 reconnecting", "lost 1×",
                 "11.0/s", "1,200 published", "mqtt://broker:1883 connected",
                 "34 of 5,000, 2 in flight", "dropped 7", "relay → \\x1b[2J lost"):
        assert text in screen, (text, screen)
