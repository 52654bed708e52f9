# `sandbox --replay`: the broker serves a recording instead of the simulation. Each
# payload goes out on its recorded topic at its recorded pace (`speed` times faster),
# byte for byte; a private topic is served on the demo account's email, so that the demo
# account's usual sign-in receives it. A new subscriber to a public topic gets the latest
# payload at once, as with the simulation.
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Iterator

from ..api import channels
from ..api.stream import Message
from ..errors import UsageError
from ..recordings.replay import GAP_NOTICE_SECONDS, gap_text
from .broker import Broker
from .delivery import OutgoingMessage
from .logline import warn_on_stderr
from .topics import TopicRef

BURST = 200  # messages published between two yields to the event loop
LATEST_BYTES = 16 * 1024 * 1024  # the latest payloads kept for new subscribers, in all


def private_topic(topic: str, email: str) -> str:
    """A recorded private topic, on `email` instead of the recorder's."""
    found = channels.parse_topic(topic)
    if found is None or not found[0].private:
        return topic
    channel, prefix, _ = found
    return channel.topic(prefix, email=email)


_said: set[str] = set()  # the sandbox reads a recording more than once (each lap)


def _warn_once(text: str) -> None:
    if text not in _said and len(_said) < 100:
        _said.add(text)
        warn_on_stderr(text)


def recorded_messages(paths: tuple[str, ...]) -> Iterator[Message]:
    """The messages of recordings, oldest first; problems in them said on stderr, once."""
    from ..recordings.replay import Recording

    for item in Recording(list(paths), warn=_warn_once).messages():
        if type(item) is Message:
            yield item


def served(messages: Iterable[Message], limit: int = 20_000) -> tuple[str, tuple[str, ...]]:
    """The topic prefix and the symbols of a recording, from its first messages: what the
    sandbox's topic parser must accept."""
    prefixes: list[str] = []
    symbols: dict[str, None] = {}
    for i, message in enumerate(messages):
        if i >= limit:
            break
        _, prefix, fields = channels.parse_topic(message.feed.topic)
        prefixes.append(prefix)
        if "symbol" in fields:
            symbols[fields["symbol"]] = None
    if not prefixes:
        raise UsageError("--replay: no message of any channel in the recording")
    return prefixes[0], tuple(symbols)


class Replayer:
    """Publishes the messages of `open_messages()` into `broker`.

    Args:
        open_messages: a fresh iterator over the recording's messages, oldest first
            (called again for each lap with `loop`).
        email: the demo account's, for private topics.
        speed: X times the recorded pace.
        loop: start again from the beginning at the end, for ever.
        max_gap: the longest wait for the next message, in seconds; None: as recorded.
            A wait of GAP_NOTICE_SECONDS or more is said on stderr.
    """

    def __init__(self, broker: Broker | None, open_messages: Callable[[], Iterator[Message]],
                 *, email: str, speed: float = 1.0, loop: bool = False,
                 clock: Callable[[], float] = time.monotonic,
                 log: Callable[[str], None] | None = None, max_gap: float | None = None,
                 warn: Callable[[str], None] = warn_on_stderr) -> None:
        self.broker = broker
        self._open = open_messages
        self._email = email
        self.speed = speed
        self.loop = loop
        self._clock = clock
        self._log = log
        self.max_gap = max_gap
        self._warn = warn
        self._latest: dict[str, OutgoingMessage] = {}  # oldest update first
        self._latest_bytes = 0
        self.published = 0

    def __call__(self, topic: str, ref: TopicRef) -> OutgoingMessage | None:
        """The broker's snapshot: the latest payload of a public topic, for a new
        subscriber; None for a private one."""
        return None if ref.private else self._latest.get(topic)

    def _keep_latest(self, outgoing: OutgoingMessage) -> None:
        """The latest payload of each topic, for new subscribers, LATEST_BYTES in all at
        most: the topic updated longest ago is forgotten first."""
        old = self._latest.pop(outgoing.topic, None)
        if old is not None:
            self._latest_bytes -= len(old.payload)
        self._latest[outgoing.topic] = outgoing
        self._latest_bytes += len(outgoing.payload)
        while self._latest_bytes > LATEST_BYTES and len(self._latest) > 1:
            forgotten = self._latest.pop(next(iter(self._latest)))
            self._latest_bytes -= len(forgotten.payload)

    def _outgoing(self, message: Message) -> OutgoingMessage:
        topic = message.feed.topic
        if channels.get(message.feed.channel).private:
            topic = private_topic(topic, self._email)
        return OutgoingMessage(topic, message.payload)

    async def run(self) -> None:
        laps = 0
        while True:
            await self._lap()
            # A lap that never waited (a recording of an instant: one message, or a
            # burst under BURST) must still let the loop run: else --loop spins without
            # a client ever being answered, and a SIGTERM never stops it.
            await asyncio.sleep(0)
            laps += 1
            if not self.loop:
                if self._log is not None:
                    self._log(f"the recording ended after {self.published} messages")
                return
            if self._log is not None:
                self._log(f"the recording starts again (lap {laps + 1})")

    async def _lap(self) -> None:
        started, first_ns = self._clock(), None
        last_ns = 0
        burst = 0
        for message in self._open():
            if first_ns is None:
                first_ns = last_ns = message.recv_ns
            due = started + (message.recv_ns - first_ns) / 1e9 / self.speed
            wait = due - self._clock()
            long_wait = wait >= GAP_NOTICE_SECONDS
            if self.max_gap is not None and wait > self.max_gap:
                started -= wait - self.max_gap  # the pace goes on from the cut wait
                wait = self.max_gap
            if long_wait:
                self._warn(gap_text(message.recv_ns - last_ns, wait, self.max_gap))
            last_ns = message.recv_ns
            if wait > 0:
                await asyncio.sleep(wait)
                burst = 0
            elif burst >= BURST:  # far behind the pace: let the loop write meanwhile
                await asyncio.sleep(0)
                burst = 0
            outgoing = self._outgoing(message)
            if not channels.get(message.feed.channel).private:
                self._keep_latest(outgoing)
            if self.broker.has_subscribers(outgoing.topic):
                self.broker.publish(outgoing)
            self.published += 1
            burst += 1
