"""Depth and book levels read by msgspec (payloads.maybe_typed, maybe_exact_levels):
whatever the text, the parser gives what the JSON path gives, the same records, the
same jsonl bytes, or the same PayloadError; the exchange's own payloads take the msgspec
path."""
import json
import re
from pathlib import Path

import pytest
from hypothesis import example, given, settings, strategies as st

from coinsuper_cli.api import payloads
from coinsuper_cli.api.channels import new_parser
from coinsuper_cli.errors import PayloadError
from coinsuper_cli.output.sinks import record_json

SAMPLES = Path(__file__).parent / "samples"
SAMPLE = {"depth": (SAMPLES / "depth.json").read_bytes().strip(),
          "book": (SAMPLES / "orderbook.json").read_bytes().strip()}
JSON_PATH = {"depth": payloads.parse_depth, "book": payloads.parse_book}


def assert_same_as_the_json_path(channel: str, payload: bytes) -> bool:
    """True when the payload is good, False when both paths refuse it alike."""
    try:
        expected = [JSON_PATH[channel](payloads.load_json(payload))]
    except PayloadError as error:
        with pytest.raises(PayloadError) as refused:
            new_parser(channel)(payload)
        assert str(refused.value) == str(error)
        return False
    got = new_parser(channel)(payload)
    assert got == expected
    assert [record_json(r, 7) for r in got] == [record_json(r, 7) for r in expected]
    for side in ("asks", "bids"):
        assert getattr(got[0], side).text == getattr(expected[0], side).text
        assert ([tuple(map(str, level)) for level in getattr(got[0], side)]
                == [tuple(map(str, level)) for level in getattr(expected[0], side)])
    return True


@pytest.mark.parametrize("channel", ["depth", "book"])
def test_the_exchanges_payloads_take_the_text_path(channel, monkeypatch):
    assert assert_same_as_the_json_path(channel, SAMPLE[channel])
    expected = new_parser(channel)(SAMPLE[channel])

    def no_json_path(payload):
        raise AssertionError("the whole payload was read as JSON")

    monkeypatch.setattr(payloads, "load_json", no_json_path)
    assert new_parser(channel)(SAMPLE[channel]) == expected


@pytest.mark.parametrize("channel", ["depth", "book"])
def test_sandbox_payloads_take_the_text_path(channel, monkeypatch):
    from coinsuper_cli.sandbox.market import SimulatedExchange

    market = SimulatedExchange(seed=3, symbols=["BTC_USD"], start_ms=1_700_000_000_000)
    market.advance(1_700_000_005_000)
    payload = (market.depth("BTC_USD") if channel == "depth"
               else market.order_book("BTC_USD", "0.01"))
    assert assert_same_as_the_json_path(channel, payload)
    monkeypatch.setattr(payloads, "load_json", None)  # a call would fail
    assert len(new_parser(channel)(payload)[0].asks) > 10


# Texts that must not fool the text path. Each is checked against the JSON path.
TRICKS = [
    # a backslash anywhere, so a string may hold a quote
    ('"symbol":"BTC/USD"', '"symbol":"BTC\\/USD"'),
    ('"symbol":"BTC/USD"', '"symbol":"BTC/USD","x":"\\"asks\\":[]"'),
    # the first "asks" is not the top-level one, or not the last one
    ('"symbol":"BTC/USD"', '"symbol":"BTC/USD","x":{"asks":[],"bids":[]}'),
    ('"symbol":"BTC/USD"', '"asks":[],"bids":[],"symbol":"BTC/USD"'),
    ('"symbol":"BTC/USD"', '"symbol":"BTC/USD","asks":5'),
    ('"symbol":"BTC/USD"', '"symbol":"BTC/USD","bids":[[]]'),
    # the arrays' text is not the exchange's: spaces, another key order, other values
    ('"asks":[', '"asks": ['),
    ('"bids":[{', '"bids":[ {'),
    ('},{', '}, {'),
    ('},{', '}{'),
    ('},{', '},,{'),
    ('"asks":[{', '"asks":[,{'),
    ('}],', '},],'),
    ('"quantity":"25.1470"', '"quantity":25.1470'),
    ('"quantity":"25.1470"', '"quantity":"025.1470"'),
    ('"quantity":"25.1470"', '"quantity":"25.1470","x":1'),
    ('"stepValue":null', '"stepValue":nul'),
    ('"amount":"349.76"', '"amount":null'),
    ('"amount":"349.76"', '"amount":"\x01"'),
    ('"amount":"349.76"', '"amount":"é\x7f"'),
    # the placeholder's string, sent by the exchange
    ('"symbol":"BTC/USD"', '"symbol":"BTC/USD","asks":"\\u0000"'),
    # not JSON at all, once the arrays are out of the way
    ('"symbol":"BTC/USD"', '"symbol":"BTC/USD",'),
    ('"symbol":"BTC/USD"', '"symbol":"BTC/USD"}{'),
    ('"asks":[', '"asks":[]'),
]


