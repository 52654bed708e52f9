# How the relay is doing: counters read from both sides into one snapshot, the line a
# minute written when stderr is not watched by a live view, and the state of each side
# as the runner and the publisher report it.
from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

SUMMARY_EVERY = 60.0


@dataclass(frozen=True, slots=True)
class RelayStatus:
    """One moment of the relay, as the summary line and the live view show it."""

    target: str  # the target URL, without credentials
    received: int = 0  # messages received upstream
    published: int = 0  # messages written to the target (records included)
    delivered: int = 0  # of those, acknowledged (QoS 0: written)
    queued: int = 0
    buffer: int = 0  # the queue's limit
    dropped: int = 0
    pending: int = 0  # taken from the queue, not yet acknowledged
    upstream: tuple[str, ...] = ()  # each connection's state
    downstream: str = "connecting"
    upstream_lost: int = 0
    downstream_lost: int = 0
    downgraded: bool = False  # the target answered QoS 2 with PUBACK (RabbitMQ)


def states_text(states: tuple[str, ...]) -> str:
    """`8/8 subscribed`, or `6 subscribed · 2 reconnecting`."""
    counts = Counter(states)
    if not counts:
        return "none"
    if len(counts) == 1:
        return f"{len(states)}/{len(states)} {states[0]}"
    return " · ".join(f"{n} {state}" for state, n in counts.most_common())


def rate(now: int, before: int, seconds: float) -> float:
    return (now - before) / seconds if seconds > 0 else 0.0


def summary_line(now: RelayStatus, before: RelayStatus | None, seconds: float) -> str:
    """One line: totals, rates since `before`, queue, drops, each side's state."""
    base = before or RelayStatus(now.target)
    return (f"relay: in {now.received:,} ({rate(now.received, base.received, seconds):.1f}/s)"
            f", out {now.published:,} ({rate(now.published, base.published, seconds):.1f}/s)"
            f", queue {now.queued:,}/{now.buffer:,}, dropped {now.dropped:,}"
            f"; upstream {states_text(now.upstream)}"
            + (f" (lost {now.upstream_lost}×)" if now.upstream_lost else "")
            + f"; {now.target} {now.downstream}"
            + (f" (lost {now.downstream_lost}×)" if now.downstream_lost else "")
            + (", QoS 2 downgraded to 1" if now.downgraded else ""))


class UpstreamStates:
    """The runner's on_state callback: each connection's latest state."""

    def __init__(self) -> None:
        self._states: dict[int, str] = {}
        self.lost = 0
        self._lock = threading.Lock()

    def __call__(self, plan, state: str, detail: str = "") -> None:
        with self._lock:
            if state == "reconnecting":
                self.lost += 1
            self._states[id(plan)] = state

    def expect(self, plans) -> None:
        for plan in plans:
            self._states.setdefault(id(plan), "connecting")

    def snapshot(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(self._states.values())


class Summaries:
    """Writes the summary line every `every` seconds (on the given clock)."""

    def __init__(self, snapshot: Callable[[], RelayStatus], write: Callable[[str], None],
                 *, every: float = SUMMARY_EVERY,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._snapshot, self._write, self._every, self._clock = snapshot, write, every, clock
        self._since = clock()
        self._before: RelayStatus | None = None

    def maybe_write(self) -> None:
        now = self._clock()
        if now - self._since >= self._every:
            self.write(now)

    def write(self, now: float | None = None) -> None:
        now = self._clock() if now is None else now
        status = self._snapshot()
        self._write(summary_line(status, self._before, now - self._since))
        self._before, self._since = status, now
