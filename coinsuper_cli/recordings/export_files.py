# The files `coinsuper export` writes, one per data type, symbol and UTC day, each
# complete under its final name or absent: rows go to a hidden temporary name in the same
# folder, renamed when the file is done (a rename within a folder is atomic, so a reader
# sees the whole file or none). The temporary name ends in `.partial-HOST-PID`, so that
# no glob a reader uses (`*.csv.gz`, `*.parquet`) takes it; one left by an export that
# was killed (SIGKILL leaves no time to remove it) is removed by the next export into
# that folder once its process is gone, and left alone while that process runs.
from __future__ import annotations

import gzip
import os
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ..errors import UsageError
from ..printable import printable
from .export_private import ALL_COLUMNS
from .export_tables import EXCHANGE

MAX_OPEN = 64  # files written at once: a recording of this exchange has tens of topics
SUFFIXES = {"tardis": ".csv.gz", "parquet": ".parquet"}
CSV_BATCH = 512  # rows joined into one write: gzip's per-write cost is then negligible
# gzip level 5, not 6: measured on exported books and trades, it compresses in 55-60% of
# level 6's time into files 2-5% larger (compressing was the largest single cost of an
# export of book pushes).
COMPRESS_LEVEL = 5


def file_name(kind: str, day: str, symbol: str, fmt: str = "tardis") -> str:
    """tardis's naming: coinsuper_trades_2026-12-03_BTC_USD.csv.gz (or .parquet)."""
    return f"{EXCHANGE}_{kind}_{day}_{symbol}{SUFFIXES[fmt]}"


class Table(Protocol):
    """A file being written, rows as csv lines (without the newline)."""

    def write(self, line: str) -> None: ...

    def close(self) -> None:
        """Writes what is left: the file is complete."""

    def discard(self) -> None:
        """Releases the file without completing it (it is removed after)."""


class CsvTable:
    """tardis csv, gzip. Lines are gathered and written CSV_BATCH at a time: one write
    of a few kB costs gzip about what one of a row does."""

    def __init__(self, path: str, kind: str) -> None:
        self._stream = gzip.GzipFile(path, "wb", compresslevel=COMPRESS_LEVEL, mtime=0)
        self._lines = [",".join(ALL_COLUMNS[kind])]

    def write(self, line: str) -> None:
        lines = self._lines
        lines.append(line)
        if len(lines) >= CSV_BATCH:
            self._flush()

    def _flush(self) -> None:
        self._lines.append("")  # the last line's newline
        self._stream.write("\n".join(self._lines).encode())
        self._lines = []

    def close(self) -> None:
        if self._lines:
            self._flush()
        self._stream.close()

    def discard(self) -> None:
        self._stream.close()


def table_maker(fmt: str, warn: Callable[[str], None]) -> Callable[[str, str], Table]:
    """What opens a file of format `fmt` (tardis or parquet) at a path, for a data type."""
    if fmt == "parquet":
        from .export_parquet import ParquetTables  # pyarrow: only when asked for

        return ParquetTables(warn=warn).open
    return CsvTable


@dataclass
class Written:
    path: str  # its final name
    partial: str  # where rows go until it is done
    table: Table
    rows: int = 0


_PARTIAL = re.compile(r"\.coinsuper_.*\.partial-(.+)-([0-9]+)\Z")


_OURS = len(EXCHANGE)  # every row begins with it, then a comma


class Files:
    """The files being written, by (data type, symbol, day); each under a temporary name
    until `finish`, which renames it. A file already there is refused unless
    `overwrite`; whatever ends the export early (an error, Ctrl-C) leaves none of them."""

    def __init__(self, directory: str, *, overwrite: bool, warn: Callable[[str], None],
                 fmt: str = "tardis", exchange: str = EXCHANGE) -> None:
        self.directory, self.overwrite, self.warn, self.fmt = directory, overwrite, warn, fmt
        # --tardis-exchange: the name in every row's first cell, in place of ours.
        self._exchange = None if exchange == EXCHANGE else exchange
        self._open_table = table_maker(fmt, warn)
        self._open: dict[tuple[str, str, str], Written] = {}
        self.done: list[Written] = []
        self._full = False
        self._tag = f"{socket.gethostname()}-{os.getpid()}"

    def write(self, kind: str, symbol: str, day: str, line: str) -> None:
        """One row, a csv line without its newline (export_tables.rows)."""
        key = (kind, symbol, day)
        target = self._open.get(key)
        if target is None:
            target = self._start(key)
            if target is None:
                return
        if self._exchange is not None:
            line = self._exchange + line[_OURS:]
        target.table.write(line)
        target.rows += 1

    def _start(self, key: tuple[str, str, str]) -> Written | None:
        if len(self._open) >= MAX_OPEN:
            if not self._full:
                self._full = True
                self.warn(f"more than {MAX_OPEN} files at once (data types x symbols): "
                          "the rows of the others are left out")
            return None
        kind, symbol, day = key
        path = os.path.join(self.directory, file_name(kind, day, symbol, self.fmt))
        if os.path.exists(path) and not self.overwrite:
            raise UsageError(f"{printable(path)} exists: give --overwrite to replace it")
        partial = os.path.join(self.directory,
                               f".{os.path.basename(path)}.partial-{self._tag}")
        self._open[key] = found = Written(path, partial, self._open_table(partial, kind))
        return found

    def finish_days_before(self, day: str) -> None:
        """Files of earlier days are done: a recording is read in time order."""
        for key in [key for key in self._open if key[2] < day]:
            self._finish(self._open.pop(key))

    def finish(self) -> None:
        for key in list(self._open):
            self._finish(self._open.pop(key))

    def _finish(self, file: Written) -> None:
        file.table.close()
        os.replace(file.partial, file.path)
        self.done.append(file)

    def abandon(self) -> None:
        """Removes what was being written: no half file survives an early end."""
        for file in self._open.values():
            try:
                file.table.discard()
            except Exception:  # a full disk, say: the file goes anyway
                pass
            finally:
                try:
                    os.unlink(file.partial)
                except OSError:
                    pass
        self._open.clear()

    def remove_stale(self) -> None:
        """Removes the temporary files that killed exports left in the folder: those of
        this host whose process is gone. A running export's are left alone (its PID is
        alive), and so are another host's (a shared folder: its PIDs are not ours)."""
        host, removed = socket.gethostname(), 0
        try:
            names = os.listdir(self.directory)
        except OSError:
            return
        for name in names:
            found = _PARTIAL.fullmatch(name)
            if found is None or found[1] != host or _alive(int(found[2])):
                continue
            try:
                os.unlink(os.path.join(self.directory, name))
                removed += 1
            except OSError:
                pass
        if removed:
            self.warn(f"removed {removed} temporary file{'s' if removed > 1 else ''} that "
                      "an export killed before it finished left behind")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # another user's process, or not a PID we can ask about: keep
    return True
