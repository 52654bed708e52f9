# Typed records, one per thing the exchange pushes. Field names are the JSON keys of
# PRODUCT.md's jsonl output, in order; prices and quantities are Decimal with exactly the
# digits received (depth and book levels keep the text, and give Decimals on first use);
# times are integers, milliseconds since the epoch.
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar

Level = tuple[Decimal, Decimal]  # (price, quantity)


class Levels(Sequence):
    """The levels of one side of a depth or book push: a sequence of (price, quantity)
    Decimal pairs, kept as the exact text received.

    jsonl writes the text and needs no Decimal; the live views do arithmetic, so the
    Decimals are built on first use and kept. Two threads may both build them once: the
    results are equal and the assignment is atomic. Equality and hashing are those of
    the tuple of Decimal pairs, as when levels were tuples.

    Args:
        text: (price, quantity) strings, each in plain notation exactly as
            `payloads.decimal_text` writes its Decimal (no exponent, no leading zero).
        decimals: the pairs as Decimals, when the parser has them already.
        json: `[["price","quantity"],...]`, what jsonl writes of them, when the parser
            has it already.
    """

    __slots__ = ("text", "_decimals", "json")

    def __init__(self, text: tuple[tuple[str, str], ...],
                 decimals: tuple[Level, ...] | None = None, *,
                 json: str | None = None) -> None:
        self.text = text
        self._decimals = decimals
        self.json = json

    @property
    def decimals(self) -> tuple[Level, ...]:
        decimals = self._decimals
        if decimals is None:
            decimals = self._decimals = tuple([(Decimal(price), Decimal(quantity))
                                               for price, quantity in self.text])
        return decimals

    def __len__(self) -> int:
        return len(self.text)

    def __getitem__(self, index):  # a slice gives a tuple of pairs
        return self.decimals[index]

    def __iter__(self):
        return iter(self.decimals)

    def __eq__(self, other) -> bool:
        if isinstance(other, Levels):
            return self.text == other.text or self.decimals == other.decimals
        if isinstance(other, tuple):
            return self.decimals == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.decimals)

    def __repr__(self) -> str:
        return f"Levels({self.text!r})"


@dataclass(frozen=True, slots=True)
class Depth:
    """Depth-chart points: quantities are cumulative away from the mid price."""

    channel: ClassVar[str] = "depth"
    symbol: str
    best_ask: Decimal
    best_bid: Decimal
    depth_percent: Decimal
    asks: Levels | tuple[Level, ...]  # parsed records hold Levels
    bids: Levels | tuple[Level, ...]


@dataclass(frozen=True, slots=True)
class Book:
    """The best levels of the order book, aggregated by `step`."""

    channel: ClassVar[str] = "book"
    symbol: str
    ts: int
    step: Decimal
    asks: Levels | tuple[Level, ...]  # ascending; parsed records hold Levels
    bids: Levels | tuple[Level, ...]  # descending


@dataclass(frozen=True, slots=True)
class Kline:
    channel: ClassVar[str] = "kline"
    symbol: str
    interval: str
    ts: int  # the candle's open time
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


@dataclass(frozen=True, slots=True)
class Trade:
    channel: ClassVar[str] = "trade"
    symbol: str
    ts: int
    price: Decimal
    qty: Decimal
    side: str  # the taker's: "buy" or "sell"


@dataclass(frozen=True, slots=True)
class Asset:
    channel: ClassVar[str] = "asset"
    ts: int
    currency: str
    total: Decimal
    available: Decimal
    updated: int


@dataclass(frozen=True, slots=True)
class Order:
    channel: ClassVar[str] = "order"
    symbol: str
    order_no: str
    side: str
    state: str
    price: Decimal
    qty: Decimal
    qty_remaining: Decimal
    avg_price: Decimal
    amount: Decimal
    amount_remaining: Decimal
    fee: Decimal
    created: int
    updated: int


@dataclass(frozen=True, slots=True)
class Fill:
    channel: ClassVar[str] = "fill"
    symbol: str
    deal_no: str
    order_no: str
    order_type: str
    role: str  # "maker" or "taker"
    side: str
    price: Decimal
    qty: Decimal
    ts: int


# Derived records: made by coinsuper from the exchange's pushes, not pushed by it.


@dataclass(frozen=True, slots=True)
class Ticker:
    """One market's line on the board (`coinsuper markets`): its day candle, and the
    best prices of its depth; there is none until both have come."""

    channel: ClassVar[str] = "ticker"
    symbol: str
    ts: int  # the day candle's open time
    last: Decimal
    open: Decimal
    high: Decimal
    low: Decimal
    volume: Decimal
    change: Decimal  # last - open
    change_pct: Decimal  # percent of the open, two places
    bid: Decimal
    ask: Decimal
    spread: Decimal  # ask - bid


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """An alert that fired: `rule` as the user wrote it, `value` what crossed it."""

    channel: ClassVar[str] = "alert"
    symbol: str
    rule: str
    value: Decimal


Record = Depth | Book | Kline | Trade | Asset | Order | Fill | Ticker | AlertRecord
# The derived records' channel names: what the outputs look up beside the exchange's.
DERIVED: dict[str, type] = {kind.channel: kind for kind in (Ticker, AlertRecord)}
