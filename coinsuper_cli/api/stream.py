# Where messages come from and where they go. A source yields batches of messages (the
# live connections are one source; a recording will be another); a sink writes them
# (jsonl, raw, the live views, and later csv, templates, a recorder). `pump` is the one
# place that parses, skips a bad payload, counts toward --count, flushes and stops.
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from ..errors import CountNotReached, Finished, PayloadError
from .channels import Feed
from .records import Record


class Message(NamedTuple):
    """One payload as received on a subscribed topic. A named tuple: a replay makes
    tens of thousands a second, and a tuple is built at C speed."""

    feed: Feed
    payload: bytes
    recv_ns: int  # local wall-clock receive time, ns since the epoch

    @property
    def recv_ms(self) -> int:
        return self.recv_ns // 1_000_000


class Stopped(Exception):
    """Thrown into a source's batches when its consumer stops in the middle of a batch:
    the first `written` messages of that batch were written, the rest were not."""

    def __init__(self, written: int) -> None:
        super().__init__(f"stopped after {written} messages of the batch")
        self.written = written


class Source(Protocol):
    def batches(self) -> Generator[list[Message], None, None]:
        """What arrived, batch by batch, oldest first. An empty batch comes at least
        every poll interval while nothing arrives, so that the consumer can check its
        deadline and stop switch. A source acknowledges a batch (MQTT QoS 1 and 2) only
        when the consumer asks for the next one: after it has been written. A consumer
        that stops throws Stopped in, saying how much of the batch in hand it wrote."""
        ...


class Sink:
    """Writes messages somewhere. Subclasses override what they need.

    `wants_records`: False for a sink that writes payloads as they are (raw); then
    nothing is parsed for it and each message counts as one output record.
    """

    wants_records = True

    def write(self, message: Message, records: list[Record] | None) -> None:
        """One message, and its records (None when `wants_records` is False)."""

    def skipped(self, message: Message, problem: str) -> None:
        """A message whose payload could not be read; `problem` is one line."""

    def flush(self) -> None:
        """Make what was written visible: called after every batch."""


@dataclass(frozen=True, slots=True)
class Limits:
    """What of a stream is written, and when it ends.

    Args:
        count: stop after this many records (--count).
        timeout: stop after this many seconds (--timeout); with `count`, reaching it
            first is CountNotReached (exit 6), else a success.
        keep: records it refuses are neither written nor counted (--since); the
            message still reaches the sink, so a recorder keeps it.
    """

    count: int | None = None
    timeout: float | None = None
    keep: Callable[[Record], bool] | None = None


def pump(source: Source, sink: Sink, limits: Limits = Limits(), *,
         stop: threading.Event | None = None,
         clock: Callable[[], float] = time.monotonic) -> None:
    """Moves messages from `source` to `sink` until the source ends, `limits.count`
    records are written (Finished), `limits.timeout` seconds pass (Finished, or
    CountNotReached when a count was asked for) or `stop` is set.

    The deadline and the stop switch are checked on every message, so a flood cannot
    hold the command past --timeout.
    """
    count, keep = limits.count, limits.keep
    deadline = None if limits.timeout is None else clock() + limits.timeout
    left = count
    parse = sink.wants_records
    batches = source.batches()
    done = 0  # messages of the batch in hand that were handled
    try:
        for batch in batches:
            done = 0
            for message in batch:
                if parse:
                    try:
                        records = message.feed.parse(message.payload)
                    except PayloadError as error:
                        sink.skipped(message, f"skipped a message on {message.feed.topic}: "
                                              f"{error}")
                        done += 1
                        continue
                    if keep is not None:
                        records = [record for record in records if keep(record)]
                    if left is not None and len(records) > left:
                        records = records[:left]
                    sink.write(message, records)
                    written = len(records)
                else:
                    sink.write(message, None)
                    written = 1
                done += 1
                if left is not None:
                    left -= written
                    if left <= 0:
                        raise Finished(f"{count} records")
                if deadline is not None and clock() >= deadline:
                    _timed_out(limits, left)
            sink.flush()
            if deadline is not None and clock() >= deadline:
                _timed_out(limits, left)
            if stop is not None and stop.is_set():
                return
    finally:
        try:
            sink.flush()
        finally:
            _stop(batches, done)


def _timed_out(limits: Limits, left: int | None) -> None:
    if limits.count is None:
        raise Finished("timeout")
    raise CountNotReached(limits.count, limits.count - left, limits.timeout)


def _stop(batches: Generator, written: int) -> None:
    """Ends a source, telling it how much of the batch in hand was written; a source
    that does not care lets Stopped through, or has already ended."""
    try:
        batches.throw(Stopped(written))
    except (Stopped, StopIteration):
        pass
    finally:
        batches.close()


class ListSource:
    """Messages already in hand, as a source: a batch each."""

    def __init__(self, batches: Iterable[list[Message]]) -> None:
        self._batches = batches

    def batches(self) -> Generator[list[Message], None, None]:
        yield from self._batches
