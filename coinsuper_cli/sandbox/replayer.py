# `sandbox --replay`: the broker serves a recording instead of the simulation. Each
# payload goes out on its recorded topic at its recorded pace (`speed` times faster),
# byte for byte; a private topic is served on the demo account's email, so that the demo
# account's usual sign-in receives it. A new subscriber to a public topic gets the latest
# payload at once, as with the simulation.
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Iterator

from .. import channels
from ..errors import UsageError
from ..stream import Message
from .broker import Broker
from .delivery import OutgoingMessage
from .logline import warn_on_stderr
from .topics import TopicRef

BURST = 200  # messages published between two yields to the event loop


def private_topic(topic: str, email: str) -> str:
    """A recorded private topic, on `email` instead of the recorder's."""
    found = channels.parse_topic(topic)
    if found is None or not found[0].private:
        return topic
    channel, prefix, _ = found
    return channel.topic(prefix, email=email)


def recorded_messages(paths: tuple[str, ...]) -> Iterator[Message]:
    """The messages of recordings, oldest first; problems in them said on stderr."""
    from ..replay import Recording

    for item in Recording(list(paths), warn=warn_on_stderr).messages():
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
    """

    def __init__(self, broker: Broker | None, open_messages: Callable[[], Iterator[Message]],
                 *, email: str, speed: float = 1.0, loop: bool = False,
                 clock: Callable[[], float] = time.monotonic,
                 log: Callable[[str], None] | None = None) -> None:
        self.broker = broker
        self._open = open_messages
        self._email = email
        self.speed = speed
        self.loop = loop
        self._clock = clock
        self._log = log
        self._latest: dict[str, OutgoingMessage] = {}
        self.published = 0

    def __call__(self, topic: str, ref: TopicRef) -> OutgoingMessage | None:
        """The broker's snapshot: the latest payload of a public topic, for a new
        subscriber; None for a private one."""
        return None if ref.private else self._latest.get(topic)

    def _outgoing(self, message: Message) -> OutgoingMessage:
        topic = message.feed.topic
        if channels.get(message.feed.channel).private:
            topic = private_topic(topic, self._email)
        return OutgoingMessage(topic, message.payload)

    async def run(self) -> None:
        laps = 0
        while True:
            await self._lap()
            laps += 1
            if not self.loop:
                if self._log is not None:
                    self._log(f"the recording ended after {self.published} messages")
                return
            if self._log is not None:
                self._log(f"the recording starts again (lap {laps + 1})")

    async def _lap(self) -> None:
        started, first_ns = self._clock(), None
        burst = 0
        for message in self._open():
            if first_ns is None:
                first_ns = message.recv_ns
            due = started + (message.recv_ns - first_ns) / 1e9 / self.speed
            wait = due - self._clock()
            if wait > 0:
                await asyncio.sleep(wait)
                burst = 0
            elif burst >= BURST:  # far behind the pace: let the loop write meanwhile
                await asyncio.sleep(0)
                burst = 0
            outgoing = self._outgoing(message)
            if not channels.get(message.feed.channel).private:
                self._latest[outgoing.topic] = outgoing
            if self.broker.has_subscribers(outgoing.topic):
                self.broker.publish(outgoing)
            self.published += 1
            burst += 1
