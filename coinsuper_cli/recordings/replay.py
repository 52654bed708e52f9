# A recording as a message source: the same shape as the live connections, so every
# sink (jsonl, raw, the live views) plays it through the same parsers and
# de-duplication. `recv` comes from the recording, so a replay's jsonl is byte for byte
# the jsonl of the run that recorded it.
from __future__ import annotations

import glob
import re
import time
import warnings
from codecs import escape_decode
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..api import channels
from ..api.channels import Feed
from ..api.stream import Message
from ..errors import UsageError
from ..printable import printable
from .reader import BadLine, Truncated, first_time, read_line, read_spans

POLL_SECONDS = 0.25  # an empty batch at least this often while waiting for the pace
MAX_BATCH = 512  # messages handed over at once at --speed max
# A recording of this exchange has tens of topics; a file with more than this many is
# not one, and the tables kept for each topic (its feed, parser, de-duplication) stay
# bounded: the messages of further topics are skipped, said once.
MAX_TOPICS = 10_000
MAX_TOPIC_CHARS = 512  # the longest: a private topic's prefix, path and email
FEEDS_SCAN_BYTES = 64 * 1024 * 1024  # feeds() reads at most this much of the recordings
GAP_NOTICE_SECONDS = 10.0  # a paced wait this long is said on stderr
_SYMBOL = re.compile(r"[A-Z0-9]{1,16}_[A-Z0-9]{1,16}")  # exchange.normalise_symbol's form
_UNSEEN = object()
# A message line as the Recorder writes it, up to the payload's text: most lines are read
# without a JSON decoder, which is slow on a payload that is mostly escaped quotes.
_MESSAGE_LINE = re.compile(rb'\{"recv_ns":([0-9]{1,19}),"topic":"([^"\\]*)","payload":"')
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
    return sorted(found, key=first_time)


