# The balances table: total, available, and locked (total less available) per currency.
# The exchange sends 30 decimals, mostly zeros; trailing zeros past the eighth are
# dropped, every other digit is shown.
from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text

from .account_state import AssetsState, locked
from .columns import Column, table_lines
from .figures import align, trim
from .theme import CHANGED, HIGHLIGHT_MS, waiting


class BalancesTable:
    """Renders an AssetsState; currencies the last push changed are highlighted briefly.

    Args:
        state: the assets view's state.
        now_ms: local time, to end highlights.
    """

    def __init__(self, state: AssetsState, *, now_ms: int) -> None:
        self.state = state
        self.now_ms = now_ms

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        balances = self.state.balances
        if not balances:
            yield waiting("balances")
            return
        height = options.height or options.max_height
        balances = balances[:max(0, height - 1)]
        columns = [
            Column("currency", [a.currency for a in balances], right=False),
            Column("total", align([trim(a.total) for a in balances])),
            Column("available", align([trim(a.available) for a in balances]), rank=2),
            Column("locked", align([trim(locked(a)) for a in balances]), rank=1),
        ]
        hot = frozenset()
        if self.now_ms - self.state.updated < HIGHLIGHT_MS:
            hot = frozenset(i for i, a in enumerate(balances) if a.currency in self.state.changed)
        yield Text("\n").join(table_lines(columns, options.max_width, highlighted=hot,
                                          highlight_style=CHANGED))
