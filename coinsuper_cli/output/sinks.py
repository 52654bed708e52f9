# Output for pipes and scripts: `jsonl` (one JSON object per record), `raw` (payloads as
# received), `csv`/`tsv` (rows) and `--template` (a line of text per record). What a
# record becomes is shape.py's; the sinks write it, and stream.pump decides when to
# flush. This module must not import rich: pipes should not pay for the live views.
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import fields
from decimal import Decimal
from operator import attrgetter
from typing import BinaryIO, Callable

from ..api.payloads import decimal_text as _text
from ..api.records import Depth, Levels, Record, Trade
from ..api.stream import Message, Sink
from ..printable import csv_field, escape_json_line, printable_bytes
from .shape import TIME_KEYS, Rows, Template, levels_json
from .times import TIME_TEXT

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_string = json.encoder.encode_basestring  # what _dumps does with a str: same bytes

# Each value as _dumps writes it, with decimals as strings in plain notation. A depth
# push is mostly levels: their JSON is joined straight from the text received.
_JSON: dict[type, Callable[[object], str]] = {
    str: _string,
    int: int.__repr__,
    Decimal: lambda value: '"' + _text(value) + '"',
    Levels: levels_json,
    tuple: levels_json,
}
# A time key's JSON under each --time: ms and s are numbers, iso a string.
_TIME_JSON: dict[str, Callable[[int], str]] = {
    "ms": int.__repr__,
    "s": TIME_TEXT["s"],
    "iso": lambda ms: '"' + TIME_TEXT["iso"](ms) + '"',
}
_KEYS: dict[type, tuple[tuple[str, str], ...]] = {}


def _keys(kind: type) -> tuple[tuple[str, str], ...]:
    """(field name, `,"name":`) for each field of a record type, in order."""
    keys = _KEYS[kind] = tuple((f.name, "," + _string(f.name) + ":") for f in fields(kind))
    return keys


_TRADE_FIELDS = attrgetter("symbol", "ts", "price", "qty", "side")
_TRADE_LINE = ('{"channel":"trade","recv":%d,"symbol":%s,"ts":%d,"price":"%s","qty":"%s",'
               '"side":%s}')


def _maybe_trade_json(trade: Trade, recv: int) -> str | None:
    """record_json of a trade in one step, when its fields hold the types they are
    declared with (what the parser builds): trades are most lines, a few a push."""
    symbol, ts, price, qty, side = _TRADE_FIELDS(trade)
    if (type(recv) is int and type(ts) is int and type(symbol) is str and type(side) is str
            and type(price) is Decimal and type(qty) is Decimal):
        return _TRADE_LINE % (recv, _string(symbol), ts, _text(price), _text(qty),
                              _string(side))
    return None


_DEPTH_FIELDS = attrgetter("symbol", "best_ask", "best_bid", "depth_percent", "asks", "bids")
_DEPTH_LINE = ('{"channel":"depth","recv":%d,"symbol":%s,"best_ask":"%s","best_bid":"%s",'
               '"depth_percent":"%s","asks":%s,"bids":%s}')


def _maybe_depth_json(depth: Depth, recv: int) -> str | None:
    """record_json of a depth record in one step, when it is as the parser builds it:
    its levels' JSON written already (records.Levels.json)."""
    symbol, ask, bid, percent, asks, bids = _DEPTH_FIELDS(depth)
    if (type(recv) is int and type(symbol) is str and type(ask) is Decimal
            and type(bid) is Decimal and type(percent) is Decimal and type(asks) is Levels
            and type(bids) is Levels and asks.json is not None and bids.json is not None):
        return _DEPTH_LINE % (recv, _string(symbol), _text(ask), _text(bid), _text(percent),
                              asks.json, bids.json)
    return None


_ONE_STEP = {Trade: _maybe_trade_json, Depth: _maybe_depth_json}


def record_json(record: Record, recv: int) -> str:
    """One jsonl line, without its newline: `channel`, `recv`, then the record's fields.
    Byte for byte what _dumps writes of that object with each Decimal as the string
    of its digits; written piece by piece so that levels need no list of lists."""
    kind = type(record)
    one_step = _ONE_STEP.get(kind)
    if one_step is not None:
        line = one_step(record, recv)
        if line is not None:
            return line
    keys = _KEYS.get(kind) or _keys(kind)
    to_json = _JSON.get
    parts = ['{"channel":', _string(kind.channel), ',"recv":']
    parts.append(to_json(type(recv), _dumps)(recv))
    for name, key in keys:
        value = getattr(record, name)
        parts.append(key)
        parts.append(to_json(type(value), _dumps)(value))
    parts.append("}")
    return "".join(parts)


