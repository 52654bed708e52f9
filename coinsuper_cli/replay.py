# A recording as a message source: the same shape as the live connections, so every
# sink (jsonl, raw, the live views) plays it through the same parsers and
# de-duplication. `recv` comes from the recording, so a replay's jsonl is byte for byte
# the jsonl of the run that recorded it.
from __future__ import annotations

import base64
import glob
import json
import re
import time
import warnings
from codecs import escape_decode
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from . import channels
from .channels import Feed
from .errors import UsageError
from .recording import Truncated, read_lines, read_spans
from .stream import Message

POLL_SECONDS = 0.25  # an empty batch at least this often while waiting for the pace
MAX_BATCH = 512  # messages handed over at once at --speed max
_UNSEEN = object()
# A message line as the Recorder writes it, up to the payload's text: most lines are read
# without a JSON decoder, which is slow on a payload that is mostly escaped quotes.
_MESSAGE_LINE = re.compile(rb'\{"recv_ns":([0-9]+),"topic":"([^"\\]*)","payload":"')
# The escape decoder keeps a JSON \u or \/ escape as it is, and says so with a
# DeprecationWarning; the line is then read again by the JSON decoder (see _block).
warnings.filterwarnings("ignore", r"invalid (octal )?escape sequence", DeprecationWarning,
                        __name__.replace(".", r"\.") + r"\Z")


@dataclass(frozen=True)
class Selection:
    """What to play: channel names, symbols (topic form) and a recv time window (ns);
    empty or None for all."""

    channels: frozenset[str] = frozenset()
    symbols: frozenset[str] = frozenset()
    start_ns: int | None = None
    end_ns: int | None = None


def expand(paths: Iterable[str]) -> list[str]:
    """The files named, globs expanded (for shells that did not), each once, ordered by
    the time of their first line, so that rotated files play in time order."""
    found: list[str] = []
    for path in paths:
        matches = sorted(glob.glob(path)) if glob.has_magic(path) else [path]
        if not matches:
            raise UsageError(f"no recording matches {path}")
        found += [m for m in matches if m not in found]
    return sorted(found, key=_first_time)


def _first_time(path: str) -> int:
    try:
        for line in read_lines(path):
            return json.loads(line).get("recv_ns", 0)
    except (Truncated, ValueError, AttributeError):
        pass
    return 0


