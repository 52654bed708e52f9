"""Live views' reducers and number formatting: pure functions, no terminal."""
from dataclasses import replace
from decimal import Decimal as D
from pathlib import Path

from coinsuper_cli.api.channels import new_parser
from coinsuper_cli.api.records import Asset, Fill, Kline, Order, Trade
from coinsuper_cli.live.account_state import (AssetsState, FillsState, OrdersState, locked,
                                              reduce_assets, reduce_fills, reduce_orders)
from coinsuper_cli.live.figures import align, signed_percent, trim
from coinsuper_cli.live.state import (MAX_CANDLES, BookState, CandlesState, DepthState,
                                      TapeState, changed_levels, levels_with_totals,
                                      reduce_book, reduce_candles, reduce_depth,
                                      reduce_trades, spread_and_mid, tape_stats)

SAMPLES = Path(__file__).parent / "samples"


def sample(channel, name):
    return new_parser(channel, range="60000")((SAMPLES / name).read_bytes())


def kline(ts, close, high=None, volume="1"):
    close = D(close)
    return Kline("BTC_USD", "1m", ts, D("100.00"), high and D(high) or max(close, D(100)),
                 min(close, D(100)), close, D(volume))


def trade(ts, price, qty="1.0", side="buy"):
    return Trade("BTC_USD", ts, D(price), D(qty), side)


def order(no, state="NEW", remaining="1.0", created=1):
    return Order("BTC_USD", no, "buy", state, D("10.00"), D("1.0"), D(remaining), D(0),
                 D("10.00"), D("10.00"), D(0), created, created)


# --- candles -------------------------------------------------------------------------

def test_candles_update_in_place_then_roll_over_on_a_new_timestamp():
    state = reduce_candles(CandlesState(), [kline(60_000, "101.00")], 1)
    state = reduce_candles(state, [kline(60_000, "102.50", volume="3")], 2)
    assert len(state.candles) == 1 and state.candles[0].close == D("102.50")
    state = reduce_candles(state, [kline(120_000, "99.00")], 3)
    assert [c.ts for c in state.candles] == [60_000, 120_000]
    assert state.candles[0].close == D("102.50")  # the old candle keeps its last push
    assert state.candles[1].close == D("99.00") and state.updated == 3


def test_a_late_push_for_an_older_candle_replaces_it_in_order():
    state = reduce_candles(CandlesState(), [kline(60_000, "101"), kline(180_000, "103")], 1)
    state = reduce_candles(state, [kline(120_000, "102")], 2)
    state = reduce_candles(state, [kline(60_000, "100.5")], 3)
    assert [(c.ts, c.close) for c in state.candles] == [
        (60_000, D("100.5")), (120_000, D("102")), (180_000, D("103"))]


def test_candles_are_bounded():
    state = CandlesState()
    for i in range(MAX_CANDLES + 10):
        state = reduce_candles(state, [kline(i * 60_000, "100")], i)
    assert len(state.candles) == MAX_CANDLES and state.candles[-1].ts == (MAX_CANDLES + 9) * 60_000


# --- book and depth ------------------------------------------------------------------

def test_book_levels_changed_since_the_last_push():
    first = sample("book", "orderbook.json")[0]
    state = reduce_book(BookState(), [first], 1)
    assert state.changed == frozenset()  # the first push lights up nothing
    second = replace(first, asks=((D("6674.89"), D("0.0600")),) + first.asks[1:],
                     bids=first.bids[1:] + ((D("6600.00"), D("1.0000")),))
    state = reduce_book(state, [second], 2)
    assert state.changed == {("ask", D("6674.89")), ("bid", D("6600.00"))}
    assert state.book is second and state.updated == 2
    # a level with the same price and quantity is unchanged even if written differently
    assert changed_levels(second, replace(second)) == frozenset()


def test_cumulative_totals_and_spread_mid_from_the_sample():
    book = sample("book", "orderbook.json")[0]
    rows = levels_with_totals(book.asks)
    assert rows[:3] == [(D("6674.89"), D("0.0524"), D("0.0524")),
                        (D("6674.96"), D("0.2399"), D("0.2923")),
                        (D("6675.02"), D("0.2613"), D("0.5536"))]
    assert spread_and_mid(book.bids[0][0], book.asks[0][0]) == (D("0.33"), D("6674.725"))
    assert str(spread_and_mid(D("6600.56"), D("6602.60"))[1]) == "6601.58"


def test_depth_keeps_the_latest_push():
    depth = sample("depth", "depth.json")[0]
    state = reduce_depth(DepthState(), [depth], 5)
    assert state.depth.best_bid == D("6674.56") and state.updated == 5
    assert reduce_depth(state, [], 6) is state


# --- trades --------------------------------------------------------------------------

def test_tape_marks_each_trade_against_the_previous_one():
    state = reduce_trades(TapeState(), [trade(1, "10.0"), trade(2, "10.5")], 100)
    state = reduce_trades(state, [trade(3, "10.5"), trade(4, "10.1")], 200)
    assert [e.tick for e in state.entries] == [0, 1, 0, -1]
    assert state.updated == 200