@pytest.mark.parametrize("channel, old, new", [
    (channel, old, new) for channel in SAMPLE for old, new in TRICKS
    if old in SAMPLE[channel].decode()])
def test_tricks_give_what_the_json_path_gives(channel, old, new):
    text = SAMPLE[channel].decode()
    for i in (0, -1):  # the first and the last place it appears
        at = text.find(old) if i == 0 else text.rfind(old)
        changed = text[:at] + new + text[at + len(old):]
        assert_same_as_the_json_path(channel, changed.encode())


# Mutations of the exchange's payloads, at random places, from the characters that matter.
pieces = st.sampled_from([
    '"', "\\", "{", "}", "[", "]", ",", ":", " ", "0", "7", ".", "-", "e", "null",
    '"asks":', '"bids":', '"asks":[]', '"\\u0000"', "\x00", "é", "\n",
    '{"price":"1","quantity":"2","stepValue":null}',
    '{"amount":"1","limitPrice":"1","quantity":"2"}'])
edits = st.lists(st.tuples(st.floats(0, 1), st.integers(0, 3), pieces), min_size=1,
                 max_size=4)


def mutated(text: str, changes) -> bytes:
    for where, cut, piece in changes:
        at = int(where * len(text))
        text = text[:at] + piece + text[at + cut:]
    return text.encode("utf-8", "surrogatepass")


@given(st.sampled_from(["depth", "book"]), edits)
@settings(max_examples=1500)
@example("depth", [(0.5, 0, '"')])
def test_mutated_payloads_give_what_the_json_path_gives(channel, changes):
    assert_same_as_the_json_path(channel, mutated(SAMPLE[channel].decode(), changes))


@given(st.sampled_from(["depth", "book"]), st.data())
@settings(max_examples=300)
def test_rebuilt_payloads_give_what_the_json_path_gives(channel, data):
    """The sample's object in any key order, compact or not, ASCII or not, with fewer
    levels and odd values put in."""
    obj = json.loads(SAMPLE[channel])
    for side in ("asks", "bids"):
        obj[side] = obj[side][:data.draw(st.integers(0, 6))]
    keys = data.draw(st.permutations(list(obj)))
    obj = {k: obj[k] for k in keys}
    if data.draw(st.booleans()):
        obj[data.draw(st.sampled_from(list(obj)))] = data.draw(
            st.sampled_from([None, "\u0000", "é", [], {"asks": []}, "1", 1.5]))
    if data.draw(st.booleans()):
        obj["symbol"] = data.draw(st.sampled_from(["BTC/USD", "É/USD", "B\"TC/USD"]))
    separators = data.draw(st.sampled_from([(",", ":"), (", ", ": ")]))
    text = json.dumps(obj, separators=separators, ensure_ascii=data.draw(st.booleans()))
    assert_same_as_the_json_path(channel, text.encode())


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32-be", "utf-8-sig"])
def test_other_encodings_that_json_reads_give_the_same(encoding):
    for channel, payload in SAMPLE.items():
        assert assert_same_as_the_json_path(channel, payload.decode().encode(encoding))


# maybe_exact_levels against the regex it stands for: plain decimals, no leading zero.
EXACT = re.compile(r"-?(?!0[0-9])[0-9]+(?:\.[0-9]+)?")
number_like = st.one_of(
    st.from_regex(r"-?[0-9]{1,4}(\.[0-9]{0,3})?", fullmatch=True),
    st.text(alphabet="0123456789.-,[]\"\\ eE+nafiNI\x00é", max_size=6),
    st.sampled_from(["", "-", "-0", "0", "00", "01", "-01", "1.", ".5", "1e5", "nan",
                     "inf", "1,2", "1],[2", '1"', "9" * 400, "1.2.3", "--1", "-.5"]))


@given(st.lists(st.tuples(number_like, number_like), max_size=8))
@settings(max_examples=2000)
def test_maybe_exact_levels_takes_exactly_what_the_regex_takes(pairs):
    levels = payloads.maybe_exact_levels(pairs)
    if all(EXACT.fullmatch(p) and EXACT.fullmatch(q) for p, q in pairs):
        # a number too long for a float goes the slow way, which writes it the same
        if levels is not None or any(len(n) > 300 for pair in pairs for n in pair):
            return
        raise AssertionError(f"refused {pairs}")
    assert levels is None, pairs


def test_levels_read_by_msgspec_are_written_as_levels_json_writes_them():
    from coinsuper_cli.output.shape import levels_json

    pairs = [("6681.39", "25.1470"), ("-0", "0.000000000000000000000000000001")]
    levels = payloads.maybe_exact_levels(pairs)
    assert levels.json == levels_json(payloads.Levels(tuple(pairs))) == json.dumps(
        pairs, separators=(",", ":"))
    assert payloads.maybe_exact_levels([]).json == "[]"
