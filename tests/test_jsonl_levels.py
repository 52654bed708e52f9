"""jsonl of depth and book levels: kept as the text received, checked by one regex and
never made Decimal on the way to jsonl, they are written as one Decimal per number wrote
them, bad numbers are refused alike, and it is faster."""
import json
import re
import statistics
import time
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from coinsuper_cli.api import records
from coinsuper_cli.api.channels import new_parser
from coinsuper_cli.api.records import Levels
from coinsuper_cli.errors import PayloadError
from coinsuper_cli.output.sinks import record_json

SAMPLES = Path(__file__).parent / "samples"

# The reference: how levels were read and written before the fast path, one Decimal per
# number (payloads._decimal, then output._text), with json.dumps writing the line.
_LOOSE = re.compile(r"-?[0-9]+(\.[0-9]+)?")


class Bad(Exception):
    """The reference refused a value; args: the field."""


def reference_decimal(value, key: str) -> Decimal:
    if type(value) is str and _LOOSE.fullmatch(value):
        return Decimal(value)
    if type(value) is Decimal and value.is_finite():
        return value
    if type(value) is int:
        return Decimal(value)
    raise Bad(key)


def reference_text(value: Decimal) -> str:
    return format(value, "f") if "E" in str(value) else str(value)


def reference_levels(points: list, price_key: str) -> list[tuple[Decimal, Decimal]]:
    return [(reference_decimal(p[price_key], price_key),
             reference_decimal(p["quantity"], "quantity")) for p in points]


def reference_line(payload: bytes, channel: str, recv: int) -> tuple[str, list, list]:
    """The jsonl line of a depth or book payload, and its asks and bids as Decimals."""
    data = json.loads(payload, parse_float=Decimal)
    price_key = "price" if channel == "depth" else "limitPrice"
    asks, bids = (reference_levels(data[side], price_key) for side in ("asks", "bids"))
    obj = {"channel": channel, "recv": recv, "symbol": data["symbol"].replace("/", "_")}
    if channel == "depth":
        for name, key in (("best_ask", "asksMinPrice"), ("best_bid", "bidsMaxPrice"),
                          ("depth_percent", "depthPercent")):
            obj[name] = reference_text(Decimal(data[key]))
    else:
        obj.update(ts=data["timestamp"], step=reference_text(Decimal(data["step"])))
    obj["asks"] = [[reference_text(p), reference_text(q)] for p, q in asks]
    obj["bids"] = [[reference_text(p), reference_text(q)] for p, q in bids]
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")), asks, bids


def payload(channel: str, asks: list[tuple[str, str]],
            bids: list[tuple[str, str]]) -> bytes:
    """A depth or book payload whose levels hold these JSON texts as they are."""
    if channel == "depth":
        point = '{{"price":{},"quantity":{},"stepValue":null}}'
        head = ('{"symbol":"BTC/USD","asksMinPrice":"6674.89","bidsMaxPrice":"6674.56",'
                '"depthPercent":"0.01"')
    else:
        point = '{{"amount":"1.00","limitPrice":{},"quantity":{}}}'
        head = '{"symbol":"BTC/USD","timestamp":1532686075803,"step":"0.01"'
    sides = ["[" + ",".join(point.format(p, q) for p, q in side) + "]"
             for side in (asks, bids)]
    return f'{head},"asks":{sides[0]},"bids":{sides[1]}}}'.encode()


# JSON texts of a level's numbers: strings as the exchange sends them, which take the fast
# path; strings with leading zeros or tiny values, and JSON numbers (exact, exponents
# included), which do not.
exact_string = st.one_of(
    st.sampled_from(["6681.39", "25.1470", "0.0000", "0", "-0", "-0.00", "0.00000010",
                     "0.0000001", "0.000000000000000000000000000001", "1000"]),
    st.from_regex(r"-?(0|[1-9][0-9]{0,13})(\.[0-9]{1,14})?", fullmatch=True),
).map(json.dumps)
any_string = st.from_regex(r"-?[0-9]{1,14}(\.[0-9]{1,14})?", fullmatch=True).map(json.dumps)
json_number = st.from_regex(r"-?(0|[1-9][0-9]{0,12})(\.[0-9]{1,12})?([eE][+-]?[0-9]{1,2})?",
                            fullmatch=True)
good = st.one_of(exact_string, any_string, json_number)
BAD = ['"1e5"', '" 1"', '"1 "', '"1."', '".5"', '"-.5"', '""', '"NaN"', '"Infinity"',
       '"1\\n2"', '"1\\n"', '"\\n1"', '"1\\r\\n2"', '"\\u0663"', '"\\uff10"', '"1,5"',
       '"1\\"2"', '"--1"', '"-"', '"+1"', '"1_000"', '"1.2.3"', '"1-2"', '"1.-2"', "null",
       "true", "[]", '{"a":1}']