def shaped_json(record: Record, recv: int, keys: Sequence[str] | None,
                time: str) -> str:
    """One jsonl line of `keys` only (None: all), in their order, times as --time says;
    a key that this record lacks (one of another channel of the command) is left out."""
    kind = type(record)
    if keys is None:
        keys = ("channel", "recv") + tuple(name for name, _ in _KEYS.get(kind) or _keys(kind))
    time_json, to_json = _TIME_JSON[time], _JSON.get
    parts = []
    for key in keys:
        if key == "channel":
            value = kind.channel
        elif key == "recv":
            value = recv
        else:
            value = getattr(record, key, None)
            if value is None:
                continue
        text = time_json(value) if key in TIME_KEYS else to_json(type(value), _dumps)(value)
        parts.append(_string(key) + ":" + text)
    return "{" + ",".join(parts) + "}"


class JsonlSink(Sink):
    """One JSON object per record (PRODUCT.md, "Output").

    Args:
        stream: a binary stream (stdout's buffer).
        warn: where one-line problems go (stderr).
        keys: only these keys, in this order (--fields); None: all.
        time: how time keys are written (--time).
    """

    def __init__(self, stream: BinaryIO, *, warn: Callable[[str], None],
                 keys: Sequence[str] | None = None, time: str = "ms") -> None:
        self._stream = stream
        self._warn = warn
        if keys is None and time == "ms":
            self._line = record_json  # the usual case, written for speed
        else:
            self._line = lambda record, recv: shaped_json(record, recv, keys, time)

    def write(self, message: Message, records: list[Record] | None) -> None:
        if records:
            recv, line = message.recv_ms, self._line
            text = "".join([line(r, recv) + "\n" for r in records])
            self._stream.write(escape_json_line(text).encode("utf-8"))

    def skipped(self, message: Message, problem: str) -> None:
        self._warn(problem)

    def flush(self) -> None:
        self._stream.flush()


class RawSink(Sink):
    """Each payload exactly as received, one a line; with `with_topic`, preceded by its
    topic and a space, like mosquitto_sub -v.

    Args:
        terminal: stdout is a terminal: control characters are shown escaped, since a
            payload could otherwise retitle or clear the screen. In a pipe every byte
            goes through as received.
    """

    wants_records = False

    def __init__(self, stream: BinaryIO, *, with_topic: bool = False,
                 terminal: bool = False) -> None:
        self._stream = stream
        self._with_topic = with_topic
        self._terminal = terminal

    def write(self, message: Message, records: list[Record] | None) -> None:
        payload = message.payload
        if self._with_topic:
            payload = message.feed.topic.encode() + b" " + payload
        if self._terminal:
            payload = printable_bytes(payload)
        write = self._stream.write
        write(payload)  # two writes into the buffer: no copy of the payload to join them
        write(b"\n")

    def flush(self) -> None:
        self._stream.flush()


