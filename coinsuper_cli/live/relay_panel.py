# The relay's live status: messages in and out per second, the queue and what it dropped,
# and each side's state, as one small panel redrawn in place. A pure function of a
# RelayStatus and the rates since the last frame.
from __future__ import annotations

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..printable import printable
from ..relay.status import RelayStatus, states_text
from .status_line import STATE_STYLES
from .theme import LABEL, WARNING


def relay_panel(status: RelayStatus, rate_in: float, rate_out: float, *,
                note: str = "", sandbox: bool = False) -> Panel:
    """The panel: one row a side, the queue, and the last log line (-v) or warning."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style=LABEL, no_wrap=True)
    table.add_column(justify="right", no_wrap=True)
    table.add_column(no_wrap=True)
    upstream = Text(states_text(status.upstream),
                    style=_style(status.upstream[0] if len(set(status.upstream)) == 1
                                 else "reconnecting"))
    if status.upstream_lost:
        upstream.append(f"  lost {status.upstream_lost}×", style=WARNING)
    table.add_row("in", f"{rate_in:,.1f}/s", Text(f"{status.received:,} received  ")
                  + upstream)
    downstream = Text(f"{printable(status.target)} {status.downstream}",
                      style=_style(status.downstream))
    if status.downstream_lost:
        downstream.append(f"  lost {status.downstream_lost}×", style=WARNING)
    if status.downgraded:
        downstream.append("  QoS 2 downgraded to 1", style=WARNING)
    table.add_row("out", f"{rate_out:,.1f}/s", Text(f"{status.published:,} published  ")
                  + downstream)
    queue = Text(f"{status.queued:,} of {status.buffer:,}, {status.pending:,} in flight")
    dropped = Text(f"  dropped {status.dropped:,}", style=WARNING if status.dropped else "")
    table.add_row("queue", "", queue + dropped)
    footer = Text(("SANDBOX  " if sandbox else "") + "q quits", style=LABEL)
    if note:
        footer = Text(printable(note), no_wrap=True, overflow="ellipsis")
    return Panel(Group(table, footer), title="coinsuper relay", title_align="left",
                 expand=False)


def _style(state: str) -> str:
    if state in ("connected", "subscribed"):
        return "green"
    return STATE_STYLES.get(state, "yellow")
