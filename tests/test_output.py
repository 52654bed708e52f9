"""jsonl and raw output: keys, exact decimals, counting, skipping bad payloads."""
import dataclasses
import io
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from coinsuper_cli.api.channels import Feed, new_parser
from coinsuper_cli.api.records import Book, Trade
from coinsuper_cli.api.stream import Limits, ListSource, Message, pump
from coinsuper_cli.errors import Finished
from coinsuper_cli.output.sinks import JsonlSink, RawSink, record_json

SAMPLES = Path(__file__).parent / "samples"


def feed(channel, topic="env/t"):
    return Feed(topic, channel, None, new_parser(channel, range="60000"))


def deliver(sink, *messages, count=None):
    """Pumps (feed, payload) pairs into `sink`, each its own batch."""
    pump(ListSource([[Message(f, p, 1_700_000_000_123_456_789)] for f, p in messages]),
         sink, Limits(count))


def test_record_json_keys_and_exact_decimals():
    trade = Trade("BTC_USD", 5, Decimal("0.00000010"), Decimal("1E+2"), "sell")
    obj = json.loads(record_json(trade, 42))
    assert list(obj) == ["channel", "recv", "symbol", "ts", "price", "qty", "side"]
    assert obj == {"channel": "trade", "recv": 42, "symbol": "BTC_USD", "ts": 5,
                   "price": "0.00000010", "qty": "100", "side": "sell"}


def test_levels_become_lists_of_strings():
    book = Book("BTC_USD", 1, Decimal("0.01"), ((Decimal("1.10"), Decimal("2.0000")),), ())
    obj = json.loads(record_json(book, 0))
    assert obj["asks"] == [["1.10", "2.0000"]] and obj["bids"] == [] and obj["step"] == "0.01"


def plain(value: Decimal) -> str:
    return format(value, "f") if "E" in str(value) else str(value)


def dumps_of(record, recv):
    """What record_json wrote before it joined levels itself: json.dumps of the dict."""
    obj = {"channel": record.channel, "recv": recv}
    for field in dataclasses.fields(record):
        value = getattr(record, field.name)
        if isinstance(value, Decimal):
            value = plain(value)
        elif field.name in ("asks", "bids"):
            value = [[plain(price), plain(qty)] for price, qty in value]
        obj[field.name] = value
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


SAMPLE_CHANNELS = [("asset_change.json", "asset"), ("depth.json", "depth"),
                   ("orderbook.json", "book"), ("kline.json", "kline"),
                   ("tickers.json", "trade"), ("trade_change.json", "fill"),
                   ("order_change.constructed.json", "order")]


@pytest.mark.parametrize("name, channel", SAMPLE_CHANNELS)
def test_record_json_is_byte_for_byte_what_json_dumps_writes(name, channel):
    for record in feed(channel).parse((SAMPLES / name).read_bytes()):
        assert record_json(record, 1_700_000_000_123) == dumps_of(record, 1_700_000_000_123)


@pytest.mark.parametrize("text", ['a"b\\c', "tab\there", "\x1b[2J", "\x9b", "é✓😀",
                                  "\u2028", "\ud800", ""])
def test_text_fields_are_escaped_as_json_dumps_escapes_them(text):
    trade = Trade(text, 1, Decimal("1.0"), Decimal("5E-8"), text)
    book = Book(text, 2, Decimal("0.01"), ((Decimal("1E+1"), Decimal("-0.00")),), ())
    for record in (trade, book):
        assert record_json(record, 3) == dumps_of(record, 3)


def test_jsonl_output_of_every_sample_keeps_every_digit():
    out = io.BytesIO()
    deliver(JsonlSink(out, warn=pytest.fail), *[
        (feed(channel), (SAMPLES / name).read_bytes())
        for name, channel in SAMPLE_CHANNELS])
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == 2 + 1 + 1 + 1 + 20 + 1 + 1
    assert all(line["recv"] == 1_700_000_000_123 for line in lines)
    assert lines[0]["total"] == "1.306763122563248000000000000000"
    assert lines[2]["asks"][0] == ["6681.39", "25.1470"]
    assert lines[-1]["price"] == "1234.56000000"
    # every decimal in the payloads appears verbatim in the output, but the order
    # book's `amount`, which the exchange deprecated
    text = out.getvalue().decode()
    for name in SAMPLES.iterdir():
        for key, value in decimals(json.loads(name.read_text(), parse_float=str)):
            if key != "amount" or name.name != "orderbook.json":
                assert f'"{value}"' in text, (name, key, value)


