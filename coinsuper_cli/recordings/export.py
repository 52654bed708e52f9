# `coinsuper export`: recordings into the datasets that analysis and backtesting tools
# read. tardis-format csv (the de facto layout of crypto market data, which pandas,
# DuckDB and nautilus_trader's TardisCSVDataLoader load as they are): gzip csv, one file
# per data type, symbol and UTC day of the local receive time; comma, LF, dot decimals,
# timestamps in microseconds since the epoch, an empty cell where the exchange sends no
# value. Read through replay's source, so trades are de-duplicated and parsed exactly as
# a live run prints them. A file is complete under its final name or absent: rows go to
# a temporary name, renamed when the file is done.
from __future__ import annotations

import gzip
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ..api.exchange import INTERVALS
from ..api.payloads import decimal_text
from ..api.records import Book, Depth, Kline, Record, Trade
from ..api.stream import Message, Sink
from ..errors import UsageError
from ..printable import printable

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
# What each channel gives; private channels have no tardis type, and are not exported.
CHANNELS = ("trade", "book", "depth", "kline")
MAX_OPEN = 64  # files written at once: a recording of this exchange has tens of topics


def file_name(kind: str, day: str, symbol: str) -> str:
    """tardis's naming: coinsuper_trades_2026-12-03_BTC_USD.csv.gz."""
    return f"{EXCHANGE}_{kind}_{day}_{symbol}.csv.gz"


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


@dataclass
class _File:
    path: str  # its final name
    partial: str  # where rows go until it is done
    stream: gzip.GzipFile
    rows: int = 0


class Files:
    """The files being written, by (data type, symbol, day); each under a temporary name
    until `finish`, which renames it. A file already there is refused unless
    `overwrite`; whatever ends the export early (an error, Ctrl-C) leaves none of them."""

    def __init__(self, directory: str, *, overwrite: bool,
                 warn: Callable[[str], None]) -> None:
        self.directory, self.overwrite, self.warn = directory, overwrite, warn
        self._open: dict[tuple[str, str, str], _File] = {}
        self.done: list[_File] = []
        self._full = False

    def write(self, kind: str, symbol: str, day: str, row: list[str]) -> None:
        key = (kind, symbol, day)
        target = self._open.get(key)
        if target is None:
            target = self._start(key)
            if target is None:
                return
        # No cell needs quoting: decimals, times, buy/sell, an interval name and a symbol
        # that replay has checked to be BASE_QUOTE.
        target.stream.write(",".join(row).encode() + b"\n")
        target.rows += 1

    def _start(self, key: tuple[str, str, str]) -> _File | None:
        if len(self._open) >= MAX_OPEN:
            if not self._full:
                self._full = True
                self.warn(f"more than {MAX_OPEN} files at once (data types x symbols): "
                           "the rows of the others are left out")
            return None
        kind, symbol, day = key
        path = os.path.join(self.directory, file_name(kind, day, symbol))
        if os.path.exists(path) and not self.overwrite:
            raise UsageError(f"{printable(path)} exists: give --overwrite to replace it")
        partial = os.path.join(self.directory, f".{os.path.basename(path)}.partial-"
                                               f"{os.getpid()}")
        stream = gzip.GzipFile(partial, "wb", compresslevel=6, mtime=0)
        stream.write((",".join(COLUMNS[kind]) + "\n").encode())
        self._open[key] = found = _File(path, partial, stream)
        return found

    def finish_days_before(self, day: str) -> None:
        """Files of earlier days are done: a recording is read in time order."""
        for key in [key for key in self._open if key[2] < day]:
            self._finish(self._open.pop(key))

    def finish(self) -> None:
        for key in list(self._open):
            self._finish(self._open.pop(key))

    def _finish(self, file: _File) -> None:
        file.stream.close()
        os.replace(file.partial, file.path)
        self.done.append(file)

    def abandon(self) -> None:
        """Removes what was being written: no half file survives an early end."""
        for file in self._open.values():
            try:
                file.stream.close()
            finally:
                try:
                    os.unlink(file.partial)
                except OSError:
                    pass
        self._open.clear()