def test_tape_stats_over_the_rolling_window():
    base = 1_000_000
    trades = [trade(base - 120_000, "90.00", "5"),  # outside the minute
              trade(base - 50_000, "100.00", "1.0", "buy"),
              trade(base - 20_000, "110.00", "3.0", "sell"),
              trade(base, "101.00", "1.0", "buy")]
    state = reduce_trades(TapeState(), trades, recv_ms=base)
    stats = tape_stats(state, now_ms=base)
    assert stats.last.price == D("101.00") and stats.last_tick == -1
    assert (stats.buy_volume, stats.sell_volume, stats.trades) == (D("2.0"), D("3.0"), 3)
    assert stats.per_minute == D("3.0")
    assert stats.vwap == D("106.20")  # (100 + 330 + 101) / 5, to the prices' precision
    # 30 s later with no trade, the window has slid past the first buy
    later = tape_stats(state, now_ms=base + 30_000)
    assert (later.trades, later.buy_volume, later.sell_volume) == (2, D("1.0"), D("3.0"))
    assert tape_stats(state, now_ms=base + 61_000).vwap is None


def test_tape_stats_follow_the_exchange_clock_not_the_local_one():
    # The sample's trades are from 2018; received now, the newest still counts.
    now = 2_000_000_000_000
    state = reduce_trades(TapeState(), sample("trade", "tickers.json"), recv_ms=now)
    stats = tape_stats(state, now_ms=now)
    assert stats.trades == 1 and stats.last.price == D("6089.34")
    assert stats.buy_volume == D("0.4337")


def test_tape_keeps_what_the_window_and_the_screen_need():
    state = TapeState()
    for i in range(1000):
        state = reduce_trades(state, [trade(i * 1000, "10")], i)
    assert 200 <= len(state.entries) <= 261
    assert state.entries[-1].trade.ts == 999_000


# --- account -------------------------------------------------------------------------

def test_orders_update_in_place_and_leave_when_cancelled_or_filled():
    state = reduce_orders(OrdersState(), [order("1", created=1), order("2", created=2)], 10)
    assert [o.order_no for o in state.open] == ["2", "1"]  # newest first
    state = reduce_orders(state, [order("1", remaining="0.4", created=1)], 11)
    assert [o.qty_remaining for o in state.open] == [D("1.0"), D("0.4")]
    assert state.changed == {"1"}
    state = reduce_orders(state, [order("2", state="CANCEL", created=2)], 12)
    assert [o.order_no for o in state.open] == ["1"] and state.cancelled == 1
    state = reduce_orders(state, [order("1", state="DEAL", remaining="0", created=1)], 13)
    assert state.open == () and (state.filled, state.cancelled) == (1, 1)
    assert [(o.order_no, how) for o, how in state.closed] == [("1", "filled"),
                                                               ("2", "cancelled")]


def test_an_unknown_state_keeps_the_order_open():
    state = reduce_orders(OrdersState(), [order("7", state="PARTIAL", remaining="0.5")], 1)
    assert [o.state for o in state.open] == ["PARTIAL"]


def test_the_sample_order_is_open():
    state = reduce_orders(OrdersState(), sample("order", "order_change.constructed.json"), 1)
    assert state.open[0].order_no == "1616392747273428993"


def test_balances_replace_by_currency_and_lock_the_difference():
    state = reduce_assets(AssetsState(), sample("asset", "asset_change.json"), 1)
    btc, usd = state.balances
    assert locked(btc) == D("0.568000000000000000000000000000") and locked(usd) == 0
    newer = Asset(2, "BTC", D("2.0"), D("2.0"), 2)
    state = reduce_assets(state, [newer], 2)
    assert state.balances == (newer, usd) and state.changed == {"BTC"}


def test_fills_accumulate_oldest_first():
    fill = sample("fill", "trade_change.json")[0]
    other = Fill("BTC_USD", "9", "8", "LMT", "maker", "sell", D("1"), D("2"), 5)
    state = reduce_fills(reduce_fills(FillsState(), [fill], 1), [other], 2)
    assert state.fills == (fill, other)


# --- formatting ----------------------------------------------------------------------

def test_align_on_the_decimal_point_without_inventing_digits():
    assert align([D("6674.89"), D("12.5"), D("100"), D("0.0001")]) == [
        "6674.89  ", "  12.5   ", " 100     ", "   0.0001"]


def test_trim_drops_only_trailing_zeros_past_the_kept_decimals():
    assert str(trim(D("1.306763122563248000000000000000"))) == "1.306763122563248"
    assert str(trim(D("2.000000000000000000000000000000"))) == "2.00000000"
    # more digits than Decimal's default context holds: none rounded away
    assert str(trim(D("3226.0582578800000000000000000000001"))) == \
        "3226.0582578800000000000000000000001"
    assert str(trim(D("1234.56000000"), 2)) == "1234.56"


def test_signed_percent():
    assert signed_percent(D("0.05"), D("100")) == "+0.05%"
    assert signed_percent(D("-1"), D("8")) == "-12.50%"
    assert signed_percent(D("1"), D("0")) == "n/a"
