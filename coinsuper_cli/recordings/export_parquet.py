# `coinsuper export --format parquet`: the tardis tables as Parquet, typed. Imported
# only when Parquet is asked for (pyarrow is the optional extra `parquet`).
#
# The rows are the csv rows (export_tables.py), gathered as text and typed by Arrow's
# csv reader in C++, a row group at a time: prices and amounts are parsed straight from
# the exchange's digits into decimals (a value that does not fit is an error there, never
# a rounding), with no Decimal and no float on the way.
#
# Decimals are decimal128(30, 12): the exchange sends prices with 2 decimals (fiat
# quotes) or up to 8 (crypto quotes) and quantities with 4 (spec: "Payload fields"),
# so 12 leaves room for a market listed with finer ticks, and 18 digits before the
# point dwarf any price, amount or volume. Precision stays at most 38 so that DuckDB and
# polars read the columns as DECIMAL (DuckDB reads a wider one as DOUBLE), and a product
# in DuckDB (price * amount: DECIMAL(38, 24)) still holds 14 digits before the point.
# A value with more decimals or digits than that (no recording of this exchange has one)
# is a row left out, said once per file, never a rounded value.
from __future__ import annotations

import csv
import ctypes
import io
import os
import re
from collections.abc import Callable

# The C library's allocator, not pyarrow's default (mimalloc): on a 1,000,000-push export
# its peak was 123 MB against 142, and it held 109 MB at the end against 130. Only as a
# default (a user's setting wins), and only where pyarrow is not imported yet: it reads
# the variable once, at its import (pa.set_memory_pool later saved nothing: mimalloc had
# reserved its memory by then).
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

import pyarrow as pa  # noqa: E402
import pyarrow.csv as pa_csv  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from .export_private import ALL_COLUMNS, PRIVATE_COLUMNS  # noqa: E402

PRECISION, SCALE = 30, 12
DECIMAL = pa.decimal128(PRECISION, SCALE)
TIMESTAMP = pa.timestamp("us", tz="UTC")
TEXT_COLUMNS = frozenset({"exchange", "symbol", "id", "side", "interval", "currency",
                          "order_id", "order_type", "liquidity", "state"})
TIME_COLUMNS = frozenset({"timestamp", "local_timestamp", "created_timestamp"})
# A row group is written when a file holds this many rows, or when all files together
# hold BUFFER_BYTES of text (the fullest is written then): memory stays flat whatever
# the recording's length and however many files are open.
ROW_GROUP_ROWS = 100_000
BUFFER_BYTES = 4 * 1024 * 1024
CHUNK_ROWS = 64  # lines joined into bytes at a time (64 files x 64 rows: under 4 MB)


def _fits(kind: pa.Decimal128Type | pa.Decimal256Type) -> Callable[[str], bool]:
    """Whether a decimal's text fits `kind` exactly: digits before and after the point
    within its precision and scale."""
    whole, scale = kind.precision - kind.scale, kind.scale
    return re.compile(rf"-?[0-9]{{1,{whole}}}(\.[0-9]{{1,{scale}}})?").fullmatch


# Balances arrive as JSON numbers with up to 30 decimals (spec: "Payload fields"): a
# wider decimal of their own. DuckDB reads it as DOUBLE; the file keeps every digit.
BALANCE = pa.decimal256(60, 30)


def _type(kind: str, column: str) -> pa.DataType:
    if column in TEXT_COLUMNS:
        return pa.string()
    if column in TIME_COLUMNS:
        return TIMESTAMP
    return BALANCE if kind == "balances" else DECIMAL


def _read_as(column: str, kind: pa.DataType) -> pa.DataType:
    """What Arrow's csv reader reads a column as: times as integers, and balances as
    text (it converts to decimal128 only), each cast to its own type afterwards."""
    if column in TIME_COLUMNS:
        return pa.int64()
    return pa.string() if kind == BALANCE else kind


SCHEMAS = {kind: pa.schema([(name, _type(kind, name)) for name in columns])
           for kind, columns in ALL_COLUMNS.items()}


def _large_blocks_back_to_the_system() -> None:
    """glibc raises its mmap threshold each time a large block is freed (up to 32 MB);
    the row groups' buffers then come from the heap, where a few small objects left
    between them keep freed memory resident, and the resident size grows with each row
    group (measured over 400,000 pushes: 97 -> 104 MB; with 16 MB row groups 93 -> 119).
    A fixed threshold keeps large blocks mmap'd, given back when freed (95 -> 98)."""
    try:
        ctypes.CDLL(None).mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD (malloc.h)
    except (OSError, AttributeError, TypeError):
        pass  # not glibc: no such threshold to fix


