"""The simulated exchange: channels that agree with each other, the demo account's private
pushes, determinism and speed."""
from __future__ import annotations

import json
import re
import time
from decimal import Decimal
from pathlib import Path

import pytest

from coinsuper_cli.api.exchange import INTERVALS, documented_steps
from coinsuper_cli.sandbox.engine import BUY, SELL
from coinsuper_cli.sandbox.market import DEFAULT_SYMBOLS, SimulatedExchange

D = Decimal
SAMPLES = Path(__file__).parent / "samples"
HOUR = 3_600_000
START = 1_700_002_800_000 + 120_000  # an hour boundary + 2 min: the warm-up stays inside


def decimals(text: str) -> int:
    return len(text.partition(".")[2])


def run(ex: SimulatedExchange, seconds: int, step_ms: int = 100):
    """Advance in small steps, yielding after each."""
    for n in range(1, seconds * 1000 // step_ms + 1):
        ex.advance(ex.now_ms + step_ms)
        yield n


def sample_keys(name: str) -> list[str]:
    data = json.loads((SAMPLES / name).read_text())
    item = data[0] if isinstance(data, list) else data
    return list(item)


# -- cross-channel agreement -----------------------------------------------------------
def check_book_channels(ex: SimulatedExchange, symbol: str) -> None:
    st = ex.state(symbol)
    bid, ask = st.book.best(BUY), st.book.best(SELL)
    assert bid is not None and ask is not None and bid < ask
    dp = st.spec.price_decimals
    depth = json.loads(ex.depth(symbol))
    assert depth["asksMinPrice"] == f"{ask:.{dp}f}" and depth["bidsMaxPrice"] == f"{bid:.{dp}f}"
    for side, ascending in (("asks", True), ("bids", False)):
        points = depth[side]
        assert len(points) == 50
        prices = [D(p["price"]) for p in points]
        assert prices == sorted(prices, reverse=not ascending) and len(set(prices)) == 50
        quantities = [D(p["quantity"]) for p in points]
        assert quantities == sorted(quantities)  # cumulative: never shrinks away from mid
        assert all(decimals(p["price"]) == dp and decimals(p["quantity"]) == 4 for p in points)
    mid = (bid + ask) / 2   # the points start 0.1% from the mid, 0.1% apart
    assert mid < D(depth["asks"][0]["price"]) <= mid * D("1.001") + st.spec.tick
    assert mid * D("0.999") - st.spec.tick <= D(depth["bids"][0]["price"]) < mid
    fine = documented_steps(symbol)[-1]          # 0.01 or 0.00000001: the tick itself
    book = json.loads(ex.order_book(symbol, fine))
    assert D(book["asks"][0]["limitPrice"]) == ask and D(book["bids"][0]["limitPrice"]) == bid
    assert D(book["asks"][0]["quantity"]) == next(st.book.levels(SELL))[1]
    for step in documented_steps(symbol):
        book = json.loads(ex.order_book(symbol, step))
        assert book["limitSize"] == 15 and book["step"] == step
        asks = [D(r["limitPrice"]) for r in book["asks"]]
        bids = [D(r["limitPrice"]) for r in book["bids"]]
        # 15 levels at the tick; a coarse step may fold the whole book into fewer
        # (XRP_BTC at 0.0001 is one bucket per side)
        assert 1 <= len(asks) <= 15 and 1 <= len(bids) <= 15
        if step == fine:
            assert len(asks) == len(bids) == 15
        assert asks == sorted(set(asks)) and bids == sorted(set(bids), reverse=True)
        assert bids[0] <= bid < ask <= asks[0] and bids[0] < asks[0]
        assert all(p % D(step) == 0 for p in asks + bids)  # multiples of the step
        assert all(decimals(r["limitPrice"]) == decimals(step) for r in book["asks"])


def check_trade_channels(ex: SimulatedExchange, symbol: str) -> None:
    st = ex.state(symbol)
    log = list(st.trades)
    tickers = json.loads(ex.tickers(symbol))
    assert len(tickers) == 50
    stamps = [t["timestamp"] for t in tickers]
    assert stamps == sorted(stamps, reverse=True)
    newest = log[-1]
    assert D(tickers[0]["price"]) == newest.price and tickers[0]["action"] == newest.action
    for range_ms in INTERVALS.values():
        kline = json.loads(ex.kline(symbol, range_ms))
        assert kline["timestamp"] == ex.now_ms - ex.now_ms % range_ms
        window = [t for t in log if t.timestamp_ms >= kline["timestamp"]]
        assert D(kline["quantity"]) == sum((t.quantity for t in window), D(0))
        assert D(kline["last"]) == newest.price  # the close is the latest trade
        low, high = D(kline["min"]), D(kline["max"])
        assert all(low <= t.price <= high for t in window)
        if window:
            assert D(kline["first"]) == window[0].price
            assert low == min(t.price for t in window) and high == max(t.price for t in window)
        for t in tickers:
            if t["timestamp"] >= kline["timestamp"]:
                assert low <= D(t["price"]) <= high


def test_channels_agree_over_a_simulated_minute():
    ex = SimulatedExchange(seed=11, start_ms=START)
    for n in run(ex, 60):
        if n % 10 == 0:   # once a simulated second, every symbol
            for symbol in ex.symbols:
                check_book_channels(ex, symbol)
                check_trade_channels(ex, symbol)
    # the whole run sits inside one hour: its candle holds every trade of the run
    for symbol in ex.symbols:
        kline = json.loads(ex.kline(symbol, HOUR))
        assert D(kline["quantity"]) == sum(t.quantity for t in ex.state(symbol).trades) > 0


def test_a_candle_without_trades_yet_is_flat_at_the_previous_close():
    ex = SimulatedExchange(seed=2, start_ms=START)
    boundary = START + 120_000 - START % 60_000
    ex.advance(boundary)
    checked = 0
    for symbol in ex.symbols:
        st = ex.state(symbol)
        if st.trades[-1].timestamp_ms == boundary:
            continue
        dp = st.spec.price_decimals
        close = f"{st.trades[-1].price:.{dp}f}"
        kline = json.loads(ex.kline(symbol, 60_000))
        assert kline == {"symbol": symbol.replace("_", "/"), "first": close, "last": close,
                         "max": close, "min": close, "quantity": "0.00000000",
                         "timestamp": boundary}
        checked += 1
    assert checked


def test_payloads_have_the_samples_keys_and_decimals():
    ex = SimulatedExchange(seed=1, start_ms=START)
    for _ in run(ex, 10):
        pass
    depth = json.loads(ex.depth("BTC_USD"))
    assert list(depth) == sample_keys("depth.json")
    assert list(depth["asks"][0]) == ["price", "quantity", "stepValue"]
    book = json.loads(ex.order_book("ETH_BTC", "0.000001"))
    assert list(book) == sample_keys("orderbook.json")
    assert list(book["asks"][0]) == ["amount", "limitPrice", "quantity"]
    assert decimals(book["asks"][0]["amount"]) == 8 and decimals(book["asks"][0]["limitPrice"]) == 6
    assert list(json.loads(ex.kline("BTC_USD", 60_000))) == sample_keys("kline.json")
    tickers = json.loads(ex.tickers("ETH_BTC"))
    assert list(tickers[0]) == sample_keys("tickers.json")
    assert decimals(tickers[0]["price"]) == 8 and decimals(tickers[0]["quantity"]) == 4
    assert json.loads(ex.tickers("BTC_USD"))[0]["symbol"] == "BTC/USD"
    assert b" " not in ex.depth("BTC_USD")  # compact, like the samples
    pushes = ex.take_private()
    first = {channel: json.loads(payload) for channel, payload in reversed(pushes)}
    assert list(first["asset"]) == sample_keys("asset_change.json")
    assert list(first["asset"]["asset"][0]) == list(
        json.loads((SAMPLES / "asset_change.json").read_text())["asset"][0])
    assert list(first["order"]) == sample_keys("order_change.constructed.json")
    assert list(first["fill"]) == sample_keys("trade_change.json")
    assert isinstance(first["fill"]["utcDeal"], str)


def test_unknown_symbols_steps_and_ranges_are_refused():
    ex = SimulatedExchange(seed=1, start_ms=START)
    for call in (ex.depth, ex.tickers, lambda s: ex.order_book(s, "0.01"),
                 lambda s: ex.kline(s, 60_000)):
        with pytest.raises(KeyError):
            call("DOGE_USD")
    with pytest.raises(ValueError):
        ex.order_book("BTC_USD", "0.00000001")  # a crypto step on a fiat pair
    with pytest.raises(ValueError):
        ex.order_book("ETH_BTC", "0.01")
    with pytest.raises(ValueError):
        ex.kline("BTC_USD", 120_000)
    assert ex.symbols == DEFAULT_SYMBOLS and len(DEFAULT_SYMBOLS) >= 3


# -- determinism -----------------------------------------------------------------------
def snapshot(ex: SimulatedExchange) -> list[bytes]:
    out = [payload for _, payload in ex.take_private()]
    for s in ex.symbols:
        out += [ex.depth(s), ex.tickers(s), ex.kline(s, 60_000)]
        out += [ex.order_book(s, step) for step in documented_steps(s)]
    return out


def test_same_seed_and_clock_give_the_same_bytes():
    a = SimulatedExchange(seed=5, start_ms=START)
    b = SimulatedExchange(seed=5, start_ms=START)
    for ex in (a, b):
        for _ in run(ex, 20, step_ms=70):
            pass
    assert snapshot(a) == snapshot(b)
    assert a.account == b.account


def test_the_result_does_not_depend_on_how_the_clock_was_advanced():
    a = SimulatedExchange(seed=5, start_ms=START)
    b = SimulatedExchange(seed=5, start_ms=START)
    for _ in run(a, 20, step_ms=50):
        pass
    b.advance(START + 7_777)
    b.advance(START + 20_000)
    assert snapshot(a) == snapshot(b)


def test_different_seeds_differ():
    a = SimulatedExchange(seed=5, start_ms=START)
    b = SimulatedExchange(seed=6, start_ms=START)
    a.advance(START + 5_000)
    b.advance(START + 5_000)
    assert a.account != b.account
    for s in DEFAULT_SYMBOLS:
        assert a.depth(s) != b.depth(s) and a.tickers(s) != b.tickers(s)


# -- the demo account's private channels -----------------------------------------------
BALANCE = re.compile(rb'"(available|total)":(\d+\.(\d+))')


def test_every_private_channel_pushes_every_few_seconds():
    ex = SimulatedExchange(seed=9, start_ms=START)
    ex.take_private()
    last = {"asset": START, "order": START, "fill": START}
    for _ in run(ex, 30):
        for channel, _payload in ex.take_private():
            assert ex.now_ms - last[channel] <= 5_000, channel
            last[channel] = ex.now_ms
    assert all(ex.now_ms - t <= 5_000 for t in last.values()), last


def test_private_pushes_agree_with_the_ledger_and_each_other():
    ex = SimulatedExchange(seed=4, start_ms=START)
    pushes = []
    for _ in run(ex, 30):
        pushes += ex.take_private()
    balances: dict[str, tuple[Decimal, Decimal]] = {}
    fills: dict[str, list[dict]] = {}
    for n, (channel, payload) in enumerate(pushes):
        if channel == "asset":
            for m in BALANCE.finditer(payload):
                assert len(m.group(3)) == 30
            data = json.loads(payload, parse_float=Decimal)
            assert data["email"] == ex.account.email and data["userNo"] == ex.account.user_no
            for line in data["asset"]:
                assert isinstance(line["total"], Decimal)
                balances[line["currency"]] = (line["total"], line["available"])
        elif channel == "fill":
            fill = json.loads(payload)
            fills.setdefault(fill["orderNo"], []).append(fill)
            # each fill is followed by its order's new state, then the balances it moved
            order = json.loads(pushes[n + 1][1])
            assert pushes[n + 1][0] == "order" and order["orderNo"] == fill["orderNo"]
            assert pushes[n + 2][0] == "asset"
            base, quote = fill["symbol"].split("/")
            assert {a["currency"] for a in json.loads(pushes[n + 2][1])["asset"]} == {base, quote}
        elif channel == "order":
            order = json.loads(payload)
            done = fills.get(order["orderNo"], [])
            filled = sum((D(f["quantity"]) for f in done), D(0))
            assert D(order["quantity"]) - D(order["quantityRemaining"]) == filled
            assert order["state"] in ("NEW", "DEAL", "CANCEL")
            assert (order["state"] == "DEAL") == (D(order["quantityRemaining"]) == 0)
            if filled:
                average = sum(D(f["price"]) * D(f["quantity"]) for f in done) / filled
                assert D(order["priceAverage"]) == average.quantize(D("1e-8"))
    assert fills and any(f["matchType"] == "MAKER" for fs in fills.values() for f in fs)
    for currency, (total, available) in balances.items():
        bal = ex.demo_balance(currency)
        assert (total, available) == (bal.total, bal.available)
    assert set(balances) == {"USD", "BTC", "ETH", "LTC", "XRP"}


# -- speed -----------------------------------------------------------------------------
def test_a_simulated_second_costs_well_under_10_ms():
    ex = SimulatedExchange(seed=1, start_ms=START)
    began = time.perf_counter()
    for _ in run(ex, 120):
        pass
    per_second_ms = (time.perf_counter() - began) / 120 * 1000
    print(f"advance(): {per_second_ms:.2f} ms per simulated second, "
          f"{len(ex.symbols)} symbols")
    assert per_second_ms < 10
