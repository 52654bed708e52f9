# A candlestick chart in text: one column per candle (a gap between candles when the
# width allows), wicks as thin lines, bodies as blocks; rising candles green, falling red,
# and without colour rising bodies solid, falling ones shaded. Price labels on the right.
from __future__ import annotations

from itertools import groupby

from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text

from ..api.records import Kline
from .figures import align
from .theme import ASK, BID, FULL, LABEL, has_colour

WICK = "│"
FLAT = "─"  # a body with open == close
SHADED = "▒"


class CandleChart:
    """Draws the latest candles that fit, oldest on the left.

    Args:
        candles: oldest first.
        rows: the chart's height in lines.
    """

    def __init__(self, candles: tuple[Kline, ...], *, rows: int) -> None:
        self.candles = candles
        self.rows = rows

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if not self.candles or self.rows < 1:
            return
        width = options.max_width
        rows = self.rows
        # Price labels need the range of the candles shown, which needs the label width:
        # estimate from all candles; labels of a narrower range are never wider.
        label_width = max(len(t) for t in align(
            [max(c.high for c in self.candles), min(c.low for c in self.candles)]))
        room = max(1, width - label_width - 1)
        body_width, slot = _geometry(len(self.candles), room)
        shown = self.candles[-max(1, (room + 1) // slot):]
        high = max(c.high for c in shown)
        low = min(c.low for c in shown)
        unit = (high - low) / rows if high > low else None

        def row_of(price) -> int:
            if unit is None:
                return rows // 2
            return min(rows - 1, int((high - price) / unit))

        # The newest candle sits next to the price labels, as on every trading screen.
        offset = room - (len(shown) * slot - (slot - body_width))
        grid = [[(" ", "")] * room for _ in range(rows)]
        colour = has_colour(console)
        for i, candle in enumerate(shown):
            rising = candle.close >= candle.open
            style = BID if rising else ASK
            body = FULL if rising or colour else SHADED
            top, bottom = row_of(max(candle.open, candle.close)), row_of(min(candle.open,
                                                                              candle.close))
            left = offset + i * slot
            for r in range(row_of(candle.high), row_of(candle.low) + 1):
                in_body = top <= r <= bottom
                for x in range(body_width):
                    wick = x == body_width // 2
                    if in_body:
                        glyph = FLAT if candle.open == candle.close else body
                    elif wick:
                        glyph = WICK
                    else:
                        continue
                    grid[r][left + x] = (glyph, style)
        labels = _labels(high, low, rows)
        lines = []
        for r, cells in enumerate(grid):
            text = Text()
            for style, run in groupby(cells[:room], key=lambda cell: cell[1]):
                text.append("".join(glyph for glyph, _ in run), style=style)
            text.append(" " + labels[r], style=LABEL)
            lines.append(text)
        yield Text("\n").join(lines)


def _geometry(count: int, room: int) -> tuple[int, int]:
    """(body width, slot width): wide bodies while few candles fill the chart, one cell
    with a gap when there is room for all, one cell each when there is not."""
    for body_width, slot in ((5, 7), (3, 4), (1, 2)):
        if count * slot - (slot - body_width) <= room:
            return body_width, slot
    return (1, 2) if room >= 40 else (1, 1)


def _labels(high, low, rows: int) -> list[str]:
    """The highest price on the top line, the lowest on the bottom one, the middle one
    halfway when there are at least five lines."""
    marks = {0: high, rows - 1: low}
    if rows >= 5:
        marks[rows // 2] = (high + low) / 2
    places = max(-high.as_tuple().exponent, -low.as_tuple().exponent, 0)
    values = [v.quantize(type(v)(1).scaleb(-places)) for v in marks.values()]
    texts = dict(zip(marks, align(values)))
    blank = " " * len(next(iter(texts.values())))
    return [texts.get(r, blank) for r in range(rows)]