class TableSink(Sink):
    r"""csv or tsv: a header line (unless `header` is False), then rows, one a line.

    csv quotes a field holding a quote, the delimiter, a line feed or a carriage return
    (RFC 4180, as Python's csv module reads it back; the module of Python 3.12 and
    earlier would leave a bare carriage return unquoted, which splits the row). tsv
    quotes nothing: a backslash, tab, line feed and carriage return in a field are
    written `\\`, `\t`, `\n`, `\r` (as mlr and jq's @tsv write them), so that every
    record is one line of tab-separated fields for `cut` and `awk -F'\t'`.

    Args:
        rows: what rows a record makes (shape.Rows).
        delimiter: "," for csv, a tab for tsv.
    """

    def __init__(self, stream: BinaryIO, rows: Rows, *, delimiter: str = ",",
                 header: bool = True, warn: Callable[[str], None]) -> None:
        self._stream = stream
        self._rows = rows
        self._warn = warn
        self._lines: list[str] = []  # joined and encoded once a message
        self._delimiter = delimiter
        self._escape = _tsv_field if delimiter == "\t" else \
            (lambda field: csv_field(field, delimiter))
        self._special = "\\" if delimiter == "\t" else '"'
        self._skipped_channels: set[str] = set()
        self._heads = {side: _level_heads(side, delimiter, 64) for side in ("ask", "bid")}
        if header:
            self._lines.append(self._line(rows.header))
            self._emit()

    def write(self, message: Message, records: list[Record] | None) -> None:
        if records and records[0].channel != self._rows.channel:
            self._other_channel(records[0].channel)
            return
        if records:
            recv, rows = message.recv_ms, self._rows
            if not rows.whole:
                self._write_rows([row for record in records for row in rows(record, recv)])
            elif rows.has_levels:
                for record in records:
                    self._write_levels(record, recv)
            else:
                self._write_rows(rows.bases(records, recv))
            self._emit()

    def _other_channel(self, channel: str) -> None:
        """A table has one channel's columns: another channel's records (a replay's,
        met past the lines that named its channels) are skipped, said once."""
        if channel not in self._skipped_channels:
            self._skipped_channels.add(channel)
            self._warn(f"skipped the {channel} records: --format csv and tsv take one "
                       f"channel, here {self._rows.channel} (replay --channel chooses)")

    def _line(self, row: Sequence[str]) -> str:
        """One row, each field quoted or escaped as it needs."""
        if len(row) == 1 and row[0] == "" and self._delimiter != "\t":
            return '""\n'  # not an empty line, which csv readers skip
        return self._delimiter.join(map(self._escape, row)) + "\n"

    def _write_rows(self, rows: Sequence[Sequence[str]]) -> None:
        """Rows joined by the delimiter, which is what quoting or escaping writes of
        fields that hold no delimiter, line break or quote (csv) or backslash (tsv); a
        message with any such field is written field by field. One check of the joined
        text covers them all."""
        delimiter = self._delimiter
        text = "\n".join(map(delimiter.join, rows)) + "\n"
        if self._needs_escapes(text, sum(map(len, rows)) - len(rows), len(rows)) \
                or (len(rows[0]) == 1 and "\n\n" in "\n" + text):  # csv writes "" there
            self._lines.extend(map(self._line, rows))
        else:
            self._lines.append(text)

    def _write_levels(self, record: Record, recv: int) -> None:
        """A depth push is a hundred rows that differ only in their last four columns:
        the first ones are quoted or escaped once, and each level's text (plain
        decimals, which need neither) is joined on."""
        rows, lines, delimiter = self._rows, self._lines, self._delimiter
        base = rows.base(record, recv)
        joined = delimiter.join(base)
        if self._needs_escapes(joined + "\n", len(base) - 1, 1):
            joined = self._line(base)[:-1]
        prefix = joined + delimiter
        for side, text in rows.sides(record):
            heads = self._heads[side]
            if len(heads) < len(text):  # zip stops at the shorter: more are rarely needed
                heads = self._heads[side] = _level_heads(side, delimiter, len(text))
            lines.append("".join([f"{prefix}{head}{price}{delimiter}{quantity}\n"
                                  for head, (price, quantity) in zip(heads, text)]))

    def _needs_escapes(self, text: str, delimiters: int, lines: int) -> bool:
        """Whether the fields joined into `text` (by `delimiters` delimiters, in `lines`
        lines ending in a newline) hold a quote (csv) or backslash (tsv), a carriage
        return, a line feed or a delimiter of their own."""
        return (self._special in text or "\r" in text or text.count("\n") != lines
                or text.count(self._delimiter) != delimiters)

    def _emit(self) -> None:
        text = "".join(self._lines)
        self._lines.clear()
        self._stream.write(text.encode("utf-8", "backslashreplace"))

    def skipped(self, message: Message, problem: str) -> None:
        self._warn(problem)

    def flush(self) -> None:
        self._stream.flush()


_TSV_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _tsv_field(field: str) -> str:
    return field.translate(_TSV_ESCAPES)


def _level_heads(side: str, delimiter: str, count: int) -> tuple[str, ...]:
    """`ask,0,`, `ask,1,`, ...: the side and level columns of a side's rows."""
    return tuple(f"{side}{delimiter}{level}{delimiter}" for level in range(count))


class TemplateSink(Sink):
    """--template: one line of text per record."""

    def __init__(self, stream: BinaryIO, template: Template, *,
                 warn: Callable[[str], None]) -> None:
        self._stream = stream
        self._template = template
        self._warn = warn

    def write(self, message: Message, records: list[Record] | None) -> None:
        if records:
            recv, topic, line = message.recv_ms, message.feed.topic, self._template
            text = "".join([line(r, recv, topic) + "\n" for r in records])
            self._stream.write(text.encode("utf-8", "backslashreplace"))

    def skipped(self, message: Message, problem: str) -> None:
        self._warn(problem)

    def flush(self) -> None:
        self._stream.flush()