bad = st.one_of(st.sampled_from(BAD), st.text(max_size=5).map(json.dumps))
levels = st.one_of(st.lists(st.tuples(exact_string, exact_string), max_size=30),
                   st.lists(st.tuples(good, good), max_size=30))


@given(st.sampled_from(["depth", "book"]), levels, levels)
@settings(max_examples=300)
def test_levels_are_written_as_one_decimal_per_number_wrote_them(channel, asks, bids):
    data = payload(channel, asks, bids)
    [record] = new_parser(channel)(data)
    line, ref_asks, ref_bids = reference_line(data, channel, 1_700_000_000_123)
    assert record_json(record, 1_700_000_000_123) == line
    # and the live views get the very Decimals they got before, exponent and all
    for got, want in ((record.asks, ref_asks), (record.bids, ref_bids)):
        assert got == tuple(want) and hash(got) == hash(tuple(want))
        assert [(str(p), str(q)) for p, q in got] == [(str(p), str(q)) for p, q in want]


@given(st.sampled_from(["depth", "book"]),
       st.lists(st.tuples(exact_string, exact_string), min_size=1, max_size=6),
       st.integers(0, 11), st.sampled_from([0, 1]), st.one_of(bad, good))
@settings(max_examples=500)
def test_a_bad_level_number_raises_a_payload_error_naming_its_field(channel, asks, at,
                                                                    which, value):
    # one value among good ones: else the slow path would judge them all
    asks[at % len(asks)] = tuple(value if i == which else v
                                 for i, v in enumerate(asks[at % len(asks)]))
    data = payload(channel, asks, [])
    try:
        line, _, _ = reference_line(data, channel, 0)
    except Bad as refused:
        with pytest.raises(PayloadError, match=f"field '{refused.args[0]}'"):
            new_parser(channel)(data)
    else:
        assert record_json(new_parser(channel)(data)[0], 0) == line


@pytest.mark.parametrize("channel", ["depth", "book"])
@pytest.mark.parametrize("value", BAD)
def test_each_kind_of_bad_number_among_good_ones_is_refused(channel, value):
    good = ('"6681.39"', '"25.1470"')
    price = "price" if channel == "depth" else "limitPrice"
    for field, level in ((price, (value, good[1])), ("quantity", (good[0], value))):
        data = payload(channel, [good, good, level, good], [good])
        with pytest.raises(PayloadError, match=f"field '{field}'"):
            new_parser(channel)(data)


def test_jsonl_of_depth_and_book_builds_no_decimal_for_levels(monkeypatch):
    def no_decimal(*args):
        raise AssertionError("a Decimal was built for a level")

    parsed = [new_parser(channel)((SAMPLES / name).read_bytes())[0]
              for channel, name in (("depth", "depth.json"), ("book", "orderbook.json"))]
    with monkeypatch.context() as patch:
        patch.setattr(records, "Decimal", no_decimal)
        lines = [record_json(record, 0) for record in parsed]
        assert all(type(r.asks) is Levels and type(r.bids) is Levels for r in parsed)
    assert json.loads(lines[0])["asks"][0] == ["6681.39", "25.1470"]
    assert parsed[0].asks[0] == (Decimal("6681.39"), Decimal("25.1470"))  # built now


def test_levels_behave_as_the_tuple_of_decimal_pairs_they_stand_for():
    text = (("6674.89", "0.0524"), ("6675.00", "1.10"))
    pairs = tuple((Decimal(p), Decimal(q)) for p, q in text)
    levels = Levels(text)
    assert levels == pairs and pairs == levels and levels == Levels(text)
    assert levels == Levels((("6674.890", "0.05240"), ("6675", "1.1")))  # as Decimals
    assert levels != pairs[:1] and levels != list(pairs)
    assert hash(levels) == hash(pairs) and len(levels) == 2 and bool(levels)
    assert levels[0] == pairs[0] and levels[-1] == pairs[-1] and levels[:1] == pairs[:1]
    assert list(levels) == list(pairs) and dict(levels) == dict(pairs)
    assert ((Decimal(1), Decimal(2)),) + levels[1:] == ((Decimal(1), Decimal(2)), pairs[1])
    assert pairs[1] in levels and levels.index(pairs[1]) == 1
    assert not Levels(()) and Levels(()) == ()
    assert str(levels[1][1]) == "1.10"  # the digits as sent


@pytest.mark.slow
def test_depth_jsonl_is_at_least_twice_as_fast_as_one_decimal_per_number():
    """Parse and format the depth sample, interleaved with the reference, on a noisy
    machine: the median of the per-round ratios. Measured about 4.5x on a 2-CPU VM."""
    data = (SAMPLES / "depth.json").read_bytes()
    parse = new_parser("depth")

    def fast():
        for _ in range(200):
            record_json(parse(data)[0], 0)

    def reference():
        for _ in range(200):
            reference_line(data, "depth", 0)

    ratios = []
    for _ in range(7):
        times = []
        for run in (fast, reference):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        ratios.append(times[1] / times[0])
    assert statistics.median(ratios) >= 2, ratios
