"""Live views rendered without a terminal, from the shared samples: the right numbers in
the right places, at widths 80 and 120."""
import io
import re
import time
from decimal import Decimal as D
from pathlib import Path

import pytest
from rich.console import Console

from coinsuper_cli.api.channels import new_parser
from coinsuper_cli.api.records import Kline
from coinsuper_cli.live.account_state import (AssetsState, FillsState, OrdersState,
                                              reduce_assets, reduce_fills, reduce_orders)
from coinsuper_cli.live.balances import BalancesTable
from coinsuper_cli.live.candles import CandlesView
from coinsuper_cli.live.dashboard import Dashboard
from coinsuper_cli.live.depth_chart import DepthChart
from coinsuper_cli.live.figures import local_time
from coinsuper_cli.live.fills_tape import FillsTape
from coinsuper_cli.live.ladder import BookLadder
from coinsuper_cli.live.model import LiveModel
from coinsuper_cli.live.orders_table import OrdersTable
from coinsuper_cli.live.state import (BookState, CandlesState, DepthState, TapeState,
                                      reduce_book, reduce_candles, reduce_depth,
                                      reduce_trades)
from coinsuper_cli.live.status_line import Status, StatusLine
from coinsuper_cli.live.tape import TradeTape
from coinsuper_cli.net.plans import Credentials, Target, private_plan, public_plan

SAMPLES = Path(__file__).parent / "samples"
WIDTHS = [80, 120]
RECV = 1_700_000_000_000
REVERSE = re.compile(r"\x1b\[(?:\d+;)*7(?:;\d+)*m")  # an SGR sequence turning on reverse video


def sample(channel, name):
    return new_parser(channel, range="60000")((SAMPLES / name).read_bytes())


def render(renderable, width, height=24, **console_options) -> list[str]:
    console = Console(file=io.StringIO(), width=width, height=height, **console_options)
    console.print(renderable)
    return console.file.getvalue().splitlines()


def cells(line: str) -> list[str]:
    return line.split()


# --- the book ladder -----------------------------------------------------------------

@pytest.mark.parametrize("width", WIDTHS)
def test_ladder_levels_spread_and_alignment(width):
    book = sample("book", "orderbook.json")[0]
    lines = render(BookLadder(reduce_book(BookState(), [book], RECV), now_ms=RECV),
                   width, height=24)
    assert len(lines) == 24 and all(len(line) <= width for line in lines)
    assert cells(lines[0]) == ["price", "qty", "total"]
    spread_at = next(i for i, line in enumerate(lines) if "spread" in line)
    assert cells(lines[spread_at])[:2] == ["spread", "0.33"]
    assert "mid 6674.725" in lines[spread_at]
    # 22 rows: 11 asks above the spread, best nearest it; 11 bids below, best first
    assert spread_at == 12
    asks = [cells(line)[:3] for line in lines[1:spread_at]]
    bids = [cells(line)[:3] for line in lines[spread_at + 1:]]
    total = D(0)
    for price, qty in book.asks[:11]:
        total += qty
        assert asks.pop() == [str(price), str(qty), str(total)]
    total = D(0)
    assert len(bids) == 11
    for (price, qty), row in zip(book.bids, bids):
        total += qty
        assert row == [str(price), str(qty), str(total)]
    dots = {line.index(".") for line in lines[1:] if line and "spread" not in line}
    assert len(dots) == 1  # every price's decimal point in one column


def test_ladder_fits_a_short_panel_and_keeps_the_best_levels():
    book = sample("book", "orderbook.json")[0]
    lines = render(BookLadder(reduce_book(BookState(), [book], RECV), now_ms=RECV), 40,
                   height=8)
    assert [cells(line)[0] for line in lines] == [
        "price", "6675.02", "6674.96", "6674.89", "spread", "6674.56", "6617.89", "6617.84"]


def test_ladder_highlights_changed_levels_briefly():
    book = sample("book", "orderbook.json")[0]
    moved = book.__class__(book.symbol, book.ts, book.step,
                           ((D("6674.89"), D("9.0000")),) + book.asks[1:], book.bids)
    state = reduce_book(reduce_book(BookState(), [book], RECV), [moved], RECV + 1000)
    colour = {"force_terminal": True, "color_system": "standard"}
    fresh = render(BookLadder(state, now_ms=RECV + 1200), 80, 10, **colour)
    changed = [line for line in fresh if REVERSE.search(line)]
    assert len(changed) == 1 and "6674.89" in changed[0] and "9.0000" in changed[0]
    later = render(BookLadder(state, now_ms=RECV + 5000), 80, 10, **colour)
    assert not any(REVERSE.search(line) for line in later)


