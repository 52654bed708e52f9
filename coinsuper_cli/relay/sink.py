# What the relay publishes of each message received upstream: the payload exactly as
# received on the same topic, market topics retained and private ones never; with
# --normalized, each jsonl record too, on coinsuper/v1/{channel}/{symbol}.
from __future__ import annotations

from collections.abc import Callable

from ..api import channels
from ..api.records import Record
from ..api.stream import Message, Sink
from ..errors import PayloadError
from ..output.sinks import record_json
from .queue import Outgoing, RelayQueue

NORMALIZED_PREFIX = "coinsuper/v1"
# Retained: a late joiner gets the current depth, book and candle at once, and the
# latest trades push (the exchange's pushes repeat the latest 50 trades, which every
# consumer de-duplicates, so the retained one is a first tape, not a stale surprise).
# Never the private topics: a retained balance would outlive the subscriber who may
# read it, and reach whoever subscribes next.
RETAINED = {name: not channel.private for name, channel in channels.CHANNELS.items()}
_WILDCARDS = ("/", "+", "#", "\x00")


def normalized_topic(record: Record) -> str:
    """coinsuper/v1/{channel}/{symbol}: a market record's symbol, an order's or a
    fill's symbol, an asset's currency; coinsuper/v1/{channel} when that level would
    be empty or hold a wildcard (a currency name is the exchange's to choose)."""
    key = getattr(record, "symbol", None) or getattr(record, "currency", None)
    found = _TOPICS.get((record.channel, key))
    if found is None:
        if len(_TOPICS) >= 1000:  # a bound on what a stream of odd symbols can fill
            _TOPICS.clear()
        found = _TOPICS[record.channel, key] = _normalized_topic(record.channel, key)
    return found


_TOPICS: dict[tuple[str, str | None], str] = {}  # every record asks: a few markets


def _normalized_topic(channel: str, key: str | None) -> str:
    if not key or any(char in key for char in _WILDCARDS):
        return f"{NORMALIZED_PREFIX}/{channel}"
    return f"{NORMALIZED_PREFIX}/{channel}/{key}"


class RelaySink(Sink):
    """Queues what the relay publishes; each received message counts once (--count).

    Args:
        normalized: also publish each record as a jsonl line.
        warn: receives the line about a payload whose records could not be read.
        after_flush: called after each batch (the publisher's health, the status).
        derive: with --normalized, given the records and receive time (ms) of each
            message on `derive_topics`, gives the records made from them (`relay
            --markets`: the board's tickers), published too.
    """

    wants_records = False  # parsed here, only with --normalized: raw payloads go as is

    def __init__(self, queue: RelayQueue, *, normalized: bool = False,
                 warn: Callable[[str], None] | None = None,
                 after_flush: Callable[[], None] | None = None,
                 derive: Callable[[list[Record], int], list[Record]] | None = None,
                 derive_topics: frozenset[str] = frozenset()) -> None:
        self.queue = queue
        self._derive, self._derive_topics = derive, derive_topics
        self.normalized = normalized
        self.received = 0
        self.unreadable = 0
        self._warn = warn
        self._after_flush = after_flush
        self._pending: list[Outgoing] = []

    def write(self, message: Message, records: list[Record] | None) -> None:
        feed = message.feed
        retain = RETAINED[feed.channel]
        self.received += 1
        self._pending.append(Outgoing(feed.topic, message.payload, retain, message.recv_ns))
        if not self.normalized:
            return
        try:
            records = feed.parse(message.payload)
        except PayloadError as error:
            self._unreadable(feed.topic, error)
            return
        recv_ms = message.recv_ms
        if self._derive is not None and feed.topic in self._derive_topics:
            try:
                records = records + self._derive(records, recv_ms)
            except PayloadError as error:  # a number out of any market's range
                self._unreadable(feed.topic, error)
        self._pending.extend(
            Outgoing(normalized_topic(record), record_json(record, recv_ms).encode(), retain,
                     message.recv_ns)
            for record in records)

    def _unreadable(self, topic: str, error: PayloadError) -> None:
        # The payload itself went on, as received; only its records cannot.
        self.unreadable += 1
        if self._warn and self.unreadable == 1:
            self._warn(f"no normalized records for a message on {topic}: {error} "
                       "(its payload was relayed; further ones are counted)")

    def skipped(self, message: Message, problem: str) -> None:  # never parsed by the pump
        self.write(message, None)

    def flush(self) -> None:
        if self._pending:
            self.queue.put_many(self._pending)
            self._pending = []
        if self._after_flush is not None:
            self._after_flush()
