# The whole screen, from a snapshot: the panels and the status line under them. `watch`
# gets book, trades, candles and depth in a 2x2 grid; `account` stacks balances, orders
# and fills; anything else gets one panel per feed, side by side when the width allows.
from __future__ import annotations

from math import ceil

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.layout import Layout
from rich.panel import Panel

from .balances import BalancesTable
from .candles import CandlesView
from .depth_chart import DepthChart
from .fills_tape import FillsTape
from .ladder import BookLadder
from .model import Pane, Snapshot
from .orders_table import OrdersTable
from .status_line import StatusLine
from .tape import TradeTape

WATCH = ("book", "trade", "kline", "depth")  # reading order of the 2x2 grid
ACCOUNT = ("asset", "order", "fill")
# The narrowest a panel of each channel is useful; more panels sit side by side only
# when each gets this much.
MIN_WIDTH = {"book": 38, "trade": 38, "depth": 40, "kline": 40, "asset": 60, "order": 70,
             "fill": 70}
TITLES = {"depth": "Depth", "book": "Book", "kline": "Candles", "trade": "Trades",
          "asset": "Balances", "order": "Open orders", "fill": "Fills"}


def pane_title(pane: Pane, state) -> str:
    parts = [f"{TITLES[pane.channel]} {pane.symbol}" if pane.symbol else TITLES[pane.channel]]
    if pane.channel == "book" and state.book is not None:
        parts.append(f"step {state.book.step}")
    elif pane.channel == "kline" and state.candles:
        parts.append(state.candles[-1].interval)
    return " · ".join(parts)


def pane_view(pane: Pane, state, now_ms: int) -> RenderableType:
    """The renderable of one pane's state."""
    channel = pane.channel
    if channel == "depth":
        return DepthChart(state)
    if channel == "book":
        return BookLadder(state, now_ms=now_ms)
    if channel == "kline":
        return CandlesView(state)
    if channel == "trade":
        return TradeTape(state, now_ms=now_ms)
    if channel == "asset":
        return BalancesTable(state, now_ms=now_ms)
    if channel == "order":
        return OrdersTable(state, now_ms=now_ms)
    return FillsTape(state)


class Dashboard:
    """Renders a Snapshot to the full size it is given.

    Args:
        snapshot: the model's state.
        now_ms: local wall-clock time, ms (highlights, rolling windows).
        now: time.monotonic() (the status line's age of the last message).
    """

    def __init__(self, snapshot: Snapshot, *, now_ms: int, now: float) -> None:
        self.snapshot = snapshot
        self.now_ms = now_ms
        self.now = now

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        height = options.height or options.max_height
        root = Layout()
        root.split_column(Layout(name="body"), Layout(name="status", size=1))
        root["status"].update(StatusLine(self.snapshot.status, now=self.now))
        self._arrange(root["body"], options.max_width, height - 1)
        yield root

    def _panel(self, pane: Pane) -> Panel:
        state = self.snapshot.views[pane]
        return Panel(pane_view(pane, state, self.now_ms), title=pane_title(pane, state),
                     title_align="left", border_style="dim", padding=(0, 1))

    def _arrange(self, body: Layout, width: int, height: int) -> None:
        panes = self.snapshot.panes
        channels = tuple(p.channel for p in panes)
        if sorted(channels) == sorted(WATCH) and len({p.symbol for p in panes}) == 1:
            by_channel = {p.channel: p for p in panes}
            top, bottom = Layout(), Layout()
            body.split_column(top, bottom)
            top.split_row(*(Layout(self._panel(by_channel[c])) for c in WATCH[:2]))
            bottom.split_row(*(Layout(self._panel(by_channel[c])) for c in WATCH[2:]))
            return
        if sorted(channels) == sorted(ACCOUNT):
            by_channel = {p.channel: p for p in panes}
            balances = len(self.snapshot.views[by_channel["asset"]].balances)
            assets = Layout(self._panel(by_channel["asset"]),
                            size=max(4, min(balances + 3, height // 3)))
            body.split_column(assets, *(Layout(self._panel(by_channel[c]))
                                        for c in ACCOUNT[1:]))
            return
        self._grid(body, panes, width)

    def _grid(self, body: Layout, panes: tuple[Pane, ...], width: int) -> None:
        if len(panes) == 1:
            body.update(self._panel(panes[0]))
            return
        narrowest = max(MIN_WIDTH[p.channel] for p in panes)
        columns = max(1, min(len(panes), width // narrowest))
        rows = []
        for r in range(ceil(len(panes) / columns)):
            row = Layout()
            cells = [Layout(self._panel(p)) for p in panes[r * columns:(r + 1) * columns]]
            cells += [Layout(" ") for _ in range(columns - len(cells))]
            row.split_row(*cells)
            rows.append(row)
        body.split_column(*rows)
