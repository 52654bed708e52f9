"""Trades jsonl, byte for byte, against a reference written from scratch: every push read
whole by json (each number an exact Decimal), each trade printed once by counting keys,
and each line written by json.dumps. The fast path (only a push's new head read, by
msgspec, its line written in one step) must print exactly these lines and skip exactly
the pushes the reference refuses."""
import io
import json
import re
from collections import Counter
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from coinsuper_cli.api.channels import Feed, new_parser
from coinsuper_cli.api.stream import ListSource, Message, pump
from coinsuper_cli.output.sinks import JsonlSink

_LOOSE = re.compile(r"-?[0-9]+(\.[0-9]+)?")
SIDES = {"BUY": "buy", "SELL": "sell"}


class Refused(Exception):
    pass


def number_text(value) -> str:
    if type(value) is str and _LOOSE.fullmatch(value):
        value = Decimal(value)
    elif type(value) is int:
        value = Decimal(value)
    elif type(value) is not Decimal or not value.is_finite():
        raise Refused(value)
    return format(value, "f") if "E" in str(value) else str(value)


def reference_lines(payloads: list[bytes], recv: int) -> list:
    """For each push, its lines, or None where it is refused."""
    seen: Counter = Counter()
    out = []
    for payload in payloads:
        try:
            items = json.loads(payload, parse_float=Decimal)
            if type(items) is not list:
                raise Refused()
            items = items[::-1]
            keys = []
            for item in items:
                if type(item) is not dict or not {"timestamp", "price", "quantity",
                                                  "action"} <= item.keys():
                    raise Refused()
                key = (item["timestamp"], item["price"], item["quantity"], item["action"])
                if type(key[0]) is not int:
                    raise Refused()
                hash(key)
                keys.append(key)
            counts: Counter = Counter()
            lines = []
            for item, key in zip(items, keys):
                counts[key] += 1
                if counts[key] <= seen[key]:
                    continue
                symbol = item.get("symbol")
                if type(symbol) not in (str, int) or item["action"] not in SIDES:
                    raise Refused()
                lines.append(json.dumps({
                    "channel": "trade", "recv": recv, "symbol": str(symbol).replace("/", "_"),
                    "ts": key[0], "price": number_text(item["price"]),
                    "qty": number_text(item["quantity"]), "side": SIDES[item["action"]]},
                    ensure_ascii=False, separators=(",", ":")))
        except (Refused, ValueError, TypeError, KeyError):
            out.append(None)
            continue
        for key, n in counts.items():
            seen[key] = max(seen[key], n)
        out.append(lines)
    return out


prices = st.sampled_from(["6000.25", "6000.50", "007.5", "1E+2", "-0", "abc", 6000.25, 7,
                          "0.000000000000000000000000000001"])


@st.composite
def sessions(draw):
    history, payloads = [], []
    ts = 1_000
    for _ in range(draw(st.integers(1, 20))):
        for _ in range(draw(st.integers(0, 4))):
            ts += draw(st.integers(0, 2))
            trade = {"symbol": draw(st.sampled_from(["BTC/USD", "É\"/x", 5])),
                     "price": draw(prices),
                     "quantity": draw(st.sampled_from(["0.0100", "1.0000", 2])),
                     "action": draw(st.sampled_from(["BUY", "SELL", "HOLD"])),
                     "timestamp": ts}
            if draw(st.integers(0, 9)) == 0:
                trade[draw(st.sampled_from(["extra", "price"]))] = draw(
                    st.sampled_from([None, [1, [2]], "x"]))
            history.append(trade)
            if draw(st.booleans()) and draw(st.booleans()):
                history.append(dict(trade))
        if history and draw(st.integers(0, 3)) == 0:
            # a new trade equal to one pushed before: printed, as a trade of its own
            history.append(dict(draw(st.sampled_from(history[-3:]))))
        kind = draw(st.sampled_from(["push"] * 6 + ["spaced", "garbage", "skip"]))
        if kind == "skip":
            continue
        seps = (",", ":") if kind != "spaced" else (", ", ": ")
        text = json.dumps(history[::-1][:50], separators=seps, ensure_ascii=draw(
            st.booleans()))
        if kind == "garbage":
            text = '[{"symbol":"BTC/USD"}' + ("," if text != "[]" else "") + text[1:]
        payloads.append(text.encode())
    return payloads


