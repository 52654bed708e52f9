# The live model: one view state per subscribed feed, plus the status counters. The
# network thread applies records to it and the drawing thread takes snapshots, both
# under the app's lock; the states themselves are frozen, so a snapshot is a shallow copy.
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

from ..api.channels import Feed
from ..net.plans import ConnectionPlan
from ..printable import printable
from . import views
from .status_line import Status


@functools.cache
def _text_fields(kind: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(kind) if f.type in ("str", str))


def printable_record(record):
    """The record, with control characters in its text fields escaped."""
    changes = {}
    for name in _text_fields(type(record)):
        value = getattr(record, name)
        safe = printable(value)
        if safe is not value:
            changes[name] = safe
    return dataclasses.replace(record, **changes) if changes else record


@dataclass(frozen=True, slots=True)
class Pane:
    """One view on screen: a channel, for a symbol (None for the private channels)."""

    channel: str
    symbol: str | None
    topic: str


@dataclass(frozen=True, slots=True)
class Snapshot:
    panes: tuple[Pane, ...]
    views: dict[Pane, object]
    status: Status


class LiveModel:
    """Everything the screen shows. Not thread-safe by itself: the app holds a lock.

    Args:
        plans: the connections being run; their feeds become panes, in order.
        url: the broker URL, for the status line.
        sandbox: whether the data comes from the simulated exchange.
    """

    def __init__(self, plans: list[ConnectionPlan], *, url: str, sandbox: bool) -> None:
        self.panes = tuple(Pane(f.channel, f.symbol, f.topic) for p in plans for f in p.feeds)
        self._by_topic = {pane.topic: pane for pane in self.panes}
        self.views = {pane: views.empty_state(pane.channel) for pane in self.panes}
        self._plan_index = {id(plan): i for i, plan in enumerate(plans)}
        self._states = ["connecting"] * len(plans)
        self._url, self._sandbox = url, sandbox
        self.messages = self.records = self.skipped = self.reconnects = self.repeats = 0
        self.replay = ""  # a replay's pace, shown in its mark
        self.recorded_ms: int | None = None
        self.gaps = 0
        self.last_message: float | None = None
        self.note = ""

    def apply(self, feed: Feed, records: list, recv_ms: int) -> None:
        """Folds one message's records into its pane's state; their text is made safe
        for the terminal first (an order number can hold an escape sequence)."""
        pane = self._by_topic[feed.topic]
        records = [printable_record(r) for r in records]
        self.views[pane] = views.reduce(pane.channel, self.views[pane], records, recv_ms)
        self.records += len(records)

    def received(self, now: float) -> None:
        self.messages += 1
        self.last_message = now

    def set_state(self, plan: ConnectionPlan | None, state: str, detail: str = "") -> None:
        if state == "gap":  # a replay met a disconnection in the recording
            self.gaps += 1
            self.note = f"recording gap: the recorder was disconnected ({detail})"
            return
        index = self._plan_index.get(id(plan))
        if index is not None:
            self._states[index] = state
        if state == "reconnecting":
            self.reconnects += 1

    def snapshot(self) -> Snapshot:
        status = Status(self._url, self._sandbox, tuple(self._states), self.messages,
                        self.records, self.last_message, self.skipped, self.note,
                        self.reconnects, self.repeats, self.replay, self.recorded_ms,
                        self.gaps)
        return Snapshot(self.panes, dict(self.views), status)
