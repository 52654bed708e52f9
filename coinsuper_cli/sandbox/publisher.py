# The sandbox's clock: every tick it moves the simulated market on, computes the payload
# of each public topic someone is subscribed to (once, whatever the number of
# subscribers) and hands it to the broker, then forwards the demo account's private
# events. Simulated time runs `speed` times faster than real time, and so do the ticks.
from __future__ import annotations

import asyncio
import sys
import time
import traceback
from typing import Callable

from ..api import channels
from .broker import Broker
from .delivery import OutgoingMessage
from .topics import TopicParser, TopicRef

TICK_SECONDS = 1.0  # the spec: depth about once a second, the rest every 1-2 s
MIN_TICK_SECONDS = 0.02  # a very high speed still leaves the loop time to write


class Snapshots:
    """Each public topic's message at the market's current instant, computed at most
    once whoever asks (the publisher each tick, the broker for each new subscriber)
    until the market moves on and `clear` is called."""

    def __init__(self, market) -> None:
        self.market = market
        self._cache: dict[str, OutgoingMessage | None] = {}

    def __call__(self, topic: str, ref: TopicRef) -> OutgoingMessage | None:
        """The message of `topic`; None for a private one, pushed as events happen."""
        if topic not in self._cache:
            simulate = channels.get(ref.channel).simulate
            self._cache[topic] = (None if simulate is None
                                  else OutgoingMessage(topic, simulate(self.market, ref)))
        return self._cache[topic]

    def clear(self) -> None:
        self._cache.clear()


def next_tick_at(due: float, now: float, period: float) -> float:
    """When the tick after the one due at `due` is due, on the grid `due + k * period`.
    A tick missed (a paused machine) is skipped, not made up for with a burst."""
    due += period
    if due < now:
        due = now + period - (now - due) % period
    return due


class Publisher:
    """Drives `market` (a SimulatedExchange) and feeds `broker`.

    Args:
        snapshots: the public topics' messages; the broker sends them to new subscribers.
        parser: names the demo account's private topics.
        speed: simulated seconds per real second; ticks come `speed` times as often.
        start_ms: simulated time at the first tick, in epoch milliseconds.
    """

    def __init__(self, broker: Broker, market, snapshots: Snapshots, parser: TopicParser, *,
                 speed: float = 1.0, start_ms: int, clock: Callable[[], float] = time.monotonic,
                 log: Callable[[str], None] | None = None) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, not {speed}")
        self.broker = broker
        self.market = market
        self.snapshots = snapshots
        self.parser = parser
        self.speed = speed
        self.start_ms = start_ms
        self.clock = clock
        self.log = log
        self.period = max(TICK_SECONDS / speed, MIN_TICK_SECONDS)
        self._started_at: float | None = None

    def sim_ms(self, now: float) -> int:
        if self._started_at is None:
            self._started_at = now
        return self.start_ms + int((now - self._started_at) * self.speed * 1000)

    def tick(self) -> None:
        self.market.advance(self.sim_ms(self.clock()))
        self.snapshots.clear()
        for topic, ref in self.broker.subscribed_topics():
            if not ref.private:
                message = self.snapshots(topic, ref)
                if message is not None:
                    self.broker.publish(message)
        email = self.broker.account.email
        for channel, payload in self.market.take_private():
            topic = self.parser.private_topic(channel, email)
            if self.broker.has_subscribers(topic):
                self.broker.publish(OutgoingMessage(topic, payload))

    def _report(self, exc: Exception, failures: int) -> None:
        line = f"market simulation failed ({failures} ticks so far): " + "".join(
            traceback.format_exception_only(exc)).strip()
        if self.log is not None:
            self.log(line)
        else:
            print(line, file=sys.stderr)
            if failures == 1:
                traceback.print_exception(exc)

    async def run(self) -> None:
        """Tick on a fixed grid until cancelled."""
        due = self.clock()
        failures = 0
        while True:
            try:
                self.tick()
            except Exception as exc:  # a market bug must not take the broker down with it
                failures += 1
                if failures == 1 or failures % 100 == 0:
                    self._report(exc, failures)
            now = self.clock()
            due = next_tick_at(due, now, self.period)
            await asyncio.sleep(due - now)
