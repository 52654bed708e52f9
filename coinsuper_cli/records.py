# Typed records, one per thing the exchange pushes. Field names are the JSON keys of
# PRODUCT.md's jsonl output, in order; prices and quantities are Decimal with exactly the
# digits received; times are integers, milliseconds since the epoch.
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar

Level = tuple[Decimal, Decimal]  # (price, quantity)


@dataclass(frozen=True, slots=True)
class Depth:
    """Depth-chart points: quantities are cumulative away from the mid price."""

    channel: ClassVar[str] = "depth"
    symbol: str
    best_ask: Decimal
    best_bid: Decimal
    depth_percent: Decimal
    asks: tuple[Level, ...]
    bids: tuple[Level, ...]


@dataclass(frozen=True, slots=True)
class Book:
    """The best levels of the order book, aggregated by `step`."""

    channel: ClassVar[str] = "book"
    symbol: str
    ts: int
    step: Decimal
    asks: tuple[Level, ...]  # ascending
    bids: tuple[Level, ...]  # descending


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


Record = Depth | Book | Kline | Trade | Asset | Order | Fill
