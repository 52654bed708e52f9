# Streaming output for pipes: `jsonl` (one JSON object per record) and `raw` (payloads as
# received). Formatting is pure; the sinks write, and stream.pump decides when to flush.
# This module must not import rich: pipes should not pay for the live views.
from __future__ import annotations

import json
from dataclasses import fields
from decimal import Decimal
from typing import BinaryIO, Callable

from .printable import escape_c1_in_json, printable_bytes
from .records import Record
from .stream import Message, Sink

_FIELD_NAMES: dict[type, tuple[str, ...]] = {}
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _text(value: Decimal) -> str:
    """The decimal's digits in plain notation: never "1E-7", never a float. str() is
    plain for all but the tiniest values and nearly three times as fast as format()."""
    text = str(value)
    return format(value, "f") if "E" in text else text


def _plain(value):
    if type(value) is Decimal:
        return _text(value)
    if type(value) is tuple:  # levels: (price, quantity) pairs
        return [[_text(price), _text(quantity)] for price, quantity in value]
    return value


def record_json(record: Record, recv: int) -> str:
    """One jsonl line, without its newline: `channel`, `recv`, then the record's fields."""
    kind = type(record)
    names = _FIELD_NAMES.get(kind)
    if names is None:
        names = _FIELD_NAMES[kind] = tuple(f.name for f in fields(kind))
    obj = {"channel": kind.channel, "recv": recv}
    for name in names:
        obj[name] = _plain(getattr(record, name))
    return _dumps(obj)


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
        self._stream.write(payload + b"\n")

    def flush(self) -> None:
        self._stream.flush()
