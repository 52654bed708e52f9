# Output for pipes and scripts: `jsonl` (one JSON object per record), `raw` (payloads as
# received), `csv`/`tsv` (rows) and `--template` (a line of text per record). What a
# record becomes is shape.py's; the sinks write it, and stream.pump decides when to
# flush. This module must not import rich: pipes should not pay for the live views.
from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import fields
from decimal import Decimal
from typing import BinaryIO, Callable

from .payloads import decimal_text as _text
from .printable import escape_json_line, printable_bytes
from .records import Levels, Record
from .shape import TIME_KEYS, Rows, Template, levels_json
from .stream import Message, Sink
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


def record_json(record: Record, recv: int) -> str:
    """One jsonl line, without its newline: `channel`, `recv`, then the record's fields.
    Byte for byte what _dumps writes of that object with each Decimal as the string
    of its digits; written piece by piece so that levels need no list of lists."""
    kind = type(record)
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
    """csv or tsv: a header line (unless `header` is False), then rows; quoting is the
    standard library's csv module's, so any csv reader reads them back.

    Args:
        rows: what rows a record makes (shape.Rows).
        delimiter: "," for csv, a tab for tsv.
    """

    def __init__(self, stream: BinaryIO, rows: Rows, *, delimiter: str = ",",
                 header: bool = True, warn: Callable[[str], None]) -> None:
        self._stream = stream
        self._rows = rows
        self._warn = warn
        self._lines: list[str] = []
        self._delimiter = delimiter
        self._skipped_channels: set[str] = set()
        self._heads = {side: _level_heads(side, delimiter, 64) for side in ("ask", "bid")}
        # The writer writes into a list, which is joined and encoded once a message.
        self._writer = csv.writer(_Lines(self._lines), delimiter=delimiter,
                                  lineterminator="\n")
        if header:
            self._writer.writerow(rows.header)
            self._emit()

    def write(self, message: Message, records: list[Record] | None) -> None:
        if records and records[0].channel != self._rows.channel:
            self._other_channel(records[0].channel)
            return
        if records:
            recv, rows, writerows = message.recv_ms, self._rows, self._writer.writerows
            if not rows.whole:
                for record in records:
                    writerows(rows(record, recv))
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

    def _write_rows(self, rows: list[list[str]]) -> None:
        """Rows joined by the delimiter, which is what the csv module writes of fields
        that hold no delimiter, quote or line break; a message with any such field is
        written by the csv module, quoted. One check of the joined text covers them all."""
        delimiter = self._delimiter
        text = "\n".join(map(delimiter.join, rows)) + "\n"
        if _needs_quoting(text, delimiter, sum(map(len, rows)) - len(rows) + 1,
                          lines=len(rows)):
            self._writer.writerows(rows)
        else:
            self._lines.append(text)

    def _write_levels(self, record: Record, recv: int) -> None:
        """A depth push is a hundred rows that differ only in their last four columns:
        the csv module quotes the first ones once, and each level's text (plain
        decimals, never quoted) is joined on."""
        rows, lines, delimiter = self._rows, self._lines, self._delimiter
        base = rows.base(record, recv)
        joined = delimiter.join(base)
        if _needs_quoting(joined, delimiter, len(base)):
            self._writer.writerow(base)
            joined = lines.pop()[:-1]
        prefix = joined + delimiter
        for side, text in rows.sides(record):
            heads = self._heads[side]
            if len(heads) < len(text):  # zip stops at the shorter: more are rarely needed
                heads = self._heads[side] = _level_heads(side, delimiter, len(text))
            lines.append("".join([f"{prefix}{head}{price}{delimiter}{quantity}\n"
                                  for head, (price, quantity) in zip(heads, text)]))

    def _emit(self) -> None:
        text = "".join(self._lines)
        self._lines.clear()
        self._stream.write(text.encode("utf-8", "backslashreplace"))

    def skipped(self, message: Message, problem: str) -> None:
        self._warn(problem)

    def flush(self) -> None:
        self._stream.flush()


def _needs_quoting(text: str, delimiter: str, fields: int, *, lines: int = 0) -> bool:
    """Whether fields joined into `text` (`fields` of them, in `lines` lines ending in a
    newline) hold a quote, a line break or a delimiter of their own: the csv module
    would quote them."""
    return ('"' in text or "\r" in text or text.count("\n") != lines
            or text.count(delimiter) != fields - 1)


def _level_heads(side: str, delimiter: str, count: int) -> tuple[str, ...]:
    """`ask,0,`, `ask,1,`, ...: the side and level columns of a side's rows."""
    return tuple(f"{side}{delimiter}{level}{delimiter}" for level in range(count))


class _Lines:
    """A file for csv.writer that keeps what it writes in a list."""

    def __init__(self, lines: list[str]) -> None:
        self.write = lines.append


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
