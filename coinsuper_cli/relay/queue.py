# The bounded queue between the upstream (the runner, in the pump's thread) and the
# downstream (the publisher's thread): while the target broker is away it keeps the
# newest --buffer messages and counts the oldest it had to drop.
from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from typing import NamedTuple


class Outgoing(NamedTuple):
    """One message to publish: on `topic`, `payload` as it is, retained or not."""

    topic: str
    payload: bytes
    retain: bool


class RelayQueue:
    """A FIFO of at most `limit` messages that drops its oldest when full.

    Thread-safe for one producer and one consumer; `wait` lets the consumer sleep
    until something arrives.
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("a relay queue holds at least one message")
        self.limit = limit
        self.dropped = 0  # messages pushed out, oldest first, by newer ones
        self.added = 0  # every message ever put
        self._items: deque[Outgoing] = deque()
        self._ready = threading.Condition(threading.Lock())

    def __len__(self) -> int:
        return len(self._items)

    def put_many(self, items: Iterable[Outgoing]) -> None:
        """Append in order; each item over the limit pushes out the oldest."""
        with self._ready:
            queue = self._items
            before = len(queue)
            queue.extend(items)
            self.added += len(queue) - before
            over = len(queue) - self.limit
            if over > 0:
                self.dropped += over
                for _ in range(over):
                    queue.popleft()
            self._ready.notify()

    def take(self, most: int) -> list[Outgoing]:
        """Up to `most` messages, oldest first (none when empty)."""
        with self._ready:
            queue = self._items
            if len(queue) <= most:
                items = list(queue)
                queue.clear()
                return items
            return [queue.popleft() for _ in range(most)]

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
