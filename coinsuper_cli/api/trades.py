# Trades, each once: every push repeats the latest 50 trades, newest first, and trades
# carry no id. Trades are known by their text, and a push whose tail repeats the previous
# push byte for byte has only its new head parsed: the rest is not even read as JSON.
from __future__ import annotations

import json
from collections import deque
from decimal import Decimal

import msgspec

from ..errors import PayloadError
from .payloads import (SIDES, is_decimal_text, load_json, maybe_typed, trade_list,
                       trade_record)
from .records import Trade

_first_element = json.JSONDecoder().raw_decode


class _PushedTrade(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """A trade as the exchange writes it, for msgspec to read (payloads.maybe_typed);
    not tracked by the cyclic collector (gc=False), as it holds no container."""

    symbol: str
    price: str
    quantity: str
    action: str
    timestamp: int


# A push's new head, each element's text and the trade msgspec reads of it.
_elements = msgspec.json.Decoder(list[msgspec.Raw]).decode
_pushed_trades = msgspec.json.Decoder(list[_PushedTrade]).decode


class _NotAsSent(Exception):
    """A pushed trade that trade_record would refuse: the full path names the field."""


def _trade(item: _PushedTrade) -> Trade:
    """trade_record of the same fields; _NotAsSent where it would raise."""
    side = SIDES.get(item.action)
    price, quantity = item.price, item.quantity
    if side is None or not is_decimal_text(price) or not is_decimal_text(quantity):
        raise _NotAsSent
    return Trade(item.symbol.replace("/", "_"), item.timestamp, Decimal(price),
                 Decimal(quantity), side)


class TradeDeduplicator:
    """Passes each trade once, although every push repeats the latest 50.

    Trades carry no id, so a trade is known by all its fields; two equal trades in one
    push are two trades, so the count of each key is remembered, not just its presence.
    Memory is bounded: the oldest keys are forgotten past `capacity`, and trades older
    than the newest forgotten one are dropped rather than mistaken for new.
    """

    def __init__(self, capacity: int = 2000) -> None:
        self._seen: dict[tuple, int] = {}
        # The keys in the order they were first seen: the dict's own order, but popped
        # from the left in O(1) (next(iter(dict)) walks past every key deleted before).
        self._order: deque[tuple] = deque()
        self._capacity = capacity
        self._forgotten_before = -1

    def select(self, keys: list[tuple]) -> tuple[list[int], dict[tuple, int]]:
        """The indices of the keys not seen before, oldest first, and the counts that
        `commit` must then remember. Each key starts with the trade's time."""
        counts: dict[tuple, int] = {}
        fresh = []
        seen = self._seen
        forgotten_before = self._forgotten_before
        for i, key in enumerate(keys):
            if key[0] < forgotten_before:
                continue
            n = counts[key] = counts.get(key, 0) + 1
            if n > seen.get(key, 0):
                fresh.append(i)
        return fresh, {keys[i]: counts[keys[i]] for i in fresh}

    def knows(self, key: tuple) -> bool:
        return key in self._seen

    def take_unseen(self, keys: list[tuple]) -> list[int] | None:
        """select and commit at once, for keys of which none is known yet (a push's new
        head); None, and nothing remembered, if one is. For such keys select gives every
        index but those older than the forgotten, and the count of each key."""
        seen = self._seen
        if any(map(seen.__contains__, keys)):
            return None
        forgotten_before = self._forgotten_before
        fresh, counts = [], {}
        for i, key in enumerate(keys):
            if key[0] >= forgotten_before:
                fresh.append(i)
                counts[key] = counts.get(key, 0) + 1
        self._order.extend(counts)  # commit(counts), every key new
        seen.update(counts)
        self._forget_beyond_capacity()
        return fresh

    def commit(self, updates: dict[tuple, int]) -> None:
        seen = self._seen
        self._order.extend([key for key in updates if key not in seen])
        seen.update(updates)
        self._forget_beyond_capacity()

    def _forget_beyond_capacity(self) -> None:
        seen, order = self._seen, self._order
        while len(seen) > self._capacity:
            oldest = order.popleft()
            del seen[oldest]
            self._forgotten_before = max(self._forgotten_before, oldest[0])

    def new_trades(self, trades: list[Trade]) -> list[Trade]:
        """The trades not seen before, for records already built."""
        fresh, updates = self.select([(t.ts, t.price, t.qty, t.side) for t in trades])
        self.commit(updates)
        return [trades[i] for i in fresh]


def _trade_key(item) -> tuple:
    """A trade as it was sent: (timestamp, price, quantity, side), compared as text, so
    that trades already seen cost no Decimal and no record."""
    try:
        key = (item["timestamp"], item["price"], item["quantity"], item["action"])
        if type(key[0]) is int:
            hash(key)
            return key
    except (TypeError, KeyError):
        pass
    trade_record(item)  # raises the PayloadError that says what is wrong
    raise PayloadError(f"malformed trade: {item!r:.60}")


def parse_new_trades(data, dedup: TradeDeduplicator) -> list[Trade]:
    """The trades of a push not seen in earlier pushes, oldest first. Only those are
    validated and turned into records: most of every push is a repeat."""
    items = trade_list(data)
    fresh, updates = dedup.select([_trade_key(item) for item in items])
    trades = [trade_record(items[i]) for i in fresh]
    dedup.commit(updates)  # only once the whole push is known to be good
    return trades


class TradeParser:
    """Payload bytes -> the trades not printed before, oldest first.

    The fast path: when the push is compact JSON whose tail is the previous push (minus
    the oldest trades that fell off its end), only the head before it is parsed. Anything
    else, or any doubt, takes the full path; both give the same trades (a property test
    checks it).
    """

    def __init__(self) -> None:
        self.dedup = TradeDeduplicator()
        self._body = b""  # the previous push without its brackets
        self._first = b""  # the previous push's first (newest) element, as sent

    def __call__(self, payload: bytes) -> list[Trade]:
        trades = self._parse_head(payload)
        if trades is None:
            trades = parse_new_trades(load_json(payload), self.dedup)
            self._remember(payload)
        return trades

    def _parse_head(self, payload: bytes) -> list[Trade] | None:
        first = self._first
        if not first or payload[:1] != b"[" or payload[-1:] != b"]":
            return None
        body = payload[1:-1]
        at = body.find(first)
        if at < 0 or (at and body[at - 1] != 0x2C):  # 0x2C: the comma before it
            return None
        rest = body[at:]
        previous = self._body
        if not previous.startswith(rest) or (len(rest) < len(previous)
                                             and previous[len(rest)] != 0x2C):
            return None
        head = body[:at - 1] if at else b""
        if not head:
            return []
        elements = maybe_typed(_elements, b"[" + head + b"]")
        items = elements and maybe_typed(_pushed_trades, b"[" + head + b"]")
        if not items:
            return None  # let the full path judge, and name the problem
        items.reverse()  # oldest first, as trade_list gives them
        try:
            trades = [_trade(item) for item in items]
        except _NotAsSent:
            return None  # the full path names the bad field
        fresh = self.dedup.take_unseen([(t.timestamp, t.price, t.quantity, t.action)
                                        for t in items])
        if fresh is None:
            return None  # a repeat in the head: the full path counts it exactly
        self._remember_first(body, bytes(elements[0]))
        return [trades[i] for i in fresh]

    def _remember_first(self, body: bytes, first: bytes) -> None:
        """Keep the push's body and its first element, as sent, for the next push."""
        if body.startswith(first):
            self._body, self._first = body, first
        else:  # spaces before it: the full path, then, for the next push
            self._body = self._first = b""

    def _remember(self, payload: bytes) -> None:
        """Keep what the next push is compared with, after the full path."""
        self._body = self._first = b""
        body = payload[1:-1]
        if payload[:1] != b"[" or not body.isascii():
            return  # raw_decode counts characters: ASCII keeps them equal to bytes
        try:
            _, end = _first_element(body.decode("ascii"))
        except ValueError:
            return
        self._body, self._first = body, body[:end]
