"""The board's keys and order: sort cycling and reversing, filtering as typed, moving
the selection, Enter into watch and Esc back, q; arrows as the terminal sends them."""
from decimal import Decimal as D

from coinsuper_cli.api.records import Depth, Kline
from coinsuper_cli.markets.board import BoardState, reduce_board
from coinsuper_cli.markets.view import (DOWN, ENTER, ESC, UP, BoardView, on_key,
                                        selected_row, sparkline, split_keys, visible)

DAY = 1_796_256_000_000


def board():
    state = BoardState.start(["BTC_USD", "ETH_USD", "ETH_BTC", "XRP_BTC"])
    for symbol, open_, close, volume, bid, ask in (
            ("BTC_USD", "100", "110", "5", "109", "111"),   # +10%, value 550, spread 2
            ("ETH_USD", "100", "95", "50", "94.9", "95.0"),  # -5%, value 4750, spread 0.1
            ("ETH_BTC", "1", "1.01", "900", "1.00", "1.02")):  # +1%, value 909, spread 0.02
        state, _ = reduce_board(state, [
            Kline(symbol, "1d", DAY, D(open_), D(close), D(open_), D(close), D(volume)),
            Depth(symbol, D(ask), D(bid), D("0.01"), (), ())], 1)
    return state.rows  # XRP_BTC: nothing yet


def order(view):
    return [row.symbol for row in visible(board(), view)]


def test_each_sort_column_and_its_reverse_with_unknown_rows_last():
    view = BoardView()
    assert order(view) == ["BTC_USD", "ETH_BTC", "ETH_USD", "XRP_BTC"]  # change, down
    seen = []
    for _ in range(5):
        view = on_key(view, "s", [])
        seen.append((view.sort, order(view)))
    assert seen == [
        ("name", ["BTC_USD", "ETH_BTC", "ETH_USD", "XRP_BTC"]),
        ("volume", ["ETH_BTC", "ETH_USD", "BTC_USD", "XRP_BTC"]),
        ("spread", ["ETH_BTC", "ETH_USD", "BTC_USD", "XRP_BTC"]),
        ("value", ["ETH_USD", "ETH_BTC", "BTC_USD", "XRP_BTC"]),
        ("change", ["BTC_USD", "ETH_BTC", "ETH_USD", "XRP_BTC"]),
    ]
    assert order(on_key(view, "S", [])) == ["ETH_USD", "ETH_BTC", "BTC_USD", "XRP_BTC"]


def test_typing_a_filter_then_enter_keeps_it_and_esc_clears_it():
    view = BoardView()
    for key in ["/", "e", "t", "h", "q"]:  # q is a letter while typing
        view = on_key(view, key, [])
    assert view.typing and view.filter == "ethq" and not view.quit
    view = on_key(view, "backspace", [])
    view = on_key(view, ENTER, [])
    assert not view.typing and order(view) == ["ETH_BTC", "ETH_USD"]
    assert on_key(view, ESC, []).filter == ""
    assert on_key(on_key(BoardView(), "/", []), ESC, []).filter == ""


def test_moving_the_selection_stays_within_the_rows_shown():
    view = BoardView()
    rows = visible(board(), view)
    assert selected_row(rows, view).symbol == "BTC_USD"
    for key in (DOWN, "j", "j", "j", "j"):
        view = on_key(view, key, rows)
    assert view.selected == "XRP_BTC"
    view = on_key(on_key(view, UP, rows), "k", rows)
    assert view.selected == "ETH_BTC"


def test_enter_opens_watch_of_the_selected_market_esc_comes_back_q_quits():
    rows = visible(board(), BoardView())
    view = on_key(on_key(BoardView(), DOWN, rows), ENTER, rows)
    assert view.watching == "ETH_BTC"
    assert on_key(view, "s", rows) == view  # the board's keys wait
    back = on_key(view, ESC, rows)
    assert back.watching is None and back.selected == "ETH_BTC"
    assert on_key(view, "q", rows).quit and on_key(BoardView(), "q", rows).quit


def test_keys_are_split_as_terminals_send_them():
    assert split_keys("j\x1b[A\x1bOB\x1b\r/x\x7f\x1b[1;5C") == [
        "j", UP, DOWN, ESC, ENTER, "/", "x", "backspace"]


def test_sparkline_spans_low_to_high():
    assert sparkline((D(1), D(2), D(3)), 10) == "▁▄█"
    assert sparkline((D(5),) * 3, 2) == "▄▄" and sparkline((), 5) == ""
