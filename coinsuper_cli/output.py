# Streaming output for pipes: `jsonl` (one JSON object per record) and `raw` (payloads as
# received). Formatting is pure; `Output` is the one place that writes and flushes.
# This module must not import rich: pipes should not pay for the live views.
from __future__ import annotations

import json
import time
from dataclasses import fields
from decimal import Decimal
from typing import BinaryIO, Callable

from .errors import Finished, PayloadError
from .payloads import Feed
from .records import Record

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


class Output:
    """Writes what the feeds yield, counts records and stops at --count.

    Args:
        stream: a binary stream (stdout's buffer).
        fmt: "jsonl" or "raw".
        count: stop after this many records; None for no limit.
        with_topic: raw only: precede each payload by its topic, like mosquitto_sub -v.
        warn: where one-line problems go (stderr).
    """

    def __init__(self, stream: BinaryIO, *, fmt: str, count: int | None = None,
                 with_topic: bool = False, warn: Callable[[str], None]) -> None:
        self._stream = stream
        self._raw = fmt == "raw"
        self._with_topic = with_topic
        self._left = count
        self._warn = warn
        self.records = 0

    def deliver(self, feed: Feed, payload: bytes) -> None:
        if self._raw:
            line = (feed.topic.encode() + b" " + payload) if self._with_topic else payload
            self._stream.write(line + b"\n")
            self._counted(1)
            return
        try:
            records = feed.parse(payload)
        except PayloadError as error:
            self._warn(f"skipped a message on {feed.topic}: {error}")
            return
        if not records:
            return
        recv = int(time.time() * 1000)
        if self._left is not None and len(records) > self._left:
            records = records[: self._left]
        text = "".join(record_json(r, recv) + "\n" for r in records)
        self._stream.write(text.encode("utf-8"))
        self._counted(len(records))

    def _counted(self, n: int) -> None:
        self.records += n
        if self._left is not None:
            self._left -= n
            if self._left <= 0:
                self.flush()
                raise Finished(f"{self.records} records")

    def flush(self) -> None:
        self._stream.flush()
