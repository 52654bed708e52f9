"""Trade de-duplication and the incremental push parser: the fast path that parses only
a push's new head must give exactly what parsing every push in full gives."""
import json

import pytest
from hypothesis import given, settings, strategies as st

from coinsuper_cli.api.payloads import load_json, parse_trades
from coinsuper_cli.api.trades import TradeDeduplicator, TradeParser
from coinsuper_cli.errors import PayloadError


def reference():
    dedup = TradeDeduplicator()
    return lambda payload: dedup.new_trades(parse_trades(load_json(payload)))


def trade(ts, price="6000.25", qty="0.0100", side="BUY"):
    return {"symbol": "BTC/USD", "price": price, "quantity": qty, "action": side,
            "timestamp": ts}


def push(trades, compact=True):
    seps = (",", ":") if compact else (", ", ": ")
    return json.dumps(trades[::-1][:50], separators=seps).encode()


@st.composite
def sessions(draw):
    """A market's trades (with exact repeats) and the pushes a client receives."""
    history, payloads = [], []
    ts = 1_000
    for _ in range(draw(st.integers(1, 25))):
        for _ in range(draw(st.integers(0, 4))):
            ts += draw(st.integers(0, 2))  # equal times happen
            price = draw(st.sampled_from(["6000.25", "6000.50", "5999.75"]))
            new = trade(ts, price, draw(st.sampled_from(["0.0100", "1.0000"])),
                        draw(st.sampled_from(["BUY", "SELL"])))
            history.append(new)
            if draw(st.booleans()) and draw(st.booleans()):
                history.append(dict(new))  # an identical trade, a real second one
        kind = draw(st.sampled_from(["push"] * 6 + ["spaced", "garbage", "skip"]))
        if kind == "skip":
            continue  # a push lost, as across a reconnect
        if kind == "garbage":
            payloads.append(b'[{"symbol":"BTC/USD"}' + push(history)[1:])
        else:
            payloads.append(push(history, compact=kind == "push"))
    return payloads


@given(sessions())
@settings(max_examples=300, deadline=None)
def test_the_fast_path_gives_what_full_parsing_gives(payloads):
    fast, slow = TradeParser(), reference()
    for payload in payloads:
        try:
            expected = slow(payload)
        except PayloadError:
            with pytest.raises(PayloadError):
                fast(payload)
            continue
        assert fast(payload) == expected


def test_the_fast_path_is_taken_for_overlapping_pushes(monkeypatch):
    history = [trade(t) for t in range(100)]
    parser = TradeParser()
    assert len(parser(push(history[:60]))) == 60 - 10  # the first push: 50 trades
    full_parses = []
    import coinsuper_cli.api.trades as trades_module

    original = trades_module.parse_new_trades
    monkeypatch.setattr(trades_module, "parse_new_trades",
                        lambda *a: full_parses.append(1) or original(*a))
    for end in range(61, 100):
        assert [t.ts for t in parser(push(history[:end]))] == [end - 1]
    assert full_parses == []
    assert parser(push(history[:99])) == []  # a repeat: nothing new, nothing parsed


def test_dedup_passes_each_trade_once_and_keeps_equal_trades_within_a_push():
    def keys(*stamps):
        return [(ts, "1", "1", "BUY") for ts in stamps]

    dedup = TradeDeduplicator()
    for batch, expected in [(keys(1, 2, 3), [0, 1, 2]), (keys(2, 3, 4, 5), [2, 3]),
                            (keys(1, 1, 2), [1]), (keys(1, 1, 1, 2), [2])]:
        fresh, updates = dedup.select(batch)
        dedup.commit(updates)
        assert fresh == expected


@given(st.lists(st.lists(st.tuples(st.integers(0, 9), st.sampled_from("ab")), max_size=6),
                max_size=12))
@settings(max_examples=300, deadline=None)
def test_take_unseen_is_select_and_commit_for_keys_not_seen(pushes):
    """With a small capacity, so that keys are forgotten and old ones dropped."""
    one, other = TradeDeduplicator(capacity=5), TradeDeduplicator(capacity=5)
    for keys in pushes:
        if any(one.knows(key) for key in keys):
            assert other.take_unseen(keys) is None
            fresh, updates = one.select(keys)
            one.commit(updates)
            other.commit(updates)
            continue
        fresh, updates = one.select(keys)
        one.commit(updates)
        assert other.take_unseen(keys) == fresh
        assert one._seen == other._seen and one._forgotten_before == other._forgotten_before