@given(sessions())
@settings(max_examples=500, deadline=None)
def test_trades_jsonl_is_byte_for_byte_the_references(payloads):
    out, skipped = io.BytesIO(), []
    feed = Feed("env/api/ws/v1/market/tickers/BTC_USD", "trade", "BTC_USD",
                new_parser("trade"))
    messages = [[Message(feed, payload, 1_700_000_000_123_000_000 + i)]
                for i, payload in enumerate(payloads)]
    sink = JsonlSink(out, warn=skipped.append)
    written = []
    write = sink.write

    def noting(message, records):
        before = out.tell()
        write(message, records)
        written.append((message.recv_ns, out.getvalue()[before:]))

    sink.write = noting
    pump(ListSource(messages), sink)
    expected = reference_lines(payloads, 1_700_000_000_123)
    got = dict(written)
    for i, lines in enumerate(expected):
        recv_ns = 1_700_000_000_123_000_000 + i
        if lines is None:
            assert recv_ns not in got, (i, payloads[i])
        else:
            text = "".join(line + "\n" for line in lines).encode()
            assert got.get(recv_ns, b"") == text, (i, payloads[i])
    assert len(skipped) == expected.count(None)


def test_a_head_trade_equal_to_one_gone_from_the_window_is_judged_as_the_reference_does():
    """Trades have no id: a trade equal to one seen before counts as seen, even when the
    first one has left the last-50 window. Only the whole push can count that, so the
    fast path hands such a head to the full path."""
    def trade(ts, price="1.5"):
        return {"symbol": "BTC/USD", "price": price, "quantity": "1", "action": "BUY",
                "timestamp": ts}

    history = [trade(1)] + [trade(2 + i, "2.5") for i in range(60)] + [trade(1)]
    payloads = [json.dumps(history[:end][::-1][:50], separators=(",", ":")).encode()
                for end in (1, 55, 61, 62)]
    out = io.BytesIO()
    feed = Feed("t", "trade", "BTC_USD", new_parser("trade"))
    pump(ListSource([[Message(feed, payload, 0)] for payload in payloads]),
         JsonlSink(out, warn=print))
    expected = reference_lines(payloads, 0)
    assert out.getvalue().decode() == "".join(line + "\n" for lines in expected
                                              for line in lines)
    # 1, then 50 of the next 54 (the first 4 were never pushed), then 6; the last
    # trade(1) is taken for a repeat of the first
    assert [len(lines) for lines in expected] == [1, 50, 6, 0]


def test_a_head_nested_past_the_recursion_limit_is_a_skipped_push():
    """msgspec reads a new head's elements whole before their fields: one nested too
    deeply must reach the json path, which names it, not end the command."""
    previous = b'[{"symbol":"BTC/USD","price":"1","quantity":"1","action":"BUY","timestamp":1}]'
    deep = b"[" + b"[" * 5000 + b"]" * 5000 + b"," + previous[1:]
    out, skipped = io.BytesIO(), []
    feed = Feed("t", "trade", "BTC_USD", new_parser("trade"))
    pump(ListSource([[Message(feed, previous, 0)], [Message(feed, deep, 0)]]),
         JsonlSink(out, warn=skipped.append))
    assert len(out.getvalue().splitlines()) == 1
    # What json says depends on the Python: up to 3.12 its recursion limit ("nested too
    # deeply"); 3.13's parser reads 5,000 levels, and the head is a list, not a trade.
    assert len(skipped) == 1 and skipped[0].startswith("skipped a message on t: ")
    assert "nested too deeply" in skipped[0] or "got list" in skipped[0]
