# The status line under every live view: the SANDBOX mark when the data is simulated,
# the connections' state, seconds since the last message, messages received, the broker
# URL, reconnects, and how to quit. It is one line; the URL gives way first when it is narrow.
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text

from ..printable import printable
from .theme import LABEL, SANDBOX, WARNING

STATE_STYLES = {"subscribed": "green", "connected": "yellow", "connecting": "yellow",
                "reconnecting": "bold yellow", "closed": "red"}


@dataclass(frozen=True, slots=True)
class Status:
    """What the status line shows, copied out of the live model under its lock."""

    url: str
    sandbox: bool
    states: tuple[str, ...]  # one per connection
    messages: int = 0
    records: int = 0
    last_message: float | None = None  # time.monotonic() of the last message
    skipped: int = 0  # payloads that could not be parsed
    note: str = ""  # the last connection log line (-v)
    reconnects: int = 0  # links lost and re-established (or being re-established)
    repeats: int = 0  # QoS 2 messages dropped as repeats of one not yet released
    replay: str = ""  # a replay: its pace ("x1", "max", "paused"); "" when live
    recorded_ms: int | None = None  # a replay: the recorded time of the last message
    gaps: int = 0  # a replay: disconnections in the recording


def connection_summary(states: tuple[str, ...]) -> str:
    """`subscribed`, `4/4 subscribed`, or `2 subscribed · 2 connecting`."""
    counts = Counter(states)
    if len(counts) == 1:
        state = states[0]
        return state if len(states) == 1 else f"{len(states)}/{len(states)} {state}"
    return " · ".join(f"{n} {state}" for state, n in counts.most_common())


def recorded_text(recorded_ms: int | None) -> str:
    """The recorded time of the message on screen, UTC."""
    if recorded_ms is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(recorded_ms / 1000))


def age_text(last_message: float | None, now: float) -> str:
    if last_message is None:
        return "no message yet"
    age = max(0.0, now - last_message)
    return f"last msg {age:.1f}s ago" if age < 10 else f"last msg {age:.0f}s ago"


class StatusLine:
    """Renders a Status on one line.

    Args:
        status: the snapshot.
        now: time.monotonic() now, for the age of the last message.
    """

    def __init__(self, status: Status, *, now: float) -> None:
        self.status = status
        self.now = now

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        status, width = self.status, options.max_width
        summary = connection_summary(status.states)
        items = [
            ("mark", " SANDBOX ", SANDBOX) if status.sandbox else None,
            ("mark", f" REPLAY {status.replay} ", SANDBOX) if status.replay else None,
            ("recorded", "recorded " + recorded_text(status.recorded_ms), "")
            if status.replay else None,
            ("gaps", f"{status.gaps} gap" + ("s" if status.gaps > 1 else ""), WARNING)
            if status.gaps else None,
            ("simulated", "simulated data", LABEL) if status.sandbox else None,
            ("state", summary, STATE_STYLES.get(summary.rsplit(" ", 1)[-1], WARNING))
            if not status.replay else None,
            ("age", age_text(status.last_message, self.now), "") if not status.replay else None,
            ("messages", f"{status.messages:,} msgs", LABEL),
            ("skipped", f"{status.skipped} skipped", WARNING) if status.skipped else None,
            ("reconnects", f"{status.reconnects} reconnect"
             + ("s" if status.reconnects > 1 else ""), WARNING) if status.reconnects else None,
            ("repeats", f"{status.repeats} QoS 2 repeats", WARNING) if status.repeats else None,
            ("url", printable(status.note or status.url), LABEL),
        ]
        items = [item for item in items if item]
        hint = "q quit"
        # Narrow: give way in this order; the URL is shortened before it goes.
        for name in ("simulated", "hint", "url", "messages"):
            room = width - _length(items) - (len(hint) + 2 if hint else 0)
            if room >= 0:
                break
            if name == "hint":
                hint = ""
            elif name == "url" and items[-1][0] == "url" and len(items[-1][1]) + room >= 16:
                keep = len(items[-1][1]) + room - 1
                items[-1] = ("url", items[-1][1][:keep] + "…", LABEL)
            else:
                items = [item for item in items if item[0] != name]
        line = Text("  ").join(Text(text, style=style) for _, text, style in items)
        if hint:
            line.pad_right(width - len(line) - len(hint))
            line.append(hint, style=LABEL)
        line.truncate(width, overflow="ellipsis")
        yield line


def _length(items) -> int:
    return sum(len(text) for _, text, _ in items) + 2 * (len(items) - 1)