class Recording:
    """Plays recordings as batches of messages (see stream.Source).

    Args:
        paths: recordings, in the order to play them (see `expand`).
        speed: X times the recorded pace; None: as fast as possible.
        warn: one line for a problem in the recording (a cut-off end, a bad line); may
            be set later, as the live view does to show them in its status line.
        on_event: receives each recorded event (a dict: `event`, `recv_ns`, ...); may be
            set later, as the live view does once it has hooked its callbacks.
        max_gap: the longest wait between two items at a pace, in seconds; None: as
            recorded.
        adapt: given each topic's feed once, gives the feed to play it with, or None to
            skip the topic (`replay --markets` keeps day candles and depth, and wraps
            their parsers into the board's).
        now, sleep: the clock that paces the replay.
    """

    def __init__(self, paths: list[str], *, selection: Selection = Selection(),
                 speed: float | None = None, warn: Callable[[str], None],
                 on_event: Callable[[dict], None] | None = None,
                 max_gap: float | None = None,
                 adapt: Callable[[Feed], Feed | None] | None = None,
                 now: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], object] = time.sleep) -> None:
        self.paths = paths
        self._selection = selection
        self.speed = speed
        self.warn = warn
        self.on_event = on_event
        self.max_gap = max_gap
        self._adapt = adapt
        self._now, self._sleep = now, sleep
        self._feeds: dict[str, Feed | None] = {}
        self._by_raw: dict[bytes, Feed | None] = {}  # the same, by the line's topic bytes
        self._unknown = 0  # topics skipped as of no channel, named in a warning
        self.paused = False
        self._skip_wait = False
        self._anchor: tuple[float, int] | None = None  # (monotonic, recv_ns) of the pace
        self._position_ns: int | None = None  # the last item played
        self._bad: dict[str, int] = {}  # bad lines skipped, by file

    def _feed(self, topic: str) -> Feed | None:
        """The feed of a recorded topic; None for one to skip (said once)."""
        feed = self._feeds.get(topic, _UNSEEN)
        if feed is not _UNSEEN:
            return feed
        if len(self._feeds) >= MAX_TOPICS:
            if len(self._feeds) == MAX_TOPICS:
                self._feeds[""] = None  # said once: the table stays one entry longer
                self.warn(f"the recording has more than {MAX_TOPICS:,} topics, which no "
                          "recording of this exchange has: the messages of the topics "
                          "met after those are skipped")
            return None
        feed = None
        if len(topic) <= MAX_TOPIC_CHARS and printable(topic) == topic:
            feed = channels.feed_of(topic)
        if feed is None or feed.symbol is not None and not _SYMBOL.fullmatch(feed.symbol):
            # A topic no channel has, or one with a symbol no market has (a hostile
            # file's ESC sequences among them): nothing of it reaches a view's title.
            self._unknown += 1
            if self._unknown <= 10:
                shown = printable(topic if len(topic) <= 100 else topic[:100] + "...")
                self.warn(f"skipped the messages on {shown}: not a topic of any channel"
                          + (" (further such topics are skipped without a word)"
                             if self._unknown == 10 else ""))
            feed = None
        else:
            selection = self._selection
            if (selection.channels and feed.channel not in selection.channels
                    or selection.symbols and feed.symbol not in selection.symbols):
                feed = None
            elif self._adapt is not None:
                feed = self._adapt(feed)
        self._feeds[topic] = feed
        return feed

    def _feed_of_raw(self, raw_topic: bytes) -> Feed | None:
        feed = self._by_raw.get(raw_topic, _UNSEEN)
        if feed is _UNSEEN:
            try:
                feed = self._feed(raw_topic.decode("utf-8"))
            except UnicodeDecodeError:
                raise BadLine("a topic that is not UTF-8") from None
            if len(self._by_raw) < MAX_TOPICS:
                self._by_raw[raw_topic] = feed
        return feed

    def _bad_line(self, path: str, why: str) -> None:
        """Counts a skipped line; the first of a file is said with why."""
        count = self._bad[path] = self._bad.get(path, 0) + 1
        if count == 1:
            self.warn(f"{path}: skipped {why} (further bad lines are only counted)")

    def _problems(self, path: str) -> tuple[Callable[[str], None], Callable[[str], None]]:
        said = []

        def on_corrupt(text: str) -> None:
            if not said:  # a false start inside a corrupt stretch is the same stretch
                said.append(text)
                self.warn(text)

        return (lambda why: self._bad_line(path, why)), on_corrupt

    def _file_done(self, path: str) -> None:
        count = self._bad.pop(path, 0)
        if count > 1:
            self.warn(f"skipped {count:,} bad lines in {path}")

    def feeds(self, scan: int = 20_000) -> tuple[Feed, ...]:
        """The selected feeds of the first `scan` message lines, found by their topics
        alone (no payload is read): every topic pushes within seconds, so a live view
        has its panes and csv its one channel before the first message plays."""
        first, last = self._selection.start_ns, self._selection.end_ns
        found: dict[str, Feed] = {}
        seen = 0
        budget = FEEDS_SCAN_BYTES  # over-long lines are skipped, not counted in `scan`
        for path in self.paths:
            try:
                for data, start, end in read_spans(path):
                    budget -= end - start if end > start else len(data)
                    if budget < 0:
                        return tuple(found.values())
                    for line in data[start:end].splitlines():
                        fast = _MESSAGE_LINE.match(line)
                        if fast is not None:
                            try:
                                recv_ns, feed = int(fast[1]), self._feed_of_raw(fast[2])
                            except BadLine:
                                continue
                        elif b'"topic"' in line:
                            try:
                                recv_ns, topic, _ = read_line(line)
                            except BadLine:
                                continue
                            feed = self._feed(topic) if topic is not None else None
                        else:
                            continue  # an event
                        if first is not None and recv_ns < first:
                            continue
                        if last is not None and recv_ns >= last or seen >= scan:
                            return tuple(found.values())
                        seen += 1
                        if feed is not None and feed.topic not in found:
                            found[feed.topic] = feed
            except Truncated:
                pass  # said when it is played
        return tuple(found.values())

    def messages(self):
        """Every selected message and event of the recordings, in order."""
        for items, _ in self._blocks():
            yield from items

    def _blocks(self):
        """The selected messages and events of the recordings, a list for each block
        read (empty while a long line is skipped), with whether that list holds an
        event; ends past --to."""
        for path in self.paths:
            on_long_line, on_corrupt = self._problems(path)
            try:
                for data, start, end in read_spans(path, on_long_line=on_long_line,
                                                   on_corrupt=on_corrupt):
                    items, events, more = self._block(path, data, start, end)
                    yield items, events
                    if not more:
                        return  # past --to
            except Truncated as truncated:
                self.warn(str(truncated))
            finally:
                self._file_done(path)

    def _block(self, path: str, data: bytes, start: int, end: int) -> tuple[list, int, bool]:
        """The messages and events of the lines in data[start:end]; the number of events;
        False once past --to.

        A message line as the Recorder writes it is read without a JSON decoder: Python's
        escape decoder reads the JSON escapes \\" \\\\ \\b \\f \\n \\r \\t as JSON does, at C
        speed, from a memoryview (the payload is copied once, by the decoder). It keeps
        \\u and \\/ as they are, so a payload it returns with a backslash in it (a rare
        one: a backslash, a control character, a hand-written \\u) is read again, by the
        JSON decoder, as is any line of another shape (checked by read_line).
        """
        first, last = self._selection.start_ns, self._selection.end_ns
        match, feed_of_topic, by_raw = _MESSAGE_LINE.match, self._feed, self._by_raw
        feed_of_raw = self._feed_of_raw
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
                feed = by_raw.get(fast[2], _UNSEEN)
                if feed is _UNSEEN:
                    try:
                        feed = feed_of_raw(fast[2])
                    except BadLine as bad:
                        self._bad_line(path, f"a line that is not a recorded message or "
                                             f"event: {bad}")
                        pos = eol + 1
                        continue
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
                recv_ns, topic, payload = read_line(line)
            except BadLine as bad:
                self._bad_line(path, f"a line that is not a recorded message or event: "
                                     f"{bad}")
                continue
            if first is not None and recv_ns < first:
                continue
            if last is not None and recv_ns >= last:
                return items, events, False
            if topic is None:
                append(payload)
                events += 1
                continue
            feed = feed_of_topic(topic)
            if feed is not None:
                append(Message(feed, payload, recv_ns))
        return items, events, True

    def batches(self):
        if self.speed is None:
            yield from self._as_fast_as_possible()
        else:
            yield from self._paced()

    def _as_fast_as_possible(self):
        """Batches of at most MAX_BATCH messages; each event goes to on_event when its
        block is read, before the messages of that block are handed over. An empty
        block (a long line being skipped) is an empty batch, so that --timeout holds."""
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
            if not items and not events and not batch:
                yield items
                continue
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
        view's keys) moves on from where the replay is. A wait longer than max_gap is
        cut to it; one of GAP_NOTICE_SECONDS or more is said (skip_wait ends it)."""
        for items, _ in self._blocks():
            if not items:
                yield items  # a long line being skipped: --timeout holds
            for item in items:
                yield from self._wait_for(item)
                if type(item) is dict:
                    if self.on_event is not None:
                        self.on_event(item)
                else:
                    yield [item]

    def _wait_for(self, item):
        """Empty batches until `item` is due at the pace."""
        recv_ns = item["recv_ns"] if type(item) is dict else item.recv_ns
        if self._anchor is None:
            self._anchor = (self._now(), recv_ns)
        self._skip_wait = False
        noticed = False
        while True:
            now = self._now()
            if self.paused:
                self._anchor = (now, self._anchor[1])
                self._sleep(POLL_SECONDS)
                yield []
                continue
            anchor_at, anchor_ns = self._anchor
            wait = anchor_at + (recv_ns - anchor_ns) / 1e9 / self.speed - now
            long_wait = wait >= GAP_NOTICE_SECONDS
            if self._skip_wait or self.max_gap is not None and wait > self.max_gap:
                cut = 0.0 if self._skip_wait else self.max_gap
                self._anchor = (anchor_at - (wait - cut), anchor_ns)
                self._skip_wait = False
                wait = cut
            if wait <= 0:
                break
            if long_wait and not noticed:
                noticed = True
                self.warn(gap_text(recv_ns - (self._position_ns or anchor_ns), wait,
                                   self.max_gap, skip="; n skips it in the live view"))
            self._sleep(min(wait, POLL_SECONDS))
            yield []
        self._position_ns = recv_ns

    def skip_wait(self) -> None:
        """Ends the wait in hand for the next item (the live view's n)."""
        self._skip_wait = True

    def set_speed(self, speed: float) -> None:
        """Changes the pace from here on (the live view's + and -)."""
        if self._anchor is not None and self._position_ns is not None:
            self._anchor = (self._now(), self._position_ns)
        self.speed = speed


def gap_text(gap_ns: int, wait: float, max_gap: float | None, *, skip: str = "") -> str:
    """One line saying that the recording is silent here and how long that is waited."""
    how = "--max-gap caps such waits" if max_gap is None else "capped by --max-gap"
    return (f"the recording is silent for {_duration(gap_ns / 1e9)} here: waiting "
            f"{_duration(wait)} at this pace ({how}{skip})")


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 10:  # --max-gap 0.5 waits half a second, not "0 s"
        return f"{seconds:.2g} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:,.0f} days"
