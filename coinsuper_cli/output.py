# Streaming output for pipes: `jsonl` (one JSON object per record) and `raw` (payloads as
# received). Formatting is pure; the sinks write, and stream.pump decides when to flush.
# This module must not import rich: pipes should not pay for the live views.
from __future__ import annotations

import json
from dataclasses import fields
from decimal import Decimal
from typing import BinaryIO, Callable

from .payloads import decimal_text as _text
from .printable import escape_c1_in_json, printable_bytes
from .records import Levels, Record
from .stream import Message, Sink

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_string = json.encoder.encode_basestring  # what _dumps does with a str: same bytes


def _levels_json(text: tuple[tuple[str, str], ...]) -> str:
    """[[price, quantity], ...] joined from the text of Levels: plain decimals, which
    JSON strings hold without escapes."""
    if not text:
        return "[]"
    return '[["' + '"],["'.join(map('","'.join, text)) + '"]]'


# Each value as _dumps writes it, with decimals as strings in plain notation. A depth
# push is mostly levels: their JSON is joined straight from the text received.
_JSON: dict[type, Callable[[object], str]] = {
    str: _string,
    int: int.__repr__,
    Decimal: lambda value: '"' + _text(value) + '"',
    Levels: lambda levels: _levels_json(levels.text),
    tuple: lambda pairs: _dumps([[_text(p), _text(q)] for p, q in pairs]),  # by hand
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


class JsonlSink(Sink):
    """One JSON object per record (PRODUCT.md, "Output").

    Args:
        stream: a binary stream (stdout's buffer).
        warn: where one-line problems go (stderr).
    """

    def __init__(self, stream: BinaryIO, *, warn: Callable[[str], None]) -> None:
        self._stream = stream
        self._warn = warn

    def write(self, message: Message, records: list[Record] | None) -> None:
        if records:
            recv = message.recv_ms
            text = "".join([record_json(r, recv) + "\n" for r in records])
            self._stream.write(escape_c1_in_json(text).encode("utf-8"))

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