class ParquetTables:
    """Opens Parquet files that share one budget of buffered text."""

    def __init__(self, *, warn: Callable[[str], None]) -> None:
        _large_blocks_back_to_the_system()
        self.warn = warn
        self._open: list[ParquetTable] = []
        self.buffered = 0  # bytes of text held by all open files

    def open(self, path: str, kind: str) -> ParquetTable:
        table = ParquetTable(self, path, kind)
        self._open.append(table)
        return table

    def over_budget(self) -> None:
        """Writes the fullest file's rows as a row group."""
        max(self._open, key=lambda table: table.size).write_group()

    def closed(self, table: ParquetTable) -> None:
        self._open.remove(table)


class ParquetTable:
    """One Parquet file: csv lines in, a row group out every ROW_GROUP_ROWS rows (or
    sooner, when the shared budget runs out). Lines are kept as bytes, CHUNK_ROWS joined
    at a time: a str per line would cost about 50 bytes more than its text."""

    def __init__(self, owner: ParquetTables, path: str, kind: str) -> None:
        self._owner, self.path, self.kind = owner, path, kind
        self.schema = SCHEMAS[kind]
        self._lines: list[str] = []  # not yet joined
        self._chunks: list[bytes] = []  # lines joined, each ending in a newline
        self.rows = self.size = 0  # joined and held: rows, bytes
        # Dictionaries for the text columns only: tried on 30 decimal columns, a
        # dictionary costs time and is dropped again (measured: a third faster, and
        # smaller files, without them).
        self._writer = pq.ParquetWriter(path, self.schema, compression="zstd",
                                        use_dictionary=sorted(TEXT_COLUMNS & set(
                                            self.schema.names)))
        self._convert = pa_csv.ConvertOptions(
            column_types={name: _read_as(name, kind_)
                          for name, kind_ in zip(self.schema.names, self.schema.types)},
            strings_can_be_null=True)  # an empty cell is null, as in tardis's csv
        self._read = pa_csv.ReadOptions(column_names=self.schema.names, use_threads=False)
        # The account's tables quote the exchange's text, which may hold a line break;
        # the market tables hold none, and parse faster without looking for one.
        self._parse = pa_csv.ParseOptions(newlines_in_values=kind in PRIVATE_COLUMNS)
        self._said = False

    def write(self, line: str) -> None:
        lines = self._lines
        lines.append(line)
        if len(lines) >= CHUNK_ROWS:
            self._join()
            if self.rows >= ROW_GROUP_ROWS:
                self.write_group()
            elif self._owner.buffered > BUFFER_BYTES:
                self._owner.over_budget()

    def _join(self) -> None:
        if self._lines:
            chunk = ("\n".join(self._lines) + "\n").encode()
            self.rows += len(self._lines)
            self._lines = []
            self._chunks.append(chunk)
            self.size += len(chunk)
            self._owner.buffered += len(chunk)

    def write_group(self) -> None:
        self._join()
        if not self._chunks:
            return
        text, self._chunks = b"".join(self._chunks), []
        self._owner.buffered -= self.size
        self.rows = self.size = 0
        try:
            table = self._typed(text)
        except pa.ArrowInvalid:  # rare: find the rows that don't fit
            text = self._fitting(text.decode())
            table = self._typed(text) if text else None
        del text
        if table is not None:
            self._writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
        del table
        # What the conversion took goes back to the system now, not at some later
        # allocation: the resident size stays that of one row group.
        pa.default_memory_pool().release_unused()

    def _typed(self, text: bytes) -> pa.Table:
        read = pa_csv.read_csv(pa.BufferReader(text), read_options=self._read,
                               parse_options=self._parse, convert_options=self._convert)
        # The csv reader gives the times as the integers they are (microseconds since
        # the epoch); as timestamps they are the same 64 bits, cast without a copy. A
        # balance comes as its text, cast exactly (ArrowInvalid if it does not fit).
        return pa.Table.from_arrays(
            [read.column(i) if read.schema.field(i).type == field.type
             else read.column(i).cast(field.type) for i, field in enumerate(self.schema)],
            schema=self.schema)

    def _fitting(self, text: str) -> bytes:
        """The rows of `text` whose decimals fit their columns, as csv again. Read with
        the csv module: an account's table may quote a comma or a line break."""
        checks = [(i, _fits(field.type)) for i, field in enumerate(self.schema)
                  if pa.types.is_decimal(field.type)]
        out = io.StringIO()
        kept = csv.writer(out, lineterminator="\n")
        for cells in csv.reader(io.StringIO(text, newline="")):
            bad = [i for i, fits in checks if cells[i] and not fits(cells[i])]
            if not bad:
                kept.writerow(cells)
            elif not self._said:
                self._said = True
                self._owner.warn(
                    f"left out of {self.kind} a row holding {cells[bad[0]][:40]}, which "
                    f"{self.schema.field(bad[0]).type} cannot hold exactly (the csv format "
                    "keeps it); further such rows of the file are left out without a word")
        return out.getvalue().encode()

    def close(self) -> None:
        self.write_group()
        self._writer.close()
        self._owner.closed(self)

    def discard(self) -> None:
        self._owner.buffered -= self.size
        self._lines, self._chunks = [], []
        self._owner.closed(self)
        self._writer.close()
