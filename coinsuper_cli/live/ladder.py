# The order book as a ladder: asks above with the best ask nearest the middle, a spread
# row, bids below. Columns: price, quantity, cumulative quantity, and a size bar. Numbers
# align on the decimal point with the digits the exchange sent; levels that changed with
# the last push are highlighted for a moment.
from __future__ import annotations

from decimal import Decimal

from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text

from .figures import align, plain, signed_percent
from .state import BookState, levels_with_totals, spread_and_mid
from .theme import ASK, BID, CHANGED, HIGHLIGHT_MS, LABEL, bar_across, waiting

Row = tuple[Decimal, Decimal, Decimal]  # price, quantity, cumulative


class BookLadder:
    """Renders a BookState to fit the height it is given.

    Args:
        state: the book view's state.
        now_ms: local time, to end highlights after HIGHLIGHT_MS.
    """

    def __init__(self, state: BookState, *, now_ms: int) -> None:
        self.state = state
        self.now_ms = now_ms

    @staticmethod
    def subtitle(state: BookState) -> str | None:
        return f"step {state.book.step}" if state.book is not None else None

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        book = self.state.book
        if book is None:
            yield waiting("the order book")
            return
        height = options.height or options.max_height
        rows = max(2, height - 2)  # less the column header and the spread row
        per_side = rows // 2
        asks = levels_with_totals(book.asks)[:per_side]
        bids = levels_with_totals(book.bids)[:rows - per_side]
        highlight = self.now_ms - self.state.updated < HIGHLIGHT_MS
        changed = self.state.changed if highlight else frozenset()
        lines = _ladder_lines(asks, bids, per_side, changed, options.max_width)
        if book.asks and book.bids:
            lines.insert(per_side + 1, _spread_line(book.bids[0][0], book.asks[0][0]))
        else:
            lines.insert(per_side + 1, Text("one side of the book is empty", style=LABEL))
        yield Text("\n").join(lines[:height])


def _ladder_lines(asks: list[Row], bids: list[Row], per_side: int,
                  changed: frozenset, width: int) -> list[Text]:
    rows = asks + bids
    columns = [align([r[i] for r in rows]) for i in range(3)]
    widths = [max([len(c[0]) if c else 0] + [len(name)]) for c, name in
              zip(columns, ("price", "qty", "total"))]
    bar_width = width - sum(widths) - 3
    show_total = bar_width >= 6
    if not show_total:
        bar_width += widths[2] + 1
    biggest = max((r[1] for r in rows), default=Decimal(0)) or Decimal(1)

    def line(i: int, side: str, style: str) -> Text:
        price, qty, total = (columns[c][i].rjust(widths[c]) for c in range(3))
        hot = CHANGED if (side, rows[i][0]) in changed else ""
        text = Text(style=style)
        text.append(price, style=hot)
        text.append(" ")
        text.append(qty, style=hot)
        if show_total:
            text.append(" " + total)
        if bar_width > 0:
            text.append(" " + bar_across(float(rows[i][1] / biggest), bar_width))
        text.truncate(width)
        return text

    header = Text(style=LABEL)
    header.append("price".rjust(widths[0]) + " " + "qty".rjust(widths[1]))
    if show_total:
        header.append(" " + "total".rjust(widths[2]))
    header.truncate(width)
    lines = [header]
    lines += [Text()] * (per_side - len(asks))  # keep the spread row in the middle
    lines += [line(i, "ask", ASK) for i in reversed(range(len(asks)))]
    lines += [line(len(asks) + i, "bid", BID) for i in range(len(bids))]
    return lines


def _spread_line(best_bid: Decimal, best_ask: Decimal) -> Text:
    spread, mid = spread_and_mid(best_bid, best_ask)
    text = Text()
    text.append("spread ", style=LABEL)
    text.append(plain(spread), style="bold")
    text.append(f" ({signed_percent(spread, mid, 3).lstrip('+')})", style=LABEL)
    text.append("  mid ", style=LABEL)
    text.append(plain(mid), style="bold")
    return text
