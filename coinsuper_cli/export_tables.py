# The tables of `coinsuper export`: what rows each market record gives, in tardis's
# columns, as text (the exchange's digits as sent, times in microseconds, an empty cell
# for a value the exchange does not send). Both formats write these same rows: csv as
# they are, Parquet typed from them (export_parquet.py).
from __future__ import annotations

from collections.abc import Iterator

from .exchange import INTERVALS
from .payloads import decimal_text
from .records import Book, Depth, Kline, Record, Trade

EXCHANGE = "coinsuper"
BASE = ("exchange", "symbol", "timestamp", "local_timestamp")


def _levels(depth: int) -> tuple[str, ...]:
    # tardis interleaves the sides level by level: asks[0], bids[0], asks[1], ...
    return tuple(f"{side}[{i}].{key}" for i in range(depth) for side in ("asks", "bids")
                 for key in ("price", "amount"))


COLUMNS = {
    "trades": BASE + ("id", "side", "price", "amount"),
    "quotes": BASE + ("ask_amount", "ask_price", "bid_price", "bid_amount"),
    "book_snapshot_5": BASE + _levels(5),
    "book_snapshot_15": BASE + _levels(15),
    "candles": BASE + ("interval", "open", "high", "low", "close", "volume"),
}
def _micros(ms: int | None) -> str:
    return "" if ms is None else str(ms * 1000)


def _best(levels) -> tuple[str, str]:
    """The best level's (price, amount) as sent, or empty cells for an empty side."""
    text = levels.text if hasattr(levels, "text") else [
        (decimal_text(p), decimal_text(q)) for p, q in levels]
    return tuple(text[0]) if text else ("", "")


def _snapshot(book: Book, depth: int) -> list[str]:
    asks, bids = (levels.text if hasattr(levels, "text") else [
        (decimal_text(p), decimal_text(q)) for p, q in levels]
        for levels in (book.asks, book.bids))
    cells = []
    for i in range(depth):
        for side in (asks, bids):
            cells += side[i] if i < len(side) else ("", "")
    return cells


def rows(record: Record, local_us: str) -> Iterator[tuple[str, list[str]]]:
    """(data type, row) for each row a market record gives (candles aside: a candle is
    written once it has closed, see CandleRows)."""
    if isinstance(record, Trade):
        yield "trades", [EXCHANGE, record.symbol, _micros(record.ts), local_us, "",
                         record.side, decimal_text(record.price), decimal_text(record.qty)]
    elif isinstance(record, Book):
        (ask_price, ask_amount), (bid_price, bid_amount) = (_best(record.asks),
                                                            _best(record.bids))
        head = [EXCHANGE, record.symbol, _micros(record.ts), local_us]
        yield "quotes", head + [ask_amount, ask_price, bid_price, bid_amount]
        yield "book_snapshot_5", head + _snapshot(record, 5)
        yield "book_snapshot_15", head + _snapshot(record, 15)
    elif isinstance(record, Depth):
        # The depth gives the best prices but not what is offered at them (its points
        # are buckets of the chart, cumulative), nor a time of its own: empty cells.
        yield "quotes", [EXCHANGE, record.symbol, "", local_us, "",
                         decimal_text(record.best_ask), decimal_text(record.best_bid), ""]


class CandleRows:
    """A candle is pushed again and again while it is open: its row is the last version
    seen before it closed, written when the next candle comes, or when the recording's
    time has passed its end. Open candles at the end of a recording are not written."""

    def __init__(self) -> None:
        self._open: dict[tuple[str, str], tuple[Kline, int]] = {}

    def add(self, kline: Kline, recv_ms: int) -> Iterator[tuple[Kline, int]]:
        key = (kline.symbol, kline.interval)
        seen = self._open.get(key)
        if seen is not None and seen[0].ts != kline.ts:
            if seen[0].ts < kline.ts:
                yield seen
            else:
                return  # an older candle pushed late: its newer one is already in hand
        self._open[key] = (kline, recv_ms)

    def closed(self, now_ms: int) -> Iterator[tuple[Kline, int]]:
        """The candles in hand whose time is over by `now_ms` (the recording's end)."""
        for key, (kline, recv_ms) in list(self._open.items()):
            length = INTERVALS.get(kline.interval) or int(kline.interval.removesuffix("ms"))
            if kline.ts + length <= now_ms:
                del self._open[key]
                yield kline, recv_ms


def candle_row(kline: Kline, recv_ms: int) -> list[str]:
    return [EXCHANGE, kline.symbol, _micros(kline.ts), _micros(recv_ms), kline.interval,
            *(decimal_text(v) for v in (kline.open, kline.high, kline.low, kline.close,
                                        kline.volume))]
