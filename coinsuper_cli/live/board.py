# The markets board: one line a market (last, day change with its arrow, bid, ask,
# spread, volume, high, low, a sparkline of the prices seen since start, and its state:
# stale, or an alert that just fired), the holdings pane under it, and the status line.
# Columns give way by rank when narrow; colour only repeats what arrows and words say.
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.text import Text

from ..api import channels
from ..api.exchange import FIAT
from ..markets.board import BoardState, Row, ticker
from ..markets.portfolio import Summary
from ..markets.view import BoardView, selected_row, sparkline, visible
from ..printable import printable
from .columns import Column, table_lines
from .figures import align, compact, decimals, plain, trim
from .status_line import Status, StatusLine
from .theme import CHANGED, DOWN, HEADING, LABEL, UP, WARNING, waiting

CENTS, SATOSHIS = Decimal("0.01"), Decimal("0.00000001")
FLASH_MS = 3000  # how long a row whose alert fired stays marked
SPARK_WIDTH = 10
# A market is stale when its day candle is this many cadences late.
STALE_CADENCES = 5
KLINE_CADENCE_MS = int(channels.get("kline").cadence * 1000)


def is_stale(row: Row, now_ms: int) -> bool:
    return bool(row.kline_ms) and now_ms - row.kline_ms > STALE_CADENCES * KLINE_CADENCE_MS


def _change_text(change_pct: Decimal) -> tuple[str, str]:
    if change_pct > 0:
        return f"{UP} +{plain(change_pct)}%", "green"
    if change_pct < 0:
        return f"{DOWN} {plain(change_pct)}%", "red"
    return f"  {plain(change_pct)}%", ""


def _state(row: Row, board: BoardState, now_ms: int) -> str:
    if any(at > now_ms - FLASH_MS and alert.symbol == row.symbol
           for at, alert in board.fired):
        return "ALERT"
    if is_stale(row, now_ms):
        return "stale"
    return "" if row.kline else "waiting"


class BoardTable:
    """The markets' lines, as the view orders and filters them; the selected one is
    drawn reversed, and marked with > for a screen without colour."""

    def __init__(self, board: BoardState, view: BoardView, *, now_ms: int) -> None:
        self.board, self.view, self.now_ms = board, view, now_ms

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        rows = visible(self.board.rows, self.view)
        if not rows:
            yield Text(f"no market holds {self.view.filter!r}", style=LABEL)
            return
        chosen = selected_row(rows, self.view)
        ticks = [ticker(row) for row in rows]
        changes = [_change_text(t.change_pct) if t else ("", "") for t in ticks]

        def numbers(get) -> list[str]:
            # Not aligned on the point: markets of other quotes share the column.
            values = [get(t) if t else None for t in ticks]
            return ["-" if v is None else plain(trim(v)) for v in values]

        states = [_state(row, self.board, self.now_ms) for row in rows]
        columns = [
            Column(" ", [">" if row is chosen else " " for row in rows], right=False),
            Column("market", [row.symbol for row in rows], right=False),
            Column("last", numbers(lambda t: t.last)),
            Column("change", [text for text, _ in changes],
                   styles=[style for _, style in changes]),
            Column("bid", numbers(lambda t: t.bid), rank=4),
            Column("ask", numbers(lambda t: t.ask), rank=4),
            Column("spread", numbers(lambda t: t.spread), rank=3),
            Column("volume", [compact(t.volume) if t else "-" for t in ticks], rank=2),
            Column("day low-high", [f"{plain(trim(t.low))}-{plain(trim(t.high))}" if t
                                     else "-" for t in ticks], rank=1),
            Column("trend", [sparkline(row.prices, SPARK_WIDTH) for row in rows], right=False,
                   rank=5),
            Column("state", states, right=False,
                   styles=[WARNING if s in ("stale", "ALERT") else LABEL for s in states]),
        ]
        hot = frozenset(i for i, row in enumerate(rows) if row is chosen)
        yield Group(*table_lines(columns, options.max_width, highlighted=hot,
                                 highlight_style=CHANGED))


def money(value: Decimal, quote: str) -> str:
    """An amount in the quote currency as shown: cents for a fiat quote, eight places
    for a crypto one (a price across a hop or an inverse has 28 digits). Rounded for
    the eye only; every sum is made of the exact values first."""
    return plain(value.quantize(CENTS if quote in FIAT else SATOSHIS,
                                rounding=ROUND_HALF_EVEN))