def decimals(value, key=None):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from decimals(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from decimals(v, key)
    elif isinstance(value, str) and "." in value and value.replace(".", "").isdigit():
        yield key, value


def test_count_stops_in_the_middle_of_a_push():
    out = io.BytesIO()
    tickers = (SAMPLES / "tickers.json").read_bytes()
    with pytest.raises(Finished):
        deliver(JsonlSink(out, warn=pytest.fail), (feed("trade"), tickers), count=3)
    assert len(out.getvalue().splitlines()) == 3


def test_raw_counts_each_payload_as_one_record():
    out = io.BytesIO()
    with pytest.raises(Finished):
        deliver(RawSink(out), *[(feed("trade"), b"[%d]" % i) for i in range(5)], count=2)
    assert out.getvalue() == b"[0]\n[1]\n"


def test_raw_is_byte_for_byte_with_optional_topic():
    out = io.BytesIO()
    deliver(RawSink(out), (feed("trade"), b"not even json"))
    deliver(RawSink(out, with_topic=True), (feed("kline"), b"{}"))
    assert out.getvalue() == b"not even json\nenv/t {}\n"


def test_a_bad_payload_is_skipped_with_one_warning_naming_the_topic():
    out, warnings = io.BytesIO(), []
    deliver(JsonlSink(out, warn=warnings.append),
            (feed("kline", "env/api/kline/BTC_USD/60000"), b"{oops"),
            (feed("kline"), (SAMPLES / "kline.json").read_bytes()))
    assert len(warnings) == 1 and "env/api/kline/BTC_USD/60000" in warnings[0]
    assert "not JSON" in warnings[0]
    assert len(out.getvalue().splitlines()) == 1


def test_jsonl_and_raw_do_not_import_rich():
    code = ("import sys, coinsuper_cli.cli.main, coinsuper_cli.output.sinks, coinsuper_cli.net.runner; "
            "assert 'rich' not in sys.modules, 'rich imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("text", ["0.00000010", "0.0000001", "1000", "0", "-0.00", "12.3400",
                                  "0.000000000000000000000000000001", "1E+3", "5E-8"])
def test_decimals_are_written_in_plain_notation(text):
    from coinsuper_cli.api.payloads import decimal_text

    written = decimal_text(Decimal(text))
    assert "E" not in written and Decimal(written) == Decimal(text)
    if "E" not in text:
        assert written == text


@pytest.mark.parametrize("trade", [
    Trade("BTC_USD", 5, Decimal("0.00000010"), Decimal("1E+2"), "sell"),
    Trade('a"\x1b\u2028é', 0, Decimal("-0"), Decimal("1E-7"), "\\"),
    Trade("BTC_USD", 5, 1, "2", "buy"),  # types a parser never gives: the long way
    Trade("BTC_USD", True, Decimal("1"), Decimal("2"), "buy"),
])
def test_trade_lines_in_one_step_are_what_json_dumps_writes(trade):
    assert record_json(trade, 7) == json.dumps(
        {"channel": "trade", "recv": 7, **{
            name: plain(value) if isinstance(value, Decimal) else value
            for name, value in dataclasses.asdict(trade).items()}},
        ensure_ascii=False, separators=(",", ":"))


def test_depth_lines_in_one_step_are_what_json_dumps_writes():
    from coinsuper_cli.api.payloads import depth_records
    from coinsuper_cli.api.records import Depth

    [parsed] = depth_records((SAMPLES / "depth.json").read_bytes())
    assert parsed.asks.json is not None  # the one-step line is taken
    odd = dataclasses.replace(parsed, symbol='a"\x1b\u2028é', best_ask=Decimal("1E-7"),
                              depth_percent=Decimal("-0"))
    as_tuples = Depth(parsed.symbol, parsed.best_ask, parsed.best_bid,
                      parsed.depth_percent, tuple(parsed.asks), tuple(parsed.bids))
    for record in (parsed, odd, as_tuples):
        assert record_json(record, 7) == dumps_of(record, 7)