# --- the depth chart -----------------------------------------------------------------

@pytest.mark.parametrize("width", WIDTHS)
def test_depth_chart_header_sides_and_axis(width):
    depth = sample("depth", "depth.json")[0]
    lines = render(DepthChart(reduce_depth(DepthState(), [depth], RECV)), width, height=16)
    assert len(lines) == 16
    header = lines[0]
    for text in ("bid 6674.56", "ask 6674.89", "spread 0.33", "mid 6674.725"):
        assert text in header
    axis = cells(lines[-1])
    assert axis[1] == "6674.725" and D(axis[0]) < D("6347.65") and D(axis[2]) >= D("7008.45")
    chart = lines[1:-1]
    assert chart[0].split()[0] == "525.2"  # the tallest cumulative quantity, top left
    assert chart[-1].split()[0] == "0"
    gutter = chart[-1].index("0") + 2
    middle = gutter + (width - gutter) // 2
    bottom = chart[-1]
    assert "█" in bottom[gutter:middle] and "█" in bottom[middle:]  # bids left, asks right
    # the asks' cumulative quantity (525) dwarfs the bids' (181): only they reach the top
    assert "█" in chart[0][middle:] and "█" not in chart[0][:middle]


def test_depth_chart_colours_bids_green_and_asks_red():
    depth = sample("depth", "depth.json")[0]
    lines = render(DepthChart(reduce_depth(DepthState(), [depth], RECV)), 80, 12,
                   force_terminal=True, color_system="standard")
    bottom = lines[-2]
    assert bottom.index("\x1b[32m") < bottom.index("\x1b[31m")


# --- the trade tape ------------------------------------------------------------------

@pytest.mark.parametrize("width", WIDTHS)
def test_tape_newest_first_with_marks_and_header(width):
    trades = sample("trade", "tickers.json")
    state = reduce_trades(TapeState(), trades, RECV)
    lines = render(TradeTape(state, now_ms=RECV), width, height=24)
    body = [line for line in lines if re.match(r"\d\d:\d\d:\d\d ", line)]
    assert len(body) == len(trades) == 20  # all fit in 24 lines
    newest_first = list(reversed(trades))
    marks = {("6089.34", 0): "▲", ("6088.84", 1): None, ("6088.84", 2): "▼"}
    for i, (line, trade) in enumerate(zip(body, newest_first)):
        row = cells(line)
        assert row[0] == local_time(trade.ts)
        assert row[1] == trade.side and row[2] == str(trade.price)
        assert row[-1] == str(trade.qty)
        if (row[2], i) in marks:
            assert (row[3] if len(row) == 5 else None) == marks[row[2], i]
    header = " ".join(lines[:2])
    for text in ("last 6089.34 ▲", "vwap 1m 6089.34", "buy 0.4337", "sell 0", "1.0/min"):
        assert text in header


# --- candles -------------------------------------------------------------------------

@pytest.mark.parametrize("width", WIDTHS)
def test_candles_summary_chart_and_table_from_the_sample(width):
    state = reduce_candles(CandlesState(), sample("kline", "kline.json"), RECV)
    lines = render(CandlesView(state), width, height=20)
    summary = " ".join(lines[:2])
    for text in ("O 6616.40", "H 6616.48", "L 6616.40", "C 6616.45", "+0.00%",
                 "V 31.76239814"):
        assert text in summary
    chart = [line for line in lines if "│" in line or "█" in line]
    assert chart[0].split()[-1] == "6616.48" and chart[-1].split()[-1] == "6616.40"
    assert lines.index(chart[-1]) == len(lines) - 3  # then the table's heading and row
    assert cells(lines[-2]) == ["time", "open", "high", "low", "close", "volume", "chg"]
    assert cells(lines[-1])[1:] == ["6616.40", "6616.48", "6616.40", "6616.45",
                                    "31.76239814", "+0.00%"]


