# The open orders, newest first, each updated in place by its order number. Filled and
# cancelled orders leave the open list; the latest of them follow it, dimmed, with how
# they ended, so an order that fills at once is still seen to have existed.
from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text

from .account_state import OrdersState
from .columns import Column, table_lines
from .figures import align, local_time, trim
from .theme import CHANGED, HIGHLIGHT_MS, LABEL, side_style

CLOSED_STYLE = "dim"


class OrdersTable:
    """Renders an OrdersState.

    Args:
        state: the orders view's state.
        now_ms: local time, to end highlights.
    """

    def __init__(self, state: OrdersState, *, now_ms: int) -> None:
        self.state = state
        self.now_ms = now_ms

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        state = self.state
        if not state.updated:
            yield Text("waiting for order changes…", style=LABEL, justify="center")
            return
        height = options.height or options.max_height
        summary = Text(f"{len(state.open)} open · {state.filled} filled · "
                       f"{state.cancelled} cancelled since start", style=LABEL)
        rows = [(o, o.state, False) for o in state.open]
        rows += [(o, how, True) for o, how in state.closed]
        rows = rows[:max(0, height - 2 - (1 if state.closed else 0))]
        if not rows:
            yield summary
            return
        orders = [o for o, _, _ in rows]
        styles = [CLOSED_STYLE if closed else side_style(o.side) for o, _, closed in rows]
        columns = [
            Column("created", [local_time(o.created) for o in orders], right=False, rank=1),
            Column("symbol", [o.symbol for o in orders], right=False),
            Column("side", [o.side for o in orders], styles, right=False),
            # A market order has no limit price: the exchange sends zero.
            Column("price", [p if o.price else "market" for o, p in
                             zip(orders, align([trim(o.price, 2) for o in orders]))]),
            Column("qty", align([trim(o.qty, 4) for o in orders])),
            Column("left", align([trim(o.qty_remaining, 4) for o in orders]), rank=3),
            # No fill yet: the exchange sends an average price of zero.
            Column("avg price", [p if o.avg_price else "-" for o, p in
                                 zip(orders, align([trim(o.avg_price, 2) for o in orders]))],
                   rank=2),
            Column("state", [state_word for _, state_word, _ in rows], right=False),
        ]
        lines = table_lines(columns, options.max_width)
        fresh = self.now_ms - state.updated < HIGHLIGHT_MS
        for i, (order, _, closed) in enumerate(rows, start=1):
            if closed:
                lines[i].stylize(CLOSED_STYLE)
            elif fresh and order.order_no in state.changed:
                lines[i].stylize(CHANGED)
        first_closed = 1 + sum(1 for row in rows if not row[2])
        if first_closed <= len(rows):
            lines.insert(first_closed, Text("recently closed", style=LABEL))
        yield Text("\n").join([summary] + lines)
