# Plain-text tables for narrow panels. Unlike rich's Table, which squeezes and wraps
# cells to fit, these drop whole columns (least important first) when the width is
# short: a number is shown whole or not at all, never cut or folded.
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from rich.text import Text

from .theme import LABEL


@dataclass
class Column:
    """One column: a heading, one cell per row, and how much it matters.

    Args:
        name: the heading.
        cells: the texts, one per row (numbers already aligned with `figures.align`).
        styles: one style per row, or None for none.
        right: right-justify (numbers) rather than left (words).
        rank: columns of lower rank are dropped first when the width is short; 0 never.
    """

    name: str
    cells: Sequence[str]
    styles: Sequence[str] | None = None
    right: bool = True
    rank: int = 0
    width: int = field(init=False)

    def __post_init__(self) -> None:
        self.width = max([len(self.name)] + [len(c) for c in self.cells])

    def cell(self, text: str) -> str:
        return text.rjust(self.width) if self.right else text.ljust(self.width)


def fit(columns: list[Column], width: int, gap: int = 2) -> list[Column]:
    """The columns that fit `width`, dropping the lowest-ranked first."""
    kept = list(columns)
    droppable = sorted((c for c in columns if c.rank), key=lambda c: c.rank)
    while droppable and sum(c.width for c in kept) + gap * (len(kept) - 1) > width:
        kept.remove(droppable.pop(0))
    return kept


def table_lines(columns: list[Column], width: int, *, gap: int = 2,
                highlighted: frozenset[int] = frozenset(),
                highlight_style: str = "reverse") -> list[Text]:
    """A heading line and one line per row; rows in `highlighted` get highlight_style."""
    kept = fit(columns, width, gap)
    spacer = " " * gap
    header = Text(spacer.join(c.cell(c.name) for c in kept), style=LABEL)
    header.truncate(width)
    lines = [header]
    rows = len(kept[0].cells) if kept else 0
    for i in range(rows):
        line = Text(style=highlight_style if i in highlighted else "")
        for n, column in enumerate(kept):
            if n:
                line.append(spacer)
            line.append(column.cell(column.cells[i]),
                        style=column.styles[i] if column.styles else "")
        line.truncate(width)
        lines.append(line)
    return lines
