# The bounded queue between the upstream (the runner, in the pump's thread) and the
# downstream (the publisher's thread): while the target broker is away it keeps the
# newest --buffer messages, at most `limit_bytes` of them, and counts the oldest it had
# to drop. Both bounds: 5,000 messages of 1 MB would be 5 GB.
from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from typing import NamedTuple

DEFAULT_BUFFER = 5000  # messages (--buffer)
DEFAULT_BUFFER_BYTES = 32 * 1024 * 1024
# What a queued message costs besides its payload and topic: the tuple, the bytes and
# str objects (about 150 bytes in CPython), so that a flood of tiny messages is bounded
# by memory as well as by count.
OVERHEAD = 150


class Outgoing(NamedTuple):
    """One message to publish: on `topic`, `payload` as it is, retained or not, and
    when it was received (ns since the epoch; a Redis target writes it as `recv_ns`)."""

    topic: str
    payload: bytes
    retain: bool
    recv_ns: int = 0


def size(item: Outgoing) -> int:
    """The bytes a message holds while it waits, for the byte bounds."""
    return len(item.payload) + len(item.topic) + OVERHEAD


def fitting(items, most: int, max_bytes: int, *, at_least_one: bool = True) -> int:
    """How many of the first `items` fit in `most` messages and `max_bytes` bytes;
    `at_least_one` (when there is one), so that a message larger than the budget goes."""
    count = total = 0
    for item in items:
        if count >= most:
            break
        total += size(item)
        if total > max_bytes and (count or not at_least_one):
            break
        count += 1
    return count


class RelayQueue:
    """A FIFO of at most `limit` messages and `limit_bytes` bytes (by `size`) that drops
    its oldest when full; the newest message stays even when it alone is larger.

    Thread-safe for one producer and one consumer; `wait` lets the consumer sleep
    until something arrives.
    """

    def __init__(self, limit: int, limit_bytes: int = DEFAULT_BUFFER_BYTES) -> None:
        if limit < 1:
            raise ValueError("a relay queue holds at least one message")
        self.limit = limit
        self.limit_bytes = limit_bytes
        self.dropped = 0  # messages pushed out, oldest first, by newer ones
        self.added = 0  # every message ever put
        self.bytes = 0  # the size of what is queued
        self._items: deque[Outgoing] = deque()
        self._ready = threading.Condition(threading.Lock())

    def __len__(self) -> int:
        return len(self._items)

    def put_many(self, items: Iterable[Outgoing]) -> None:
        """Append in order; what goes over either limit pushes out the oldest."""
        with self._ready:
            queue = self._items
            for item in items:
                queue.append(item)
                self.bytes += size(item)
                self.added += 1
            while len(queue) > 1 and (len(queue) > self.limit
                                      or self.bytes > self.limit_bytes):
                self.bytes -= size(queue.popleft())
                self.dropped += 1
            self._ready.notify()

    def take(self, most: int, max_bytes: int | None = None, *,
             at_least_one: bool = True) -> list[Outgoing]:
        """Up to `most` messages and `max_bytes` bytes (see `fitting`), oldest first
        (none when empty)."""
        with self._ready:
            queue = self._items
            if max_bytes is None and len(queue) <= most:
                items = list(queue)
                queue.clear()
                self.bytes = 0
                return items
            if max_bytes is not None:
                most = fitting(queue, most, max_bytes, at_least_one=at_least_one)
            items = [queue.popleft() for _ in range(min(most, len(queue)))]
            self.bytes -= sum(map(size, items))
            return items

    def wait(self, timeout: float) -> bool:
        """Until something is queued or `timeout` seconds pass; whether something is."""
        with self._ready:
            if not self._items:
                self._ready.wait(max(timeout, 0.0))
            return bool(self._items)

    def wake(self) -> None:
        """Ends a `wait` in progress (a stop request)."""
        with self._ready:
            self._ready.notify_all()