class Recording:
    """Plays recordings as batches of messages (see stream.Source).

    Args:
        paths: recordings, in the order to play them (see `expand`).
        speed: X times the recorded pace; None: as fast as possible.
        warn: one line for a problem in the recording (a cut-off end, a bad line).
        on_event: receives each recorded event (a dict: `event`, `recv_ns`, ...); may be
            set later, as the live view does once it has hooked its callbacks.
        now, sleep: the clock that paces the replay.
    """

    def __init__(self, paths: list[str], *, selection: Selection = Selection(),
                 speed: float | None = None, warn: Callable[[str], None],
                 on_event: Callable[[dict], None] | None = None,
                 now: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], object] = time.sleep) -> None:
        self.paths = paths
        self._selection = selection
        self.speed = speed
        self._warn = warn
        self.on_event = on_event
        self._now, self._sleep = now, sleep
        self._feeds: dict[str, Feed | None] = {}
        self._by_raw: dict[bytes, Feed | None] = {}  # the same, by the line's topic bytes
        self.paused = False
        self._anchor: tuple[float, int] | None = None  # (monotonic, recv_ns) of the pace
        self._position_ns: int | None = None  # the last item played

    def _feed(self, topic: str) -> Feed | None:
        if topic not in self._feeds:
            feed = channels.feed_of(topic)
            selection = self._selection
            if feed is None:
                self._warn(f"skipped the messages on {topic}: not a topic of any channel")
            elif (selection.channels and feed.channel not in selection.channels
                    or selection.symbols and feed.symbol not in selection.symbols):
                feed = None
            self._feeds[topic] = feed
        return self._feeds[topic]

    def feeds(self, scan: int = 20_000) -> tuple[Feed, ...]:
        """The selected feeds of the first `scan` message lines, found by their topics
        alone (no payload is read): every topic pushes within seconds, so a live view
        has its panes and csv its one channel before the first message plays."""
        first, last = self._selection.start_ns, self._selection.end_ns
        found: dict[str, Feed] = {}
        seen = 0
        for path in self.paths:
            try:
                for data, start, end in read_spans(path):
                    for line in data[start:end].splitlines():
                        fast = _MESSAGE_LINE.match(line)
                        if fast is not None:
                            recv_ns, topic = int(fast[1]), fast[2].decode("utf-8")
                        elif b'"topic"' in line:
                            try:
                                item = json.loads(line)
                                recv_ns, topic = item["recv_ns"], item["topic"]
                            except (ValueError, KeyError, TypeError):
                                continue
                        else:
                            continue  # an event
                        if first is not None and recv_ns < first:
                            continue
                        if last is not None and recv_ns >= last or seen >= scan:
                            return tuple(found.values())
                        seen += 1
                        if topic not in found and (feed := self._feed(topic)) is not None:
                            found[topic] = feed
            except Truncated:
                pass  # said when it is played
        return tuple(found.values())

    def messages(self):
        """Every selected message and event of the recordings, in order."""
        for items, _ in self._blocks():
            yield from items

    def _blocks(self):
        """The selected messages and events of the recordings, a list for each block
        read, with whether that list holds an event; ends past --to."""
        for path in self.paths:
            try:
                for data, start, end in read_spans(path):
                    items, events, more = self._block(path, data, start, end)
                    if items:
                        yield items, events
                    if not more:
                        return  # past --to
            except Truncated as truncated:
                self._warn(f"{truncated}: its last line was skipped")

    def _block(self, path: str, data: bytes, start: int, end: int) -> tuple[list, int, bool]:
        """The messages and events of the lines in data[start:end]; the number of events;
        False once past --to.

        A message line as the Recorder writes it is read without a JSON decoder: Python's
        escape decoder reads the JSON escapes \\" \\\\ \\b \\f \\n \\r \\t as JSON does, at C
        speed, from a memoryview (the payload is copied once, by the decoder). It keeps
        \\u and \\/ as they are, so a payload it returns with a backslash in it (a rare
        one: a backslash, a control character, a hand-written \\u) is read again, by the
        JSON decoder.
        """
        first, last = self._selection.start_ns, self._selection.end_ns
        match, feed_of_topic, by_raw_topic = _MESSAGE_LINE.match, self._feed, self._by_raw
        find, ends_with, view = data.find, data.endswith, memoryview(data)
        items: list = []
        append = items.append
        events = 0
        pos = start
        while pos < end:
            eol = find(b"\n", pos)
            fast = match(data, pos, eol)
            if fast is not None and fast.end() < eol - 1 and ends_with(b'"}', pos, eol):
                recv_ns = int(fast[1])
                if first is not None and recv_ns < first:
                    pos = eol + 1
                    continue
                if last is not None and recv_ns >= last:
                    return items, events, False
                raw_topic = fast[2]
                feed = by_raw_topic.get(raw_topic, _UNSEEN)
                if feed is _UNSEEN:
                    feed = by_raw_topic[raw_topic] = feed_of_topic(raw_topic.decode("utf-8"))
                if feed is None:
                    pos = eol + 1
                    continue
                try:
                    payload = escape_decode(view[fast.end():eol - 2])[0]
                except (ValueError, DeprecationWarning):  # not JSON; or warnings are errors
                    payload = b"\\"
                if b"\\" not in payload:
                    append(Message(feed, payload, recv_ns))
                    pos = eol + 1
                    continue
            line, pos = data[pos:eol], eol + 1
            try:
                item = json.loads(line)
                recv_ns = item["recv_ns"]
            except (ValueError, KeyError, TypeError):
                self._warn(f"{path}: skipped a line that is not a recorded message or event")
                continue
            if first is not None and recv_ns < first:
                continue
            if last is not None and recv_ns >= last:
                return items, events, False
            if "event" in item:
                append(item)
                events += 1
                continue
            feed = feed_of_topic(item.get("topic", ""))
            if feed is not None:
                append(Message(feed, _payload(item), recv_ns))
        return items, events, True

    def batches(self):
        if self.speed is None:
            yield from self._as_fast_as_possible()
        else:
            yield from self._paced()

    def _as_fast_as_possible(self):
        """Batches of at most MAX_BATCH messages; each event goes to on_event when its
        block is read, before the messages of that block are handed over."""
        batch: list[Message] = []
        for items, events in self._blocks():
            if events:
                messages = []
                for item in items:
                    if type(item) is dict:
                        if self.on_event is not None:
                            self.on_event(item)
                    else:
                        messages.append(item)
                items = messages
            if batch:
                batch += items
            else:
                batch = items
            while len(batch) >= MAX_BATCH:
                yield batch[:MAX_BATCH]
                batch = batch[MAX_BATCH:]
        if batch:
            yield batch

    def _paced(self):
        """Each message at its recorded time, `speed` times faster. The pace is
        anchored at the last item played, so that a change of speed or a pause (the live
        view's keys) moves on from where the replay is."""
        for item in self.messages():
            recv_ns = item["recv_ns"] if type(item) is dict else item.recv_ns
            if self._anchor is None:
                self._anchor = (self._now(), recv_ns)
            while True:
                now = self._now()
                if self.paused:
                    self._anchor = (now, self._anchor[1])
                    self._sleep(POLL_SECONDS)
                    yield []
                    continue
                anchor_at, anchor_ns = self._anchor
                due = anchor_at + (recv_ns - anchor_ns) / 1e9 / self.speed
                if due <= now:
                    break
                self._sleep(min(due - now, POLL_SECONDS))
                yield []
            self._position_ns = recv_ns
            if type(item) is dict:
                if self.on_event is not None:
                    self.on_event(item)
            else:
                yield [item]

    def set_speed(self, speed: float) -> None:
        """Changes the pace from here on (the live view's + and -)."""
        if self._anchor is not None and self._position_ns is not None:
            self._anchor = (self._now(), self._position_ns)
        self.speed = speed


def _payload(item: dict) -> bytes:
    if "payload" in item:
        return item["payload"].encode("utf-8")
    return base64.b64decode(item.get("payload_b64", ""))
