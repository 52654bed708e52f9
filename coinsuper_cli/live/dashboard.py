# The whole screen, from a snapshot: the panels and the status line under them. `watch`
# gets book, trades, candles and depth in a 2x2 grid; `account` stacks balances, orders
# and fills; anything else gets one panel per feed, side by side when the width allows.
from __future__ import annotations

from math import ceil

from rich.console import Console, ConsoleOptions, RenderResult
from rich.layout import Layout
from rich.panel import Panel

from . import views
from .model import Pane, Snapshot
from .status_line import StatusLine

WATCH = ("book", "trade", "kline", "depth")  # reading order of the 2x2 grid
ACCOUNT = ("asset", "order", "fill")


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
        return Panel(views.draw(pane.channel, state, self.now_ms),
                     title=views.title(pane.channel, pane.symbol, state),
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
        narrowest = max(views.min_width(p.channel) for p in panes)
        columns = max(1, min(len(panes), width // narrowest))
        rows = []
        for r in range(ceil(len(panes) / columns)):
            row = Layout()
            cells = [Layout(self._panel(p)) for p in panes[r * columns:(r + 1) * columns]]
            cells += [Layout(" ") for _ in range(columns - len(cells))]
            row.split_row(*cells)
            rows.append(row)
        body.split_column(*rows)
