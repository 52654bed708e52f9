"""Payload parsing against the exchange's own samples: exact digits, typed records,
de-duplication, and bad payloads that must raise PayloadError and nothing else."""
import json
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from coinsuper_cli.api.channels import new_parser
from coinsuper_cli.api.payloads import (load_json, parse_assets, parse_book, parse_depth,
                                        parse_fill, parse_kline, parse_order, parse_trades)
from coinsuper_cli.api.records import Trade
from coinsuper_cli.api.trades import TradeDeduplicator
from coinsuper_cli.errors import PayloadError

SAMPLES = Path(__file__).parent / "samples"


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes().strip()


def test_depth_sample():
    depth = parse_depth(load_json(sample("depth.json")))
    assert depth.symbol == "BTC_USD"
    assert depth.best_ask == Decimal("6674.89") and depth.best_bid == Decimal("6674.56")
    assert depth.depth_percent == Decimal("0.01")
    assert len(depth.asks) == 50 and len(depth.bids) == 50
    assert depth.asks[0] == (Decimal("6681.39"), Decimal("25.1470"))
    assert str(depth.asks[0][1]) == "25.1470"  # trailing zero kept
    assert depth.bids[0] == (Decimal("6674.72"), Decimal("0.0000"))
    assert depth.bids[-1] == (Decimal("6347.65"), Decimal("181.3822"))


def test_book_sample():
    book = parse_book(load_json(sample("orderbook.json")))
    assert (book.symbol, book.ts, book.step) == ("BTC_USD", 1532686075803, Decimal("0.01"))
    assert book.asks[0] == (Decimal("6674.89"), Decimal("0.0524"))
    assert book.bids[0] == (Decimal("6674.56"), Decimal("0.8490"))
    assert len(book.asks) == len(book.bids) == 15


def test_levels_keep_the_text_received_and_give_decimals():
    depth = parse_depth(load_json(sample("depth.json")))
    assert depth.asks.text[0] == ("6681.39", "25.1470")
    assert depth.asks[:2] == ((Decimal("6681.39"), Decimal("25.1470")),
                              (Decimal("6688.06"), Decimal("50.7548")))


def test_level_numbers_that_are_not_plain_text_come_out_as_decimals_wrote_them():
    data = json.loads(sample("orderbook.json"), parse_float=Decimal)
    data["asks"][:3] = [{"limitPrice": "007.50", "quantity": 2},
                        {"limitPrice": Decimal("1E+2"), "quantity": Decimal("5E-8")},
                        {"limitPrice": "-0", "quantity": "0.0000001"}]
    book = parse_book(data)
    assert book.asks.text[:3] == (("7.50", "2"), ("100", "0.00000005"), ("-0", "0.0000001"))
    assert book.asks[1] == (Decimal("1E+2"), Decimal("5E-8"))
    assert str(book.asks[1][0]) == "1E+2"  # the Decimal as parsed
    assert book.asks.text[3:] == parse_book(load_json(sample("orderbook.json"))).asks.text[3:]


@pytest.mark.parametrize("point, message", [
    ({"quantity": "1"}, "missing field 'price'"),
    ({"price": "1"}, "missing field 'quantity'"),
    ({"price": "1", "quantity": "1.5e3"}, "field 'quantity' is not a decimal"),
    ({"price": True, "quantity": "1"}, "field 'price' is not a decimal"),
    (["1", "2"], "expected an object holding 'price'"),
    ("1", "expected an object holding 'price'"),
])
def test_a_bad_depth_level_names_its_field(point, message):
    data = json.loads(sample("depth.json"))
    data["bids"][7] = point
    with pytest.raises(PayloadError, match=message):
        parse_depth(data)


def test_kline_sample():
    k = parse_kline(load_json(sample("kline.json")), 60000)
    assert (k.symbol, k.interval, k.ts) == ("BTC_USD", "1m", 1532686140000)
    assert (k.open, k.high, k.low, k.close) == tuple(
        map(Decimal, ("6616.40", "6616.48", "6616.40", "6616.45")))
    assert str(k.volume) == "31.76239814"
    assert parse_kline(load_json(sample("kline.json")), 300000).interval == "5m"


