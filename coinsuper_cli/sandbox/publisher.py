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

from .broker import Broker
from .delivery import OutgoingMessage
from .topics import TopicParser, TopicRef

TICK_SECONDS = 1.0  # the spec: depth about once a second, the rest every 1-2 s
MIN_TICK_SECONDS = 0.02  # a very high speed still leaves the loop time to write


class Publisher:
    """Drives `market` (a SimulatedExchange) and feeds `broker`.

    Args:
        speed: simulated seconds per real second; ticks come `speed` times as often.
        start_ms: simulated time at the first tick, in epoch milliseconds.
    """

    def __init__(self, broker: Broker, market, parser: TopicParser, *, speed: float = 1.0,
                 start_ms: int, clock: Callable[[], float] = time.monotonic,
                 log: Callable[[str], None] | None = None) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, not {speed}")
        self.broker = broker
        self.market = market
        self.parser = parser
        self.speed = speed
        self.start_ms = start_ms
        self.clock = clock
        self.log = log
        self.period = max(TICK_SECONDS / speed, MIN_TICK_SECONDS)
        self.ticks = 0
        self._started_at: float | None = None
        self._cache: dict[str, OutgoingMessage | None] = {}
        broker.snapshot = self.snapshot

    def sim_ms(self, now: float) -> int:
        if self._started_at is None:
            self._started_at = now
        return self.start_ms + int((now - self._started_at) * self.speed * 1000)

    def snapshot(self, topic: str, ref: TopicRef) -> OutgoingMessage | None:
        """This tick's message for a public topic, computed at most once per tick."""
        if topic in self._cache:
            return self._cache[topic]
        try:
            payload = self._payload(ref)
        except (KeyError, ValueError) as exc:  # the parser should have refused it
            if self.log is not None:
                self.log(f"no payload for {topic!r}: {exc!r}")
            payload = None
        message = None if payload is None else OutgoingMessage(topic, payload)
        self._cache[topic] = message
        return message

    def _payload(self, ref: TopicRef) -> bytes | None:
        market = self.market
        if ref.channel == "depth":
            return market.depth(ref.symbol)
        if ref.channel == "book":
            return market.order_book(ref.symbol, ref.step)
        if ref.channel == "kline":
            return market.kline(ref.symbol, ref.range_ms)
        if ref.channel == "trade":
            return market.tickers(ref.symbol)
        return None  # private topics are pushed as events happen, never polled

    def tick(self) -> None:
        self.market.advance(self.sim_ms(self.clock()))
        self.ticks += 1
        self._cache.clear()
        for topic, ref in self.broker.subscribed_topics():
            if not ref.private:
                message = self.snapshot(topic, ref)
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
        """Tick on a fixed grid; a late tick is not made up for with a burst."""
        next_at = self.clock()
        failures = 0
        while True:
            try:
                self.tick()
            except Exception as exc:  # a market bug must not take the broker down with it
                failures += 1
                if failures == 1 or failures % 100 == 0:
                    self._report(exc, failures)
            next_at += self.period
            now = self.clock()
            if next_at < now:  # fell behind (a paused machine): skip the missed ticks
                next_at = now + self.period - (now - next_at) % self.period
            await asyncio.sleep(next_at - now)
