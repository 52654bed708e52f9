# The trade tape, newest first: local time, side as a word and a colour, price with an
# up/down mark against the previous trade, quantity; under a header with the last price
# and the rolling window's buy and sell volume, trades per minute and VWAP.
from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text

from .figures import align, local_time, plain
from .state import WINDOW_MS, TapeState, tape_stats
from .theme import LABEL, flow, labelled, side_style, tick_mark, tick_style, waiting


class TradeTape:
    """Renders a TapeState: as many trades as the height allows.

    Args:
        state: the trades view's state.
        now_ms: local time, for the rolling window.
    """

    def __init__(self, state: TapeState, *, now_ms: int) -> None:
        self.state = state
        self.now_ms = now_ms

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if not self.state.entries:
            yield waiting("trades")
            return
        width = options.max_width
        height = options.height or options.max_height
        lines = _header(self.state, self.now_ms, width)
        rows = max(0, height - len(lines) - 1)
        entries = list(reversed(self.state.entries[-rows:])) if rows else []
        prices = align([e.trade.price for e in entries])
        quantities = align([e.trade.qty for e in entries])
        price_width = max([len("price")] + [len(p) for p in prices])
        lines.append(Text(f"{'time':<8}  {'side':<4}  {'price':>{price_width}}    qty",
                          style=LABEL))
        for entry, price, qty in zip(entries, prices, quantities):
            trade = entry.trade
            line = Text(f"{local_time(trade.ts)}  ")
            line.append(f"{trade.side:<4}", style=side_style(trade.side))
            line.append("  " + price.rjust(price_width) + " ", style=side_style(trade.side))
            line.append(tick_mark(entry.tick), style=tick_style(entry.tick))
            line.append("  " + qty)
            line.truncate(width)
            lines.append(line)
        yield Text("\n").join(lines[:height])


def _header(state: TapeState, now_ms: int, width: int) -> list[Text]:
    stats = tape_stats(state, now_ms)
    window = f"{WINDOW_MS // 60_000}m"
    last = labelled("last", plain(stats.last.price), tick_style(stats.last_tick))
    last.append(" " + tick_mark(stats.last_tick), style=tick_style(stats.last_tick))
    prices = [last, labelled(f"vwap {window}",
                             plain(stats.vwap) if stats.vwap is not None else "-")]
    flows = [labelled(f"{window} buy", plain(stats.buy_volume), side_style("buy")),
             labelled("sell", plain(stats.sell_volume), side_style("sell")),
             labelled("", f"{stats.per_minute}/min", "bold")]
    one_line = flow(prices + flows, width, max_lines=1)
    if sum(len(t) for t in prices + flows) + 2 * (len(prices + flows) - 1) <= width:
        return one_line
    return flow(prices, width, max_lines=1) + flow(flows, width, max_lines=1)
