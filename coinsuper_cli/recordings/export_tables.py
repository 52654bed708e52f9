# The tables of `coinsuper export`: what rows each market record gives, in tardis's
# columns, as text (the exchange's digits as sent, times in microseconds, an empty cell
# for a value the exchange does not send). Both formats write these same rows: csv as
# they are, Parquet typed from them (export_parquet.py).
from __future__ import annotations

from collections.abc import Iterator
from itertools import chain

from ..api.exchange import INTERVALS
from ..api.payloads import decimal_text
from ..api.records import Book, Depth, Kline, Record, Trade

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


_NO_LEVEL = ("", "")  # a side shorter than the snapshot: empty cells


def _side(levels, depth: int) -> tuple[tuple[str, str], ...]:
    """A side's first `depth` levels as (price, amount) text as sent, padded with
    empty ones."""
    text = levels.text if hasattr(levels, "text") else [
        (decimal_text(p), decimal_text(q)) for p, q in levels]
    text = tuple(text[:depth])
    return text + (_NO_LEVEL,) * (depth - len(text))


def _snapshot(book: Book) -> list[str]:
    """The cells of book_snapshot_15, in tardis's order (asks[0].price, asks[0].amount,
    bids[0].price, bids[0].amount, asks[1].price, ...); book_snapshot_5's are its first
    20, the quote's its first 4. One pass of zip and chain: a book push gives three rows
    and this was the export's largest cost of its own."""
    return list(chain.from_iterable(chain.from_iterable(zip(_side(book.asks, 15),
                                                            _side(book.bids, 15)))))


def rows(record: Record, local_us: str) -> list[tuple[str, str]]:
    """(data type, csv line without its newline) for each row a market record gives
    (candles aside: a candle is written once it has closed, see CandleRows). No cell
    needs quoting: decimals, times, buy/sell, an interval name and a symbol that replay
    has checked to be BASE_QUOTE. Lines, not lists of cells: each is one f-string or
    join, and a book's snapshot_15 line is its snapshot_5 line and more."""
    if isinstance(record, Trade):
        return [("trades", f"{EXCHANGE},{record.symbol},{_micros(record.ts)},{local_us},,"
                           f"{record.side},{decimal_text(record.price)},"
                           f"{decimal_text(record.qty)}")]
    if isinstance(record, Book):
        cells = _snapshot(record)
        head = f"{EXCHANGE},{record.symbol},{_micros(record.ts)},{local_us}"
        five = ",".join(cells[:20])
        ask_price, ask_amount, bid_price, bid_amount = cells[:4]
        return [("quotes", f"{head},{ask_amount},{ask_price},{bid_price},{bid_amount}"),
                ("book_snapshot_5", f"{head},{five}"),
                ("book_snapshot_15", f"{head},{five},{','.join(cells[20:])}")]
    if isinstance(record, Depth):
        # The depth gives the best prices but not what is offered at them (its points
        # are buckets of the chart, cumulative), nor a time of its own: empty cells.
        return [("quotes", f"{EXCHANGE},{record.symbol},,{local_us},,"
                           f"{decimal_text(record.best_ask)},{decimal_text(record.best_bid)},")]
    return []


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


def candle_row(kline: Kline, recv_ms: int) -> str:
    return ",".join([EXCHANGE, kline.symbol, _micros(kline.ts), _micros(recv_ms),
                     kline.interval, *(decimal_text(v) for v in (
                         kline.open, kline.high, kline.low, kline.close, kline.volume))])
