# What the board shows and how keys move it, without drawing: which rows pass the
# filter, in which order, which one is selected, and the key bindings (arrows or j/k,
# s/S sort, / filter, Enter watch, Esc back, q quit). Pure, so tests need no terminal.
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from decimal import Decimal

from .board import Row, ticker

# Sort columns in the order `s` cycles them, each with its natural direction
# (descending first for change, volume and value; a name or a spread ascends).
SORTS = {"change": True, "name": False, "volume": True, "spread": False, "value": True}
UP, DOWN, ENTER, ESC, BACKSPACE = "up", "down", "enter", "esc", "backspace"
MAX_FILTER = 16  # a symbol is at most 33 characters; a filter longer finds nothing
# One key of what the terminal sent: an arrow (CSI or SS3), a lone Esc, or a character.
_KEY = re.compile(r"\x1b\[[0-9;]*[A-Za-z~]|\x1bO[A-Za-z]|\x1b|[\s\S]")
_NAMED = {"\x1b[A": UP, "\x1bOA": UP, "\x1b[B": DOWN, "\x1bOB": DOWN, "\x1b": ESC,
          "\r": ENTER, "\n": ENTER, "\x7f": BACKSPACE, "\x08": BACKSPACE}


def split_keys(typed: str) -> list[str]:
    """What the terminal sent as keys: arrows and Esc by name, other sequences dropped."""
    keys = []
    for match in _KEY.finditer(typed):
        text = match.group()
        named = _NAMED.get(text)
        if named is not None:
            keys.append(named)
        elif not text.startswith("\x1b"):
            keys.append(text)
    return keys


@dataclass(frozen=True, slots=True)
class BoardView:
    """The board's view state.

    Args:
        sort: the sort column (a key of SORTS); descending: its direction.
        filter: text a symbol must contain; typing: the filter is being typed.
        selected: the selected market.
        watching: the market whose watch screen is open, or None for the board.
        quit: q was pressed.
    """

    sort: str = "change"
    descending: bool = SORTS["change"]
    filter: str = ""
    typing: bool = False
    selected: str | None = None
    watching: str | None = None
    quit: bool = False


def _sort_key(row: Row, sort: str):
    tick = ticker(row)
    if sort == "name":
        return row.symbol
    if tick is None:
        return None
    if sort == "change":
        return tick.change_pct
    if sort == "volume":
        return tick.volume
    if sort == "spread":
        return tick.spread
    return tick.volume * tick.last  # value: the day's turnover in the quote currency


def visible(rows: dict[str, Row], view: BoardView) -> list[Row]:
    """The rows that pass the filter, sorted; rows with nothing to sort by go last, in
    the order the markets were given."""
    wanted = view.filter.upper()
    shown = [row for row in rows.values() if wanted in row.symbol]
    known = [(key, row) for row in shown if (key := _sort_key(row, view.sort)) is not None]
    known.sort(key=lambda pair: pair[0], reverse=view.descending)
    unknown = [row for row in shown if _sort_key(row, view.sort) is None]
    return [row for _, row in known] + unknown


def selected_row(rows: list[Row], view: BoardView) -> Row | None:
    """The selected row, or the first when the selected one is filtered out."""
    for row in rows:
        if row.symbol == view.selected:
            return row
    return rows[0] if rows else None


def on_key(view: BoardView, key: str, rows: list[Row]) -> BoardView:
    """The view after one key (split_keys), given the rows on screen."""
    if view.watching is not None:  # the watch screen: Esc comes back, q quits
        if key == ESC:
            return replace(view, watching=None)
        return replace(view, quit=True) if key in ("q", "Q") else view
    if view.typing:
        if key in (ENTER, ESC):
            return replace(view, typing=False, filter=view.filter if key == ENTER else "")
        if key == BACKSPACE:
            return replace(view, filter=view.filter[:-1])
        if len(key) == 1 and key.isprintable() and len(view.filter) < MAX_FILTER:
            return replace(view, filter=view.filter + key)
        return view
    current = selected_row(rows, view)
    if key in ("q", "Q"):
        return replace(view, quit=True)
    if key in (UP, DOWN, "k", "j") and current is not None:
        at = rows.index(current) + (-1 if key in (UP, "k") else 1)
        return replace(view, selected=rows[max(0, min(at, len(rows) - 1))].symbol)
    if key == "s":
        names = list(SORTS)
        sort = names[(names.index(view.sort) + 1) % len(names)]
        return replace(view, sort=sort, descending=SORTS[sort])
    if key == "S":
        return replace(view, descending=not view.descending)
    if key == "/":
        return replace(view, typing=True)
    if key == ESC and view.filter:
        return replace(view, filter="")
    if key == ENTER and current is not None:
        return replace(view, selected=current.symbol, watching=current.symbol)
    return view


def sparkline(prices: tuple[Decimal, ...], width: int) -> str:
    """The last `width` prices as block heights between their low and high."""
    points = prices[-width:]
    if not points:
        return ""
    low, high = min(points), max(points)
    blocks = "▁▂▃▄▅▆▇█"
    if high == low:
        return blocks[3] * len(points)
    return "".join(blocks[int((p - low) * (len(blocks) - 1) / (high - low))]
                   for p in points)