def test_trades_sample_oldest_first():
    trades = parse_trades(load_json(sample("tickers.json")))
    assert len(trades) == 20
    assert trades[0] == Trade("BTC_USD", 1531118165685, Decimal("6674.49"), Decimal("0.1612"),
                              "buy")
    assert trades[-1].ts == 1532623321348
    assert [t.ts for t in trades] == sorted(t.ts for t in trades)
    assert {t.side for t in trades} == {"buy", "sell"}


def test_asset_sample_keeps_all_thirty_decimals():
    assets = parse_assets(load_json(sample("asset_change.json")))
    assert [a.currency for a in assets] == ["BTC", "USD"]
    btc = assets[0]
    assert format(btc.total, "f") == "1.306763122563248000000000000000"
    assert format(btc.available, "f") == "0.738763122563248000000000000000"
    assert btc.ts == 1542786802283 and btc.updated == 1542786801575
    assert format(assets[1].total, "f") == "3226.058257880000000000000000000000"


def test_order_sample():
    order = parse_order(load_json(sample("order_change.constructed.json")))
    assert order.symbol == "ETC_BTC" and order.order_no == "1616392747273428993"
    assert (order.side, order.state) == ("buy", "NEW")
    assert format(order.price, "f") == "1234.56000000"
    assert format(order.qty_remaining, "f") == "0.00081000"
    assert (order.created, order.updated) == (1541512249000, 1541512249000)


def test_fill_sample():
    fill = parse_fill(load_json(sample("trade_change.json")))
    assert (fill.symbol, fill.deal_no, fill.order_no) == (
        "ETC_BTC", "1616392748072460289", "1616392747273428993")
    assert (fill.order_type, fill.role, fill.side) == ("MKT", "taker", "buy")
    assert fill.ts == 1541512249094  # utcDeal arrives as a string


def test_unknown_fields_are_ignored():
    data = json.loads(sample("kline.json"))
    data["somethingNew"] = {"x": [1, 2]}
    assert parse_kline(data, 60000).close == Decimal("6616.45")


@pytest.mark.parametrize("change, message", [
    (lambda d: d.pop("last"), "missing field 'last'"),
    (lambda d: d.update(last=6616.45), "not a decimal"),
    (lambda d: d.update(last="NaN"), "not a decimal"),
    (lambda d: d.update(last="1e5"), "not a decimal"),
    (lambda d: d.update(last=" 1"), "not a decimal"),
    (lambda d: d.update(last=None), "not a decimal"),
    (lambda d: d.update(timestamp="soon"), "not a time"),
    (lambda d: d.update(timestamp=True), "not a time"),
])
def test_bad_fields_raise_payload_errors(change, message):
    data = json.loads(sample("kline.json"), parse_float=Decimal)
    change(data)
    with pytest.raises(PayloadError, match=message):
        parse_kline(data, 60000)


@pytest.mark.parametrize("payload", [b"", b"not json", b"\xff\xfe", b"[" * 100000, b"{}",
                                     b"[1]", b"null", b'{"asks": 5}'])
@pytest.mark.parametrize("channel", ["depth", "book", "kline", "trade", "asset", "order",
                                     "fill"])
def test_bad_payloads_raise_payload_error(channel, payload):
    with pytest.raises(PayloadError):
        new_parser(channel, range="60000")(payload)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["symbol", "price", "quantity", "action", "timestamp",
                                       "asset", "asks", "bids", "x"]), children, max_size=5),
    max_leaves=20)


@given(st.one_of(json_values.map(lambda v: json.dumps(v).encode()), st.binary(max_size=80)),
       st.sampled_from(["depth", "book", "kline", "trade", "asset", "order", "fill"]))
@settings(max_examples=400)
def test_fuzzed_payloads_raise_only_payload_errors(payload, channel):
    try:
        new_parser(channel, range="60000")(payload)
    except PayloadError:
        pass


@given(st.one_of(json_values.map(json.dumps), st.text(max_size=20)),
       st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32",
                        "utf-32-le", "utf-32-be"]))
