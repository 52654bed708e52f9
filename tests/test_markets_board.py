"""The board's reducer: tickers from day candles and depth, only when they change, the
sparkline's prices, and alerts as records."""
from decimal import Decimal as D

from coinsuper_cli.api.records import AlertRecord, Depth, Kline, Ticker, Trade
from coinsuper_cli.markets.alerts import parse_alert
from coinsuper_cli.markets.board import (SPARK_POINTS, BoardParser, BoardState,
                                         reduce_board, spread_pct)

DAY = 1_796_256_000_000


def kline(symbol="BTC_USD", close="6600.50", open_="6500.00"):
    return Kline(symbol, "1d", DAY, D(open_), D("6700"), D("6400"), D(close), D("123.4"))


def depth(symbol="BTC_USD", bid="6600.00", ask="6601.00"):
    return Depth(symbol, D(ask), D(bid), D("0.01"), (), ())


def test_a_ticker_comes_once_both_the_day_candle_and_the_depth_have():
    state = BoardState.start(["BTC_USD", "ETH_USD"])
    _, out = reduce_board(state, [kline()], 1)
    assert out == []  # no depth yet: a ticker has every key or none
    state, out = reduce_board(state, [depth()], 1)
    assert out == []  # no candle yet: no last price to show
    state, out = reduce_board(state, [kline()], 2)
    assert out == [Ticker("BTC_USD", DAY, D("6600.50"), D("6500.00"), D("6700"), D("6400"),
                          D("123.4"), D("100.50"), D("1.55"), D("6600.00"), D("6601.00"),
                          D("1.00"))]
    assert state.rows["BTC_USD"].kline_ms == 2 and state.rows["BTC_USD"].depth_ms == 1


def test_a_push_that_changes_nothing_gives_no_ticker():
    state, _ = reduce_board(BoardState.start(["BTC_USD"]), [kline(), depth()], 1)
    same, out = reduce_board(state, [kline(), depth()], 2)
    assert out == []
    _, out = reduce_board(state, [depth(bid="6599.99")], 3)
    assert [t.bid for t in out] == [D("6599.99")]


def test_markets_off_the_board_and_other_records_are_ignored():
    state = BoardState.start(["BTC_USD"])
    after, out = reduce_board(state, [kline("ETH_USD"),
                                      Trade("BTC_USD", 1, D(1), D(1), "buy")], 1)
    assert after is state and out == []


def test_change_pct_is_two_places_and_a_zero_open_is_no_division():
    state, out = reduce_board(BoardState.start(["BTC_USD"]),
                              [depth(), kline(close="1", open_="3")], 1)
    assert out[0].change == D("-2") and out[0].change_pct == D("-66.67")
    _, out = reduce_board(BoardState.start(["BTC_USD"]),
                          [depth(), kline(close="1", open_="0")], 1)
    assert out[0].change_pct == D("0.00")


def test_the_sparkline_keeps_the_latest_distinct_prices():
    state = BoardState.start(["BTC_USD"])
    for i in range(SPARK_POINTS + 5):
        state, _ = reduce_board(state, [kline(close=str(6000 + i))], i)
        state, _ = reduce_board(state, [kline(close=str(6000 + i))], i)  # a repeat
    row = state.rows["BTC_USD"]
    assert len(row.prices) == SPARK_POINTS and row.prices[-1] == D(6000 + SPARK_POINTS + 4)
    assert row.first == D(6000)


def test_alerts_become_records_after_the_ticker_and_are_remembered():
    alerts = (parse_alert("BTC_USD>6600"), parse_alert("BTC_USD.spread%>0.01"))
    state = BoardState.start(["BTC_USD"], alerts)
    state, out = reduce_board(state, [depth(ask="6600.50"), kline(close="6599")], 1)
    assert [type(r) for r in out] == [Ticker]  # spread 0.008% and 6599: neither holds
    state, out = reduce_board(state, [kline(close="6601"), depth(ask="6601.00")], 2)
    assert out[-2:] == [AlertRecord("BTC_USD", "BTC_USD>6600", D("6601")),
                        AlertRecord("BTC_USD", "BTC_USD.spread%>0.01", D("0.015"))]
    assert [alert for _, alert in state.fired] == out[-2:]
    _, out = reduce_board(state, [kline(close="6602")], 3)
    assert all(isinstance(r, Ticker) for r in out)  # still true: no second alert


def test_spread_pct_is_of_the_mid_price():
    assert spread_pct(D("99"), D("101")) == D("2.000")
    assert spread_pct(None, D("1")) is None and spread_pct(D(0), D(0)) is None


def test_the_parser_wrapper_turns_pushes_into_board_records():
    board = BoardParser(BoardState.start(["BTC_USD"], (parse_alert("BTC_USD>1"),)),
                        clock_ms=lambda: 42)
    parse = board.wrap(lambda payload: [depth(), kline()])
    out = parse(b"{}")
    assert [r.channel for r in out] == ["ticker", "alert"]
    assert parse(b"{}") == [] and board.state.rows["BTC_USD"].kline_ms == 42


def test_numbers_out_of_any_markets_range_are_a_payload_error_and_change_nothing():
    import pytest

    from coinsuper_cli.errors import PayloadError

    state, _ = reduce_board(BoardState.start(["BTC_USD"]), [kline(), depth()], 1)
    for bad in ([kline(close="1" + "0" * 40)], [kline(open_="1E-999999")],
                [depth(bid="1E+999999")], [kline(), depth(ask="-1" + "0" * 30)]):
        with pytest.raises(PayloadError, match="out of any market's range"):
            reduce_board(state, bad, 2)
    # the largest and smallest accepted still make a ticker, without overflow
    _, out = reduce_board(state, [kline(close="1E+20", open_="1E-20")], 3)
    assert D("1E+41") < out[0].change_pct < D("1E+43")


def test_the_parser_wrapper_skips_an_out_of_range_push_as_the_pump_skips_bad_payloads():
    import pytest

    from coinsuper_cli.errors import PayloadError

    board = BoardParser(BoardState.start(["BTC_USD"]), clock_ms=lambda: 1)
    parse = board.wrap(lambda payload: [depth(), kline(close=payload.decode())])
    assert [r.channel for r in parse(b"6600.50")] == ["ticker"]
    with pytest.raises(PayloadError):
        parse(b"1" + b"0" * 30)
    assert [r.last for r in parse(b"6601.00")] == [D("6601.00")]  # and it goes on