def utc_day(recv_ns: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(recv_ns // 1_000_000_000))


class ExportSink(Sink):
    """Writes each message's records as rows of the data types they give."""

    def __init__(self, files: Files) -> None:
        self.files = files
        self.candles = CandleRows()
        self._day = ""
        self.last_ms = 0

    def write(self, message: Message, records: list[Record] | None) -> None:
        day = utc_day(message.recv_ns)
        if day != self._day:
            # Candles that closed by now go in the day that is ending, then its files
            # are done: a day's files are never opened again.
            self._close_candles(message.recv_ms)
            self.files.finish_days_before(day)
            self._day = day
        self.last_ms = message.recv_ms
        local_us = str(message.recv_ns // 1000)
        for record in records or ():
            if isinstance(record, Kline):
                for kline, recv_ms in self.candles.add(record, message.recv_ms):
                    self._candle(kline, recv_ms)
            else:
                for kind, row in rows(record, local_us):
                    self.files.write(kind, record.symbol, day, row)

    def _candle(self, kline: Kline, recv_ms: int) -> None:
        # In the file of the day being written: its last version may have come the
        # day before (a candle closing at midnight), whose files are done.
        self.files.write("candles", kline.symbol, self._day, candle_row(kline, recv_ms))

    def _close_candles(self, now_ms: int) -> None:
        for kline, recv_ms in self.candles.closed(now_ms):
            self._candle(kline, recv_ms)

    def skipped(self, message: Message, problem: str) -> None:
        self.files.warn(problem)

    def end(self) -> None:
        """The recording is over: the candles its time has closed, then every file."""
        self._close_candles(self.last_ms)
        self.files.finish()


@dataclass(frozen=True)
class ExportOptions:
    """`coinsuper export`: the recordings, where the files go, and what to take."""

    files: tuple[str, ...]
    out: str
    overwrite: bool = False
    channels: tuple[str, ...] = ()
    symbols: tuple[str, ...] = ()
    start_ns: int | None = None
    end_ns: int | None = None


def export(opts: ExportOptions, *, warn: Callable[[str], None]) -> list[_File]:
    """Writes the recordings' market records as tardis csv files into `opts.out`;
    returns the files written. UsageError (exit 2) for a folder that cannot be written
    to, a file that exists without --overwrite, or a file that is not a recording."""
    from ..api.stream import pump
    from .replay import Recording, Selection, expand

    if not opts.out:
        raise UsageError("--out: give the folder the files go in")
    if os.path.exists(opts.out) and not os.path.isdir(opts.out):
        raise UsageError(f"--out {printable(opts.out)}: not a folder")
    if not os.path.isdir(opts.out):
        try:
            os.makedirs(opts.out, exist_ok=True)
        except OSError as error:
            raise UsageError(f"--out {printable(opts.out)}: {error.strerror or error}"
                             ) from None
    if not os.access(opts.out, os.W_OK | os.X_OK):
        raise UsageError(f"--out {printable(opts.out)}: not a folder this user can write in")
    wanted = [name for name in opts.channels if name not in CHANNELS]
    if wanted:
        raise UsageError(f"--channel {wanted[0]}: export writes the market channels "
                         f"({', '.join(CHANNELS)})")
    selection = Selection(frozenset(opts.channels or CHANNELS), frozenset(opts.symbols),
                          opts.start_ns, opts.end_ns)
    recording = Recording(expand(opts.files), selection=selection, warn=warn)
    files = Files(opts.out, overwrite=opts.overwrite, warn=warn)
    sink = ExportSink(files)
    try:
        pump(recording, sink)
        sink.end()
    except BaseException:
        files.abandon()
        raise
    return files.done
