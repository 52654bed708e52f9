# Colours and glyphs of the live views, in one place. Every coloured thing also reads
# without colour (NO_COLOR): sides are words, directions are arrows, highlights reverse.
from __future__ import annotations

from rich.console import Console
from rich.text import Text

BID = "green"
ASK = "red"
BUY = BID
SELL = ASK
CHANGED = "reverse"  # a level or row that the last push changed; reverse survives NO_COLOR
LABEL = "dim"
HEADING = "bold"
SANDBOX = "bold black on yellow"
WARNING = "bold yellow"
HIGHLIGHT_MS = 1500  # how long a changed level stays highlighted

UP, DOWN = "▲", "▼"
_EIGHTHS_ACROSS = " ▏▎▍▌▋▊▉"
_EIGHTHS_UP = " ▁▂▃▄▅▆▇"
FULL = "█"


def side_style(side: str) -> str:
    return BUY if side == "buy" else SELL


def tick_mark(tick: int) -> str:
    return UP if tick > 0 else DOWN if tick < 0 else " "


def tick_style(tick: int) -> str:
    return BUY if tick > 0 else SELL if tick < 0 else ""


def bar_across(fraction: float, width: int) -> str:
    """A horizontal bar of `width` cells filled to `fraction`, in eighths of a cell."""
    eighths = round(max(0.0, min(fraction, 1.0)) * width * 8)
    full, part = divmod(eighths, 8)
    text = FULL * full + (_EIGHTHS_ACROSS[part] if part else "")
    return text.ljust(width)


def column_up(eighths: int, row_from_bottom: int) -> str:
    """The glyph of one cell of a vertical bar `eighths` tall, counting rows from 0."""
    left = eighths - row_from_bottom * 8
    if left >= 8:
        return FULL
    return _EIGHTHS_UP[left] if left > 0 else " "


def has_colour(console: Console) -> bool:
    return console.color_system is not None and not console.no_color


def waiting(what: str) -> Text:
    """What an empty view says until its first push."""
    return Text(f"waiting for {what}…", style=LABEL, justify="center")


def labelled(label: str, value: str, style: str = "bold") -> Text:
    """`label value`, the label dim: one item of a header."""
    text = Text(label + " ", style=LABEL) if label else Text()
    text.append(value, style=style)
    return text


def flow(items: list[Text], width: int, max_lines: int = 2) -> list[Text]:
    """Places header items on lines of `width`, two spaces apart, never cutting an item
    (a cut number would be a wrong number): items that do not fit are left out."""
    lines = [Text()]
    for item in items:
        line = lines[-1]
        gap = 2 if line.plain else 0
        if len(line) + gap + len(item) <= width:
            line.append(" " * gap)
            line.append_text(item)
        elif len(lines) < max_lines and len(item) <= width:
            lines.append(item.copy())
    return lines
