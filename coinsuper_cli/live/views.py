# The live side of the channel registry: the names in each channel's `View` resolved to
# the state, reducer and renderable they stand for, on first use. An unknown channel
# raises channels.UnknownChannel: it is never drawn as some other channel.
from __future__ import annotations

import functools
import importlib
from typing import TYPE_CHECKING

from ..api import channels

if TYPE_CHECKING:
    from rich.console import RenderableType


@functools.cache
def _resolve(ref: str):
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(f"{__package__}.{module}"), name)


def empty_state(channel: str):
    return _resolve(channels.get(channel).view.state)()


def reduce(channel: str, state, records: list, recv_ms: int):
    return _resolve(channels.get(channel).view.reduce)(state, records, recv_ms)


def draw(channel: str, state, now_ms: int) -> RenderableType:
    return _resolve(channels.get(channel).view.draw)(state, now_ms=now_ms)


def title(channel: str, symbol: str | None, state) -> str:
    """The panel's title: the channel's, its symbol, and what its view adds (a book's
    step, a candle's interval)."""
    view = channels.get(channel).view
    parts = [f"{view.title} {symbol}" if symbol else view.title]
    subtitle = getattr(_resolve(view.draw), "subtitle", None)
    extra = subtitle(state) if subtitle is not None else None
    if extra:
        parts.append(extra)
    return " · ".join(parts)


def min_width(channel: str) -> int:
    return channels.get(channel).view.min_width