def test_candle_table_newest_first_with_change():
    candles = [Kline("BTC_USD", "1m", i * 60_000, D(o), D(h), D(lo), D(c), D("2.5"))
               for i, (o, h, lo, c) in enumerate([("100.00", "102.00", "99.00", "101.00"),
                                                  ("101.00", "101.50", "97.00", "98.98")])]
    state = reduce_candles(CandlesState(), candles, RECV)
    lines = render(CandlesView(state), 80, height=20)
    rows = [cells(line) for line in lines[-2:]]
    assert rows[0][1:] == ["101.00", "101.50", "97.00", "98.98", "2.5", "-2.00%"]
    assert rows[1][1:] == ["100.00", "102.00", "99.00", "101.00", "2.5", "+1.00%"]
    chart = [line for line in lines if "│" in line or "█" in line or "▒" in line]
    assert cells(chart[0])[-1] == "102.00" and cells(chart[-1])[-1] == "97.00"


def test_candles_without_colour_shade_falling_bodies():
    candles = [Kline("BTC_USD", "1m", 0, D("10"), D("12"), D("9"), D("11"), D("1")),
               Kline("BTC_USD", "1m", 60_000, D("11"), D("11"), D("8"), D("9"), D("1"))]
    lines = render(CandlesView(reduce_candles(CandlesState(), candles, 0)), 40, 10)
    chart = "\n".join(lines[2:])
    assert "█" in chart and "▒" in chart


# --- account -------------------------------------------------------------------------

@pytest.mark.parametrize("width", WIDTHS)
def test_balances_orders_fills(width):
    assets = reduce_assets(AssetsState(), sample("asset", "asset_change.json"), RECV)
    lines = render(BalancesTable(assets, now_ms=RECV + 5000), width, 6)
    assert cells(lines[0]) == ["currency", "total", "available", "locked"]
    assert cells(lines[1]) == ["BTC", "1.306763122563248", "0.738763122563248",
                               "0.56800000"]
    assert cells(lines[2]) == ["USD", "3226.05825788", "3226.05825788", "0.00000000"]

    orders = reduce_orders(OrdersState(), sample("order", "order_change.constructed.json"),
                           RECV)
    lines = render(OrdersTable(orders, now_ms=RECV + 5000), width, 6)
    assert lines[0].startswith("1 open · 0 filled · 0 cancelled")
    row = cells(lines[2])
    assert row[1:] == ["ETC_BTC", "buy", "1234.56", "0.00081", "0.00081", "-", "NEW"]

    fills = reduce_fills(FillsState(), sample("fill", "trade_change.json"), RECV)
    lines = render(FillsTape(fills), width, 4)
    assert cells(lines[1])[1:] == ["ETC_BTC", "buy", "taker", "MKT", "1234.56", "0.00081",
                                   "0.9999936"]


# --- dashboards and the status line --------------------------------------------------

TARGET = Target("ws://127.0.0.1:9001/mqtt",
                credentials=Credentials("demouser@demo.domain", "ak", "sk"))


def watch_model():
    plans = [public_plan(TARGET, c, "BTC_USD") for c in ("depth", "book", "kline", "trade")]
    model = LiveModel(plans, url=TARGET.url, sandbox=True)
    for plan, name in zip(plans, ("depth.json", "orderbook.json", "kline.json",
                                  "tickers.json")):
        feed = plan.feeds[0]
        model.apply(feed, feed.parse((SAMPLES / name).read_bytes()), RECV)
        model.received(time.monotonic())
        model.set_state(plan, "subscribed")
    return model


@pytest.mark.parametrize("width, height", [(80, 24), (120, 40)])
def test_watch_dashboard_shows_four_panels_and_the_status(width, height):
    lines = render(Dashboard(watch_model().snapshot(), now_ms=RECV, now=time.monotonic()),
                   width, height)
    assert len(lines) == height and all(len(line) <= width for line in lines)
    screen = "\n".join(lines)
    top = lines[0]
    assert top.index("Book BTC_USD · step 0.01") < top.index("Trades BTC_USD")
    bottom_titles = next(line for line in lines[1:] if "Candles" in line)
    assert bottom_titles.index("Candles BTC_USD · 1m") < bottom_titles.index("Depth BTC_USD")
    for text in ("spread 0.33", "6674.89", "6674.56", "last 6089.34", "O 6616.40",
                 "bid 6674.56", "ask 6674.89"):
        assert text in screen, text
    assert "waiting" not in screen
    status = lines[-1]
    assert status.startswith(" SANDBOX ") and "4/4 subscribed" in status
    assert "4 msgs" in status