def _signed(value: Decimal | None, quote: str) -> str:
    if value is None:
        return "-"
    arrow = UP if value > 0 else DOWN if value < 0 else " "
    return f"{arrow} {'+' if value > 0 else ''}{money(value, quote)} {quote}".rstrip()


class HoldingsTable:
    """The holdings pane: each asset's quantity, price and value in the quote currency
    (with lots: cost and gain), then the total and how it moved."""

    def __init__(self, summary: Summary | None, *, title: str) -> None:
        self.summary, self.title = summary, title

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield Text(self.title, style=HEADING)
        summary = self.summary
        if summary is None or not summary.now.holdings:
            yield waiting("holdings")
            return
        now = summary.now
        quote, holdings = now.quote, now.holdings
        priced = [h.price for h in holdings]
        columns = [
            Column("asset", [printable(h.asset) for h in holdings], right=False),
            Column("quantity", align([trim(h.quantity) for h in holdings])),
            Column(f"price {quote}", [plain(trim(p.quantize(SATOSHIS, ROUND_HALF_EVEN)
                                                  if decimals(p) > 8 else p))
                                      if p is not None else "no price" for p in priced],
                   rank=2),
            Column(f"value {quote}", [money(h.value, quote) if h.value is not None
                                      else "no price" for h in holdings]),
        ]
        if now.cost is not None:
            columns.append(Column("gain", [_signed(h.value - h.cost, quote) if
                                           h.value is not None and h.cost is not None
                                           else "-" for h in holdings], rank=1))
        height = options.height or options.max_height
        lines = table_lines(columns, options.max_width)
        total = Text("total ", style=LABEL)
        total.append(f"{money(now.total, quote)} {quote}", style=HEADING)
        if now.unvalued:
            total.append(f" (without {', '.join(map(printable, now.unvalued))}: no price)",
                         style=WARNING)
        moved = Text("since start ", style=LABEL)
        moved.append(_signed(summary.since_start, quote))
        moved.append("  since the day's open ", style=LABEL)
        moved.append(_signed(summary.since_open, quote))
        if now.cost is not None:
            moved.append("  gain on cost ", style=LABEL)
            moved.append(_signed(now.total - now.cost, quote))
        for line in (total, moved):
            line.truncate(options.max_width, overflow="ellipsis")
        yield Group(*lines[:max(1, height - 3)], total, moved)


@dataclass(frozen=True, slots=True)
class BoardSnapshot:
    board: BoardState
    view: BoardView
    status: Status
    holdings: Summary | None = None
    holdings_title: str = ""


def status_hint(view: BoardView, *, replay: bool = False) -> str:
    if view.typing:
        return f"filter: {view.filter}_  (Enter keeps, Esc clears)"
    arrow = DOWN if view.descending else UP
    shown = f"  filter: {view.filter}" if view.filter else ""
    keys = "space pause  +/- speed" if replay else "Enter watch"
    return f"sort {view.sort} {arrow}{shown}  s/S sort  / filter  {keys}"


def fired_text(board: BoardState) -> str:
    if not board.fired:
        return ""
    return "alerts: " + ", ".join(printable(alert.rule) for _, alert in board.fired[-3:])


class BoardScreen:
    """The whole screen: board, holdings pane (when there are holdings or lots), the
    keys and the alerts that fired, and the status line."""

    def __init__(self, snapshot: BoardSnapshot, *, now_ms: int, now: float) -> None:
        self.snapshot, self.now_ms, self.now = snapshot, now_ms, now

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.layout import Layout

        snap = self.snapshot
        height = options.height or options.max_height
        root = Layout()
        parts = [Layout(BoardTable(snap.board, snap.view, now_ms=self.now_ms), name="board",
                        size=min(len(snap.board.rows) + 2, max(3, height - 3)))]
        if snap.holdings_title:
            parts.append(Layout(HoldingsTable(snap.holdings, title=snap.holdings_title),
                                name="holdings"))
        else:
            # Not Text(""): an empty Text is falsy, and Layout draws its placeholder
            # box ("Layout(name='rest')") in place of a falsy renderable.
            parts.append(Layout(Text(" "), name="rest"))
        hint = Text(status_hint(snap.view, replay=bool(snap.status.replay)), style=LABEL)
        fired = fired_text(snap.board)
        if fired:
            hint.append("  " + fired, style=WARNING)
        hint.truncate(options.max_width, overflow="ellipsis")
        parts += [Layout(hint, size=1), Layout(StatusLine(snap.status, now=self.now),
                                               size=1)]
        root.split_column(*parts)
        yield root
