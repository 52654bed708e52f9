# One symbol's limit order book and matching engine, price-time priority. Sans-I/O: the
# caller passes the time in, and every price and quantity is a Decimal, so a fill is
# exactly what both sides and the ledger see. The engine knows nothing about funds or
# fees (account.py) or about who trades and why (market.py).
from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

BUY = "BUY"
SELL = "SELL"
SIDES = (BUY, SELL)
_ZERO = Decimal(0)


def opposite(side: str) -> str:
    return SELL if side == BUY else BUY


@dataclass(slots=True)
class Order:
    """An order as the book holds it. Not frozen, unlike the events: the book lowers
    `remaining` in place as the order fills, and a resting order is the same order
    (same identity, same place in the queue) until it leaves the book."""

    order_id: int
    owner: str
    side: str
    quantity: Decimal
    price: Decimal | None  # None: a market order, which never rests
    created_ms: int
    remaining: Decimal = field(init=False)

    def __post_init__(self) -> None:
        if self.side not in SIDES:
            raise ValueError(f"side must be BUY or SELL, not {self.side!r}")
        if not self.quantity > 0:
            raise ValueError(f"quantity must be positive, not {self.quantity}")
        if self.price is not None and not self.price > 0:
            raise ValueError(f"limit price must be positive, not {self.price}")
        self.remaining = self.quantity

    @property
    def kind(self) -> str:
        """LMT or MKT, the exchange's orderType values."""
        return "MKT" if self.price is None else "LMT"


@dataclass(frozen=True, slots=True)
class Fill:
    """One match between a resting (maker) order and an incoming (taker) order. It carries
    both orders' remaining quantity right after this match, so a caller can report each
    step of an order that filled several times in one submit."""

    symbol: str
    maker_order_id: int
    taker_order_id: int
    maker_owner: str
    taker_owner: str
    price: Decimal
    quantity: Decimal
    taker_side: str
    timestamp_ms: int
    maker_remaining: Decimal
    taker_remaining: Decimal

    @property
    def buy_order_id(self) -> int:
        return self.taker_order_id if self.taker_side == BUY else self.maker_order_id

    @property
    def sell_order_id(self) -> int:
        return self.maker_order_id if self.taker_side == BUY else self.taker_order_id


class _Level:
    """The orders resting at one price. A dict keeps insertion order, which is time
    priority, and removes a cancelled order in O(1)."""

    __slots__ = ("orders", "total")

    def __init__(self) -> None:
        self.orders: dict[int, Order] = {}
        self.total = _ZERO


class OrderBook:
    """Bids and asks of one symbol. Prices of each side are kept in one ascending list:
    the best ask is the first, the best bid the last."""

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self._levels: dict[str, dict[Decimal, _Level]] = {BUY: {}, SELL: {}}
        self._prices: dict[str, list[Decimal]] = {BUY: [], SELL: []}
        self._resting: dict[int, Order] = {}
        self._counts = {BUY: 0, SELL: 0}

    # -- reading -------------------------------------------------------------------
    def best(self, side: str) -> Decimal | None:
        """Best bid (side BUY) or best ask (side SELL), None when that side is empty."""
        prices = self._prices[side]
        if not prices:
            return None
        return prices[-1] if side == BUY else prices[0]

    def levels(self, side: str) -> Iterator[tuple[Decimal, Decimal]]:
        """(price, total quantity) per price, best first."""
        prices = self._prices[side]
        ordered = reversed(prices) if side == BUY else iter(prices)
        levels = self._levels[side]
        for price in ordered:
            yield price, levels[price].total

    def get(self, order_id: int) -> Order | None:
        """The resting order with that id, or None if it is not (or no longer) resting."""
        return self._resting.get(order_id)

    def order_count(self, side: str | None = None) -> int:
        """Resting orders on one side, or on both."""
        return len(self._resting) if side is None else self._counts[side]

    def queue(self, side: str, price: Decimal) -> list[int]:
        """Ids of the orders resting at one price, in the order they will fill."""
        level = self._levels[side].get(price)
        return list(level.orders) if level else []

    def cost_to_take(self, side: str, quantity: Decimal) -> tuple[Decimal, Decimal]:
        """What a market order of `side` for `quantity` would fill now: (quantity it would
        get, quote amount it would pay or receive). Lets a caller reserve exact funds."""
        filled = cost = _ZERO
        for price, available in self.levels(opposite(side)):
            take = min(available, quantity - filled)
            filled += take
            cost += take * price
            if filled == quantity:
                break
        return filled, cost

    # -- changing ------------------------------------------------------------------
    def submit(self, order: Order, now_ms: int) -> list[Fill]:
        """Match an incoming order against the other side, best price first and, at one
        price, oldest first; a limit order's remainder then rests, a market order's
        remainder is dropped (the caller sees it in `order.remaining`)."""
        if order.order_id in self._resting:
            raise ValueError(f"order {order.order_id} is already in the book")
        fills: list[Fill] = []
        maker_side = opposite(order.side)
        while order.remaining > 0:
            best = self.best(maker_side)
            if best is None or not _crosses(order, best):
                break
            self._match_level(order, maker_side, best, now_ms, fills)
        if order.remaining > 0 and order.price is not None:
            self._rest(order)
        return fills

    def maybe_cancel(self, order_id: int) -> Order | None:
        """Take a resting order out of the book; None if it already filled or left."""
        order = self._resting.pop(order_id, None)
        if order is None:
            return None
        assert order.price is not None
        level = self._levels[order.side][order.price]
        del level.orders[order_id]
        level.total -= order.remaining
        self._counts[order.side] -= 1
        if not level.orders:
            self._drop_level(order.side, order.price)
        return order

    def _match_level(self, taker: Order, maker_side: str, price: Decimal, now_ms: int,
                     fills: list[Fill]) -> None:
        level = self._levels[maker_side][price]
        while taker.remaining > 0 and level.orders:
            maker = next(iter(level.orders.values()))
            quantity = min(maker.remaining, taker.remaining)
            maker.remaining -= quantity
            taker.remaining -= quantity
            level.total -= quantity
            if maker.remaining == 0:
                del level.orders[maker.order_id]
                del self._resting[maker.order_id]
                self._counts[maker_side] -= 1
            fills.append(Fill(
                symbol=self.symbol, maker_order_id=maker.order_id,
                taker_order_id=taker.order_id, maker_owner=maker.owner,
                taker_owner=taker.owner, price=price, quantity=quantity,
                taker_side=taker.side, timestamp_ms=now_ms,
                maker_remaining=maker.remaining, taker_remaining=taker.remaining))
        if not level.orders:
            self._drop_level(maker_side, price)

    def _rest(self, order: Order) -> None:
        assert order.price is not None
        levels = self._levels[order.side]
        level = levels.get(order.price)
        if level is None:
            level = levels[order.price] = _Level()
            bisect.insort(self._prices[order.side], order.price)
        level.orders[order.order_id] = order
        level.total += order.remaining
        self._resting[order.order_id] = order
        self._counts[order.side] += 1

    def _drop_level(self, side: str, price: Decimal) -> None:
        del self._levels[side][price]
        prices = self._prices[side]
        del prices[bisect.bisect_left(prices, price)]


def _crosses(order: Order, best_opposite: Decimal) -> bool:
    if order.price is None:
        return True
    if order.side == BUY:
        return best_opposite <= order.price
    return best_opposite >= order.price
