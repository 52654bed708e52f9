"""The board's renderables as text: a stale row says so in words, an alert marks its
row, the selected row is marked with > (readable without colour), columns give way
when narrow, and an asset without a price path says so instead of counting as 0."""
import io
from decimal import Decimal as D
from functools import partial

from rich.console import Console

from coinsuper_cli.api.records import Depth, Kline
from coinsuper_cli.live.board import (FLASH_MS, BoardScreen, BoardSnapshot, BoardTable,
                                      HoldingsTable)
from coinsuper_cli.live.status_line import Status
from coinsuper_cli.markets.alerts import parse_alert
from coinsuper_cli.markets.board import BoardState, prices, reduce_board
from coinsuper_cli.markets.portfolio import Lot, summarize, value_assets, value_lots
from coinsuper_cli.markets.view import BoardView

DAY = 1_796_256_000_000


def text(renderable, width=80) -> list[str]:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(renderable)
    return console.file.getvalue().splitlines()


def board(alerts=()):
    state = BoardState.start(["BTC_USD", "ETH_BTC", "XRP_BTC"], alerts)
    for symbol, close, recv in (("BTC_USD", "6600.50", 10_000), ("ETH_BTC", "0.0300", 1)):
        state, _ = reduce_board(state, [
            Kline(symbol, "1d", DAY, D(close), D(close), D(close), D(close), D(1)),
            Depth(symbol, D(close), D(close), D("0.01"), (), ())], recv)
    return state


def test_stale_waiting_and_selected_rows_read_in_words():
    lines = text(BoardTable(board(), BoardView(), now_ms=12_000))
    by_symbol = {line.split()[1] if line.startswith(">") else line.split()[0]: line
                 for line in lines[1:]}
    assert lines[1].startswith(">")  # the first row is selected
    assert by_symbol["ETH_BTC"].rstrip().endswith("stale")  # 12 s without a candle
    assert not by_symbol["BTC_USD"].rstrip().endswith("stale")
    assert by_symbol["XRP_BTC"].rstrip().endswith("waiting")


def test_an_alert_marks_its_row_for_a_few_seconds():
    state = board((parse_alert("BTC_USD>1"),))
    fired_at = state.fired[-1][0]
    row = [line for line in text(BoardTable(state, BoardView(), now_ms=fired_at + 100))
           if "BTC_USD" in line]
    assert row[0].rstrip().endswith("ALERT")
    later = text(BoardTable(state, BoardView(), now_ms=fired_at + FLASH_MS + 1))
    assert not any("ALERT" in line for line in later)


def test_columns_give_way_when_narrow_and_a_filter_with_no_match_says_so():
    wide, narrow = (text(BoardTable(board(), BoardView(), now_ms=10_000), width)
                    for width in (140, 50))
    assert "trend" in wide[0] and "day low-high" in wide[0]
    assert all(len(line) <= 50 for line in narrow) and "last" in narrow[0]
    empty = text(BoardTable(board(), BoardView(filter="DOGE"), now_ms=0))
    assert empty == ["no market holds 'DOGE'"]


def test_holdings_name_what_has_no_price_and_lots_show_gain():
    rows = board().rows
    value = partial(value_assets, {"BTC": D("2"), "XRP": D("9")}, "USD")
    lines = text(HoldingsTable(summarize(value, prices(rows), prices(rows, "first"),
                                         prices(rows, "open")), title="holdings"))
    assert any(line.split()[:2] == ["XRP", "9"] and "no price" in line for line in lines)
    assert any(line.startswith("total 13201.00 USD (without XRP: no price)")
               for line in lines)
    lots = partial(value_lots, (Lot("BTC_USD", D("1"), D("6000")),), "USD")
    lines = text(HoldingsTable(summarize(lots, prices(rows), {}, {}), title="lots"))
    assert any("▲ +600.50 USD" in line for line in lines)  # the lot's gain


def test_the_screen_without_a_holdings_pane_leaves_its_space_blank():
    snapshot = BoardSnapshot(board(), BoardView(), Status("ws://x/mqtt", False, ("subscribed",)))
    console = Console(file=io.StringIO(), width=80, height=24, color_system=None)
    console.print(BoardScreen(snapshot, now_ms=10_000, now=0.0), height=24)
    lines = console.file.getvalue().splitlines()
    assert not any("Layout" in line or "╭" in line for line in lines)
    assert lines[-2].startswith("sort change")
