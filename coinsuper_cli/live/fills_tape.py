# The account's own fills, newest first: time, symbol, side, maker or taker, order type,
# price, quantity, and what the fill was worth (price times quantity).
from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text

from .account_state import FillsState
from .columns import Column, table_lines
from .figures import align, local_time, trim
from .theme import side_style, waiting


class FillsTape:
    """Renders a FillsState: as many fills as the height allows.

    Args:
        state: the fills view's state.
    """

    def __init__(self, state: FillsState, *, now_ms: int = 0) -> None:
        self.state = state  # now_ms: this view does not depend on the time

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if not self.state.fills:
            yield waiting("fills")
            return
        height = options.height or options.max_height
        fills = list(reversed(self.state.fills[-max(1, height - 1):]))
        styles = [side_style(f.side) for f in fills]
        columns = [
            Column("time", [local_time(f.ts) for f in fills], right=False),
            Column("symbol", [f.symbol for f in fills], right=False),
            Column("side", [f.side for f in fills], styles, right=False),
            Column("role", [f.role for f in fills], right=False, rank=2),
            Column("type", [f.order_type for f in fills], right=False, rank=1),
            Column("price", align([trim(f.price, 2) for f in fills]), styles),
            Column("qty", align([trim(f.qty, 4) for f in fills])),
            Column("value", align([trim(f.price * f.qty, 2) for f in fills]), rank=3),
        ]
        yield Text("\n").join(table_lines(columns, options.max_width)[:height])
