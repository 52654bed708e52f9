# The depth chart: cumulative bids (green) left of the mid price and asks (red) right of
# it, drawn with eighth-block characters, under a header with best bid, best ask, spread
# and mid, over a price axis. The exchange's depth points are already cumulative.
from __future__ import annotations

from decimal import Decimal

from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text

from ..api.records import Level
from .figures import compact, plain, signed_percent
from .state import DepthState, spread_and_mid
from .theme import ASK, BID, LABEL, column_up, flow, labelled, waiting


def depth_at(price: float, start: float, points: list[tuple[float, float]]) -> float | None:
    """Cumulative quantity at `price`, linear between the points, starting from zero at
    the best price `start`; None beyond the last point, where nothing is known."""
    last_price, last_qty = start, 0.0
    going_up = not points or points[-1][0] >= start
    for point_price, qty in points:
        if (price <= point_price) if going_up else (price >= point_price):
            span = point_price - last_price
            share = (price - last_price) / span if span else 1.0
            return last_qty + (qty - last_qty) * max(0.0, min(share, 1.0))
        last_price, last_qty = point_price, qty
    return None


def _floats(levels: tuple[Level, ...]) -> list[tuple[float, float]]:
    return [(float(p), float(q)) for p, q in levels]


class DepthChart:
    """Renders a DepthState to the width and height it is given.

    Args:
        state: the depth view's state.
    """

    def __init__(self, state: DepthState, *, now_ms: int = 0) -> None:
        self.state = state  # now_ms: this view does not depend on the time

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        depth = self.state.depth
        if depth is None:
            yield waiting("market depth")
            return
        width = options.max_width
        height = options.height or options.max_height
        spread, mid = spread_and_mid(depth.best_bid, depth.best_ask)
        lines = _header(depth.best_bid, depth.best_ask, spread, mid, width)
        rows = max(1, height - len(lines) - 1)
        bids, asks = _floats(depth.bids), _floats(depth.asks)
        peak = max([q for _, q in bids + asks] + [0.0])
        gutter = len(compact(Decimal(repr(peak)))) + 1 if peak else 2
        chart_width = max(2, width - gutter)
        if bids or asks:
            half = max([float(mid) - p for p, _ in bids] + [p - float(mid) for p, _ in asks])
        else:
            half = 0.0
        columns = _columns(float(mid), half, chart_width, float(depth.best_bid),
                           float(depth.best_ask), bids, asks)
        scale = rows * 8 / peak if peak else 0.0
        for row in range(rows - 1, -1, -1):
            label = compact(Decimal(repr(peak))) if row == rows - 1 and peak else ""
            label = "0" if row == 0 else label
            text = Text()
            text.append(label.rjust(gutter - 1) + " ", style=LABEL)
            for side, style in (("bid", BID), ("ask", ASK)):  # one span per side: cheap
                text.append("".join(" " if qty is None else column_up(round(qty * scale), row)
                                    for s, qty in columns if s == side), style=style)
            lines.append(text)
        lines.append(_axis(mid, Decimal(repr(half)), gutter, chart_width, depth))
        yield Text("\n").join(lines[:height])


def _columns(mid: float, half: float, width: int, best_bid: float, best_ask: float,
             bids, asks) -> list[tuple[str, float | None]]:
    """(side, cumulative quantity) of each chart column, left to right."""
    left = width // 2
    right = width - left
    columns = []
    for j in range(left):  # column left-1 is next to the mid
        price = mid - half * (left - j - 0.5) / left
        columns.append(("bid", depth_at(price, best_bid, bids) if price <= best_bid else 0.0))
    for k in range(right):
        price = mid + half * (k + 0.5) / right
        columns.append(("ask", depth_at(price, best_ask, asks) if price >= best_ask else 0.0))
    return columns


def _header(best_bid: Decimal, best_ask: Decimal, spread: Decimal, mid: Decimal,
            width: int) -> list[Text]:
    items = [labelled("bid", plain(best_bid), BID), labelled("ask", plain(best_ask), ASK),
             labelled("spread", plain(spread)), labelled("mid", plain(mid)),
             labelled("", f"({signed_percent(spread, mid, 3).lstrip('+')})", LABEL)]
    return flow(items, width, max_lines=2 if width < 50 else 1)


def _axis(mid: Decimal, half: Decimal, gutter: int, width: int, depth) -> Text:
    """Lowest price on the left, the mid in the middle, the highest on the right."""
    places = max(-depth.best_bid.as_tuple().exponent, 0)
    low = plain((mid - half).quantize(Decimal(1).scaleb(-places)))
    high = plain((mid + half).quantize(Decimal(1).scaleb(-places)))
    centre = plain(mid)
    text = Text(" " * gutter, style=LABEL)
    room = width - len(low) - len(high)
    if room >= len(centre) + 2:
        before = (width // 2 - len(low) - len(centre) // 2)
        before = max(1, min(before, room - len(centre) - 1))
        text.append(low + " " * before + centre + " " * (room - before - len(centre)) + high)
    elif room >= 1:
        text.append(low + " " * room + high)
    else:
        text.append(centre.center(width))
    return text
