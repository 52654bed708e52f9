# The JSON bytes of each channel, shaped like the exchange's own samples (tests/samples):
# compact separators, the same keys in the same order, numbers as fixed-decimal strings,
# except asset balances, which are JSON numbers with exactly 30 decimals. Pure functions
# of plain values; also the two views of a book that only payloads need (depth-chart
# points and levels aggregated by step).
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from ..api.exchange import payload_symbol

LIMIT_SIZE = 15
DEPTH_POINTS = 50
DEPTH_SPACING = Decimal("0.001")  # depth-chart points ~0.1% of the price apart, as sampled
DEPTH_PERCENT = "0.01"
BALANCE_DECIMALS = 30
ORDER_DECIMALS = 8
KLINE_QTY_DECIMALS = 8


def fixed(value: Decimal, decimals: int) -> str:
    """A decimal with exactly `decimals` places, as the exchange prints its numbers."""
    return f"{value:.{decimals}f}"


def decimals_of(step: str | Decimal) -> int:
    """`0.01` -> 2, `1.0` -> 1, `1` -> 0: a step is printed with its own places."""
    return max(0, -Decimal(step).as_tuple().exponent)  # type: ignore[operator]


def _dumps(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


# -- public channels -------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Trade:
    """One public trade, as the tickers channel and the candles see it."""

    price: Decimal
    quantity: Decimal
    action: str  # the taker's side
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class Candle:
    open_ms: int
    first: Decimal
    last: Decimal
    high: Decimal
    low: Decimal
    volume: Decimal

    def add(self, trade: Trade) -> Candle:
        return Candle(self.open_ms, self.first, trade.price, max(self.high, trade.price),
                      min(self.low, trade.price), self.volume + trade.quantity)


def depth_points(levels: Iterable[tuple[Decimal, Decimal]], mid: Decimal, sign: int,
                 tick: Decimal) -> list[tuple[Decimal, Decimal]]:
    """Depth-chart points on one side: prices mid x (1 + sign x 0.1% x k), k = 1..50,
    each with the cumulative quantity of the levels from the best price up to it.
    `levels` come best first; sign is +1 for asks, -1 for bids."""
    rounding = ROUND_CEILING if sign > 0 else ROUND_FLOOR
    points: list[tuple[Decimal, Decimal]] = []
    pending = iter(levels)
    level = next(pending, None)
    cumulative = Decimal(0)
    for k in range(1, DEPTH_POINTS + 1):
        point = (mid * (1 + sign * DEPTH_SPACING * k)).quantize(tick, rounding)
        while level is not None and (level[0] - point) * sign <= 0:
            cumulative += level[1]
            level = next(pending, None)
        points.append((point, cumulative))
    return points


def aggregate(levels: Iterable[tuple[Decimal, Decimal]], step: Decimal, up: bool,
              limit: int = LIMIT_SIZE) -> list[tuple[Decimal, Decimal]]:
    """The best `limit` levels after rounding each price to the step: up for asks, down
    for bids, so a bucket never promises a better price than its orders give."""
    rounding = ROUND_CEILING if up else ROUND_FLOOR
    buckets: list[tuple[Decimal, Decimal]] = []
    for price, quantity in levels:
        # Not price.quantize(step): that rounds to the step's exponent (1.0 -> tenths),
        # not to a multiple of the step.
        bucket = (price / step).to_integral_value(rounding) * step
        if buckets and buckets[-1][0] == bucket:
            buckets[-1] = (bucket, buckets[-1][1] + quantity)
        elif len(buckets) == limit:
            break
        else:
            buckets.append((bucket, quantity))
    return buckets


def depth_payload(symbol: str, asks: Sequence[tuple[Decimal, Decimal]],
                  bids: Sequence[tuple[Decimal, Decimal]], best_ask: Decimal | None,
                  best_bid: Decimal | None, price_dp: int, qty_dp: int) -> bytes:
    def points(side: Sequence[tuple[Decimal, Decimal]]) -> list[dict[str, object]]:
        return [{"price": fixed(p, price_dp), "quantity": fixed(q, qty_dp),
                 "stepValue": None} for p, q in side]
    return _dumps({
        "symbol": payload_symbol(symbol), "asks": points(asks), "bids": points(bids),
        "depthPercent": DEPTH_PERCENT,
        "asksMinPrice": None if best_ask is None else fixed(best_ask, price_dp),
        "bidsMaxPrice": None if best_bid is None else fixed(best_bid, price_dp),
    })


def order_book_payload(symbol: str, step: str, asks: Sequence[tuple[Decimal, Decimal]],
                       bids: Sequence[tuple[Decimal, Decimal]], amount_dp: int,
                       qty_dp: int, now_ms: int) -> bytes:
    price_dp = decimals_of(step)

    def rows(side: Sequence[tuple[Decimal, Decimal]]) -> list[dict[str, str]]:
        return [{"amount": fixed(p * q, amount_dp), "limitPrice": fixed(p, price_dp),
                 "quantity": fixed(q, qty_dp)} for p, q in side]
    return _dumps({"asks": rows(asks), "bids": rows(bids), "limitSize": LIMIT_SIZE,
                   "step": step, "symbol": payload_symbol(symbol), "timestamp": now_ms})


def kline_payload(symbol: str, candle: Candle, price_dp: int) -> bytes:
    return _dumps({
        "symbol": payload_symbol(symbol), "first": fixed(candle.first, price_dp),
        "last": fixed(candle.last, price_dp), "max": fixed(candle.high, price_dp),
        "min": fixed(candle.low, price_dp),
        "quantity": fixed(candle.volume, KLINE_QTY_DECIMALS), "timestamp": candle.open_ms,
    })


def tickers_payload(symbol: str, newest_first: Iterable[Trade], price_dp: int,
                    qty_dp: int) -> bytes:
    name = payload_symbol(symbol)
    return _dumps([{"symbol": name, "price": fixed(t.price, price_dp),
                    "quantity": fixed(t.quantity, qty_dp), "action": t.action,
                    "timestamp": t.timestamp_ms} for t in newest_first])


# -- private channels ------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AssetLine:
    currency: str
    total: Decimal
    available: Decimal
    updated_ms: int


def asset_payload(email: str, user_no: str, lines: Iterable[AssetLine], now_ms: int) -> bytes:
    """Built by hand, not by json.dumps: balances must be JSON numbers with 30 decimals,
    which no float can carry."""
    items = ",".join(
        '{"available":%s,"currency":%s,"total":%s,"utcUpdate":%d}' % (
            fixed(line.available, BALANCE_DECIMALS), json.dumps(line.currency),
            fixed(line.total, BALANCE_DECIMALS), line.updated_ms)
        for line in lines)
    return ('{"asset":[%s],"email":%s,"timestamp":%d,"userNo":%s}' % (
        items, json.dumps(email), now_ms, json.dumps(user_no))).encode("utf-8")


@dataclass(frozen=True, slots=True)
class OrderState:
    """One demo order as the order channel reports it at one moment."""

    symbol: str
    order_no: str
    action: str
    state: str  # NEW while open (also when partly filled), DEAL when filled, CANCEL
    quantity: Decimal
    remaining: Decimal
    price_limit: Decimal
    price_average: Decimal
    amount: Decimal
    amount_remaining: Decimal
    fee: Decimal
    created_ms: int
    updated_ms: int


def order_payload(order: OrderState) -> bytes:
    d = ORDER_DECIMALS
    return _dumps({
        "symbol": payload_symbol(order.symbol), "orderNo": order.order_no,
        "action": order.action, "state": order.state,
        "quantity": fixed(order.quantity, d), "quantityRemaining": fixed(order.remaining, d),
        "priceLimit": fixed(order.price_limit, d),
        "priceAverage": fixed(order.price_average, d), "amount": fixed(order.amount, d),
        "amountRemaining": fixed(order.amount_remaining, d), "fee": fixed(order.fee, d),
        "utcCreate": order.created_ms, "utcUpdate": order.updated_ms,
    })


def fill_payload(*, symbol: str, action: str, deal_no: str, maker: bool, order_no: str,
                 order_type: str, price: Decimal, quantity: Decimal, deal_ms: int) -> bytes:
    d = ORDER_DECIMALS
    return _dumps({
        "action": action, "dealNo": deal_no, "matchType": "MAKER" if maker else "TAKER",
        "orderNo": order_no, "orderType": order_type, "price": fixed(price, d),
        "quantity": fixed(quantity, d), "symbol": payload_symbol(symbol),
        "utcDeal": str(deal_ms),  # a string in the exchange's sample, unlike every other time
    })