@pytest.mark.parametrize("width", WIDTHS)
def test_account_dashboard(width):
    plan = private_plan(TARGET, ("asset", "order", "fill"))
    model = LiveModel([plan], url=TARGET.url, sandbox=False)
    feeds = {f.channel: f for f in plan.feeds}
    for channel, name in (("asset", "asset_change.json"),
                          ("order", "order_change.constructed.json"),
                          ("fill", "trade_change.json")):
        model.apply(feeds[channel], feeds[channel].parse((SAMPLES / name).read_bytes()), RECV)
    screen = "\n".join(render(Dashboard(model.snapshot(), now_ms=RECV, now=0.0), width, 24))
    assert screen.index("Balances") < screen.index("Open orders") < screen.index("Fills")
    assert "1.306763122563248" in screen and "1616" not in screen  # no order numbers
    assert screen.count("ETC_BTC") == 2 and "SANDBOX" not in screen


def test_several_symbols_side_by_side_when_wide_stacked_when_narrow():
    plans = [public_plan(TARGET, "book", s) for s in ("BTC_USD", "ETH_USD")]
    model = LiveModel(plans, url=TARGET.url, sandbox=False)
    wide = render(Dashboard(model.snapshot(), now_ms=RECV, now=0.0), 120, 20)
    assert "Book BTC_USD" in wide[0] and "Book ETH_USD" in wide[0]
    narrow = render(Dashboard(model.snapshot(), now_ms=RECV, now=0.0), 60, 20)
    assert "Book ETH_USD" not in narrow[0] and any("Book ETH_USD" in x for x in narrow)
    assert "waiting for the order book" in "\n".join(narrow)


def test_status_line_states_and_age():
    status = Status("wss://api-mqtt-premium.coinsuper.com:443/mqtt", False,
                    ("subscribed", "connecting"), messages=1234, last_message=10.0)
    (line,) = render(StatusLine(status, now=12.5), 120)
    assert line.startswith("1 subscribed · 1 connecting  last msg 2.5s ago  1,234 msgs")
    assert "wss://api-mqtt-premium.coinsuper.com:443/mqtt" in line
    assert line.rstrip().endswith("q quit") and "SANDBOX" not in line
    (narrow,) = render(StatusLine(status, now=12.5), 60)
    assert narrow.startswith("1 subscribed · 1 connecting  last msg 2.5s ago")


def test_status_line_counts_reconnects():
    status = Status("ws://127.0.0.1:9001/mqtt", True, ("subscribed",), messages=3,
                    last_message=1.0, reconnects=2)
    (line,) = render(StatusLine(status, now=1.0), 120)
    assert line.startswith(" SANDBOX ") and "2 reconnects" in line
    quiet = Status("ws://127.0.0.1:9001/mqtt", True, ("subscribed",))
    assert "reconnect" not in render(StatusLine(quiet, now=1.0), 120)[0]


def test_the_model_counts_each_reconnect():
    from coinsuper_cli.live.model import LiveModel
    from coinsuper_cli.net.plans import Target, public_plan

    plan = public_plan(Target("ws://x/mqtt"), "trade", "BTC_USD")
    model = LiveModel([plan], url="ws://x/mqtt", sandbox=False)
    for state in ("connecting", "subscribed", "reconnecting", "connecting", "subscribed",
                  "reconnecting"):
        model.set_state(plan, state)
    assert model.snapshot().status.reconnects == 2


def test_no_color_keeps_the_words(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    trades = sample("trade", "tickers.json")
    console = Console(file=io.StringIO(), width=80, height=12, force_terminal=True)
    console.print(TradeTape(reduce_trades(TapeState(), trades, RECV), now_ms=RECV))
    text = console.file.getvalue()
    assert not re.search(r"\x1b\[(?:\d+;)*3[0-8](?:;\d+)*m", text)  # no foreground colour
    assert " buy " in text and " sell " in text and "▲" in text and "▼" in text