@settings(max_examples=300)
def test_load_json_reads_what_json_loads_reads(text, encoding):
    try:
        payload = text.encode(encoding)
    except UnicodeEncodeError:  # a lone surrogate
        payload = text.encode("utf-8", "surrogatepass")
    try:
        expected = json.loads(payload, parse_float=Decimal)
    except (ValueError, RecursionError):
        with pytest.raises(PayloadError):
            load_json(payload)
    else:
        assert repr(load_json(payload)) == repr(expected)  # NaN is not equal to itself


def t(ts, price="1.00", qty="1", side="buy"):
    return Trade("BTC_USD", ts, Decimal(price), Decimal(qty), side)


def test_dedup_passes_each_trade_once_across_overlapping_pushes():
    dedup = TradeDeduplicator()
    assert dedup.new_trades([t(1), t(2), t(3)]) == [t(1), t(2), t(3)]
    assert dedup.new_trades([t(2), t(3), t(4), t(5)]) == [t(4), t(5)]
    assert dedup.new_trades([t(3), t(4), t(5)]) == []


def test_dedup_keeps_equal_trades_within_one_push():
    dedup = TradeDeduplicator()
    assert dedup.new_trades([t(1), t(1)]) == [t(1), t(1)]
    assert dedup.new_trades([t(1), t(1), t(2)]) == [t(2)]
    assert dedup.new_trades([t(1), t(1), t(1)]) == [t(1)]


def test_dedup_memory_is_bounded_and_old_trades_are_not_replayed():
    dedup = TradeDeduplicator(capacity=100)
    for start in range(0, 10_000, 25):
        fresh = dedup.new_trades([t(ts) for ts in range(start, start + 50)])
        assert fresh == [t(ts) for ts in range(max(start, 0 if start == 0 else start + 25),
                                                start + 50)]
    assert len(dedup._seen) <= 100
    assert dedup.new_trades([t(5)]) == []  # long forgotten, but not mistaken for new


def test_trade_parser_deduplicates_repeated_pushes():
    parse = new_parser("trade")
    assert len(parse(sample("tickers.json"))) == 20
    assert parse(sample("tickers.json")) == []


def test_repeated_private_pushes_are_dropped_but_changes_in_the_same_ms_are_not():
    orders = new_parser("order")
    body = sample("order_change.constructed.json")
    assert len(orders(body)) == 1
    assert orders(body) == []  # the exchange repeated itself
    changed = body.replace(b'"quantityRemaining":"0.00081000"',
                           b'"quantityRemaining":"0.00001000"')
    assert len(orders(changed)) == 1  # same order, state and time, but it moved
    cancelled = body.replace(b'"NEW"', b'"CANCEL"')
    assert len(orders(cancelled)) == 1

    fills = new_parser("fill")
    assert len(fills(sample("trade_change.json"))) == 1
    assert fills(sample("trade_change.json")) == []

    assets = new_parser("asset")
    assert len(assets(sample("asset_change.json"))) == 2
    assert assets(sample("asset_change.json")) == []
    moved = sample("asset_change.json").replace(b"0.738763122563248", b"0.738763122563249")
    assert [a.currency for a in assets(moved)] == ["BTC"]


def test_recent_keys_is_bounded():
    from coinsuper_cli.api.payloads import RecentKeys

    keys = RecentKeys(capacity=3)
    assert all(keys.add(i) for i in range(5))
    assert len(keys) == 3
    assert not keys.add(4) and keys.add(0)  # 0 was forgotten


def test_a_bad_trade_spoils_its_push_but_not_the_memory_of_the_good_ones():
    parse = new_parser("trade")
    good = json.loads(sample("tickers.json"))
    bad = [dict(good[0], price="oops")] + good[1:]
    with pytest.raises(PayloadError, match="price"):
        parse(json.dumps(bad).encode())
    assert len(parse(sample("tickers.json"))) == 20  # nothing was marked as seen


@pytest.mark.parametrize("item", [{"timestamp": "1"}, {"timestamp": [1], "price": "1",
                                  "quantity": "1", "action": "BUY"}, 5, None])
def test_malformed_trades_raise_payload_errors(item):
    with pytest.raises(PayloadError):
        new_parser("trade")(json.dumps([item]).encode())
