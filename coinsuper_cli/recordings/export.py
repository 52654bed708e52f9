# `coinsuper export`: recordings into the datasets that analysis and backtesting tools
# read, tardis-format csv (the de facto layout of crypto market data) or Parquet: one
# file per data type, symbol and UTC day of the local receive time. Read through
# replay's source, so trades are de-duplicated and parsed exactly as a live run prints
# them. The tables are export_tables.py, the files and their temporary names
# export_files.py, Parquet export_parquet.py (pyarrow, only when asked for), the bar on
# a terminal export_progress.py (rich, only there); this module is the sink and the
# command's checks.
from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from ..api.channels import PRIVATE, PUBLIC
from ..api.records import Kline, Record
from ..api.stream import Message, Sink
from ..errors import UsageError
from ..printable import printable
from .export_files import Files, Written
from .export_private import private_rows
from .export_tables import COLUMNS, EXCHANGE, CandleRows, candle_row, rows

__all__ = ["CHANNELS", "COLUMNS", "ExportOptions", "ExportSink", "export"]

# What each channel gives. The private ones have no tardis type: they are exported only
# with --private, into tables of their own (export_private.py).
CHANNELS = PUBLIC
FORMATS = ("tardis", "parquet")
INSTALL_PARQUET = "pip install 'coinsuper-cli[parquet]'"
DAY_NS = 86_400 * 10**9
_EXCHANGE_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")


class ExportSink(Sink):
    """Writes each message's records as rows of the data types they give."""

    def __init__(self, files: Files, *, progress=None) -> None:
        self.files = files
        self.progress = progress  # export_progress.ProgressBar, on a terminal
        self.candles = CandleRows()
        self._day = ""
        self._day_ends = 0  # recv_ns where self._day ends: no strftime per message
        self.last_ms = 0
        self.messages = 0
        self._said_bad = False

    def write(self, message: Message, records: list[Record] | None) -> None:
        self.messages += 1
        recv_ns = message.recv_ns
        if recv_ns >= self._day_ends or recv_ns < self._day_ends - DAY_NS:
            self._new_day(recv_ns)
        self.last_ms = recv_ns // 1_000_000
        local_us = str(recv_ns // 1000)
        day, write = self._day, self.files.write
        for record in records or ():
            if isinstance(record, Kline):
                for kline, recv_ms in self.candles.add(record, self.last_ms):
                    self._candle(kline, recv_ms)
            else:
                found = rows(record, local_us)
                if found:
                    for kind, row in found:
                        write(kind, record.symbol, day, row)
                else:  # only --private lets the account's records through
                    self._private(record, local_us, day)

    def _private(self, record: Record, local_us: str, day: str) -> None:
        try:
            found = private_rows(record, local_us)
        except ValueError as error:
            if not self._said_bad:
                self._said_bad = True
                self.files.warn(f"left out {error}; further ones without a word")
            return
        for kind, symbol, row in found:
            self.files.write(kind, symbol, day, row)

    def _new_day(self, recv_ns: int) -> None:
        day = time.strftime("%Y-%m-%d", time.gmtime(recv_ns // 1_000_000_000))
        self._day_ends = (recv_ns // DAY_NS + 1) * DAY_NS
        if day != self._day:
            # Candles that closed by now go in the day that is ending, then its files
            # are done: a day's files are never opened again.
            self._close_candles(recv_ns // 1_000_000)
            self.files.finish_days_before(day)
            self._day = day

    def _candle(self, kline: Kline, recv_ms: int) -> None:
        # In the file of the day being written: its last version may have come the
        # day before (a candle closing at midnight), whose files are done.
        self.files.write("candles", kline.symbol, self._day, candle_row(kline, recv_ms))

    def _close_candles(self, now_ms: int) -> None:
        for kline, recv_ms in self.candles.closed(now_ms):
            self._candle(kline, recv_ms)

    def skipped(self, message: Message, problem: str) -> None:
        self.files.warn(problem)

    def flush(self) -> None:
        """After each batch: the progress bar, if any, learns how far the export is."""
        if self.progress is not None:
            self.progress.update(self.messages)

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
    fmt: str = "tardis"
    private: bool = False
    tardis_exchange: str = EXCHANGE


def check_format(fmt: str) -> None:
    """UsageError unless `fmt` can be written here: Parquet needs pyarrow."""
    if fmt not in FORMATS:
        raise UsageError(f"--format {printable(fmt)}: one of {', '.join(FORMATS)}")
    if fmt == "parquet":
        try:
            from . import export_parquet  # noqa: F401  (imports pyarrow)
        except ImportError:
            raise UsageError(f"--format parquet needs pyarrow, which is not installed: "
                             f"{INSTALL_PARQUET}") from None


def check_exchange(name: str) -> None:
    """UsageError unless `name` can stand in the exchange column: a tardis exchange's
    spelling (lower case, digits, dashes), which no csv reader splits or quotes."""
    if not _EXCHANGE_NAME.fullmatch(name):
        raise UsageError(f"--tardis-exchange {printable(repr(name))}: give an exchange as "
                         "tardis.dev spells it, like binance or bitmex")


def check_out(out: str) -> None:
    """UsageError unless `out` is, or can be made, a folder this user writes in."""
    if not out:
        raise UsageError("--out: give the folder the files go in")
    if os.path.exists(out) and not os.path.isdir(out):
        raise UsageError(f"--out {printable(out)}: not a folder")
    if not os.path.isdir(out):
        try:
            os.makedirs(out, exist_ok=True)
        except OSError as error:
            raise UsageError(f"--out {printable(out)}: {error.strerror or error}"
                             ) from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise UsageError(f"--out {printable(out)}: not a folder this user can write in")


def export(opts: ExportOptions, *, warn: Callable[[str], None],
           progress_to: TextIO | None = None) -> list[Written]:
    """Writes the recordings' market records as tardis csv or Parquet files into
    `opts.out`; returns the files written. UsageError (exit 2) for a folder that cannot
    be written to, a file that exists without --overwrite, a file that is not a
    recording, or Parquet without pyarrow. `progress_to`: a terminal to draw a progress
    bar on."""
    from ..api.stream import pump
    from .replay import Recording, Selection, expand

    check_format(opts.fmt)
    check_exchange(opts.tardis_exchange)
    check_out(opts.out)
    allowed = CHANNELS + PRIVATE if opts.private else CHANNELS
    wanted = [name for name in opts.channels if name not in allowed]
    if wanted:
        raise UsageError(f"--channel {wanted[0]}: export writes the market channels "
                         f"({', '.join(CHANNELS)}), and with --private your own "
                         f"({', '.join(PRIVATE)})")
    selection = Selection(frozenset(opts.channels or allowed), frozenset(opts.symbols),
                          opts.start_ns, opts.end_ns)
    paths = expand(opts.files)
    progress = None
    if progress_to is not None:
        from .export_progress import ProgressBar  # rich: only on a terminal

        progress = ProgressBar(paths, progress_to, warn=warn)
        warn = progress.say  # lines above the bar, not through it
    try:
        recording = Recording(paths, selection=selection, warn=warn)
        files = Files(opts.out, overwrite=opts.overwrite, warn=warn, fmt=opts.fmt,
                      exchange=opts.tardis_exchange)
        files.remove_stale()
        sink = ExportSink(files, progress=progress)
        try:
            pump(recording, sink)
            sink.end()
            if progress is not None:
                progress.done(sink.messages)
        except BaseException:
            files.abandon()
            raise
    finally:
        if progress is not None:
            progress.close()
    return files.done
