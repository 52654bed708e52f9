# The kline view: the current candle's figures, a candlestick chart of the candles seen
# while running, and, when there is room, a table of the latest candles with open, high,
# low, close, volume and change (close against open, in percent).
from __future__ import annotations

from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.text import Text

from ..api.records import Kline
from .candle_chart import CandleChart
from .columns import Column, table_lines
from .figures import align, local_minute, plain, signed_percent
from .state import CandlesState
from .theme import ASK, BID, LABEL, flow, labelled, waiting


def change(candle: Kline) -> str:
    return signed_percent(candle.close - candle.open, candle.open)


class CandlesView:
    """Renders a CandlesState: summary, chart, and a table when the height allows.

    Args:
        state: the kline view's state.
    """

    def __init__(self, state: CandlesState, *, now_ms: int = 0) -> None:
        self.state = state  # now_ms: this view does not depend on the time

    @staticmethod
    def subtitle(state: CandlesState) -> str | None:
        return state.candles[-1].interval if state.candles else None

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        candles = self.state.candles
        if not candles:
            yield waiting("the first candle")
            return
        width = options.max_width
        height = options.height or options.max_height
        summary = _summary(candles[-1], width)
        room = height - len(summary)
        table_rows = 0
        if room >= 12:
            table_rows = min(len(candles), max(2, room // 3))
        chart_rows = room - (table_rows + 1 if table_rows else 0)
        parts = [Text("\n").join(summary)]
        if chart_rows > 0:
            parts.append(CandleChart(candles, rows=chart_rows))
        if table_rows:
            parts.append(Text("\n").join(_table(candles[-table_rows:], width)))
        yield Group(*parts)


def _summary(candle: Kline, width: int) -> list[Text]:
    style = BID if candle.close >= candle.open else ASK
    items = [labelled("O", plain(candle.open)), labelled("H", plain(candle.high)),
             labelled("L", plain(candle.low)), labelled("C", plain(candle.close), style),
             labelled("", change(candle), style), labelled("V", plain(candle.volume)),
             labelled("", local_minute(candle.ts), LABEL)]
    return flow(items, width, max_lines=2)


def _table(candles: tuple[Kline, ...], width: int) -> list[Text]:
    """Newest first; columns that do not fit the width are dropped, never cut."""
    newest = list(reversed(candles))
    styles = [BID if c.close >= c.open else ASK for c in newest]
    columns = [
        Column("time", [local_minute(c.ts)[-5:] for c in newest]),
        Column("open", align([c.open for c in newest]), rank=3),
        Column("high", align([c.high for c in newest]), rank=2),
        Column("low", align([c.low for c in newest]), rank=2),
        Column("close", align([c.close for c in newest]), styles),
        Column("volume", align([c.volume for c in newest]), rank=1),
        Column("chg", [change(c) for c in newest], styles),
    ]
    return table_lines(columns, width, gap=1)
