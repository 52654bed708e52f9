# Who trades in the simulated exchange, and why. Per symbol, a seeded crowd quotes around
# a fair price that drifts as a random walk: mostly passive limit orders spread a few
# percent either side (so the depth chart has 50 points to show), some cancels to keep the
# book's size steady, and a share of aggressive limit and market orders that make trades.
# The demo account trades small amounts often enough that every private channel (asset,
# order, fill) pushes within a few simulated seconds. Each step returns when its actor
# acts next; market.py owns the clock.
from __future__ import annotations

import math
import random
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING

from .engine import BUY, SELL, opposite

if TYPE_CHECKING:
    from .market import SimulatedExchange, SymbolState

MEAN_GAP_MS = 150         # the crowd acts ~7 times a second per symbol
SEED_ORDERS = 200         # resting orders each book starts with
TARGET_ORDERS = 240       # cancels grow with the book's size to hold it near this
MARKET_SHARE = 0.10
CANCEL_SHARE = 0.40
AGGRESSIVE_SHARE = 0.20   # limit orders priced through the fair price: they trade
VOLATILITY = 0.0004       # of the fair price, per square root of a second
REVERSION_PER_S = 1 / 21_600  # a weak pull to the start price, so long runs stay sane
MIN_OFFSET, MEAN_OFFSET, MAX_OFFSET = 0.0001, 0.015, 0.06
NEAR_OFFSET, NEAR_SHARE = 0.001, 0.4
SIZE_SPREAD = 0.8         # sigma of the log-normal order size

DEMO_GAP_MS = (700, 1500)
DEMO_ORDER_TTL_MS = 6_000
DEMO_MAX_OPEN = 3
DEMO_FILL_EVERY_MS = 3_000  # a market order at least this often: the fill channel's pulse
DEMO_TAKER_SHARE = 0.3


class CrowdIds:
    """The crowd's resting order ids of one symbol: O(1) add, discard and random pick."""

    def __init__(self) -> None:
        self._ids: list[int] = []
        self._index: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, order_id: int) -> None:
        self._index[order_id] = len(self._ids)
        self._ids.append(order_id)

    def discard(self, order_id: int) -> None:
        where = self._index.pop(order_id, None)
        if where is None:
            return
        last = self._ids.pop()
        if last != order_id:
            self._ids[where] = last
            self._index[last] = where

    def pick(self, rng: random.Random) -> int | None:
        return self._ids[rng.randrange(len(self._ids))] if self._ids else None


# -- the crowd ---------------------------------------------------------------------------
def seed_book(ex: SimulatedExchange, st: SymbolState, t: int) -> None:
    for n in range(SEED_ORDERS):
        _quote(ex, st, t, BUY if n % 2 else SELL, aggressive=False)


def crowd_step(ex: SimulatedExchange, st: SymbolState, t: int) -> int:
    rng = st.rng
    _drift(st, t)
    roll = rng.random()
    if roll < MARKET_SHARE:
        _market(ex, st, t)
    elif roll < MARKET_SHARE + CANCEL_SHARE * st.book.order_count() / TARGET_ORDERS:
        order_id = st.crowd_ids.pick(rng)
        if order_id is not None:
            st.crowd_ids.discard(order_id)
            ex.cancel(st, order_id, t)
    else:
        _quote(ex, st, t, None, aggressive=rng.random() < AGGRESSIVE_SHARE)
    return t + 1 + int(rng.expovariate(1 / MEAN_GAP_MS))


def _drift(st: SymbolState, t: int) -> None:
    seconds = (t - st.fair_ms) / 1000
    if seconds <= 0:
        return
    pull = REVERSION_PER_S * seconds * math.log(st.fair / float(st.spec.start_price))
    st.fair *= math.exp(VOLATILITY * math.sqrt(seconds) * st.rng.gauss(0, 1) - pull)
    st.fair_ms = t


def _size(st: SymbolState, scale: float) -> Decimal:
    size = st.spec.typical_qty * scale * st.rng.lognormvariate(0, SIZE_SPREAD)
    return max(Decimal(size).quantize(st.spec.qty_step, ROUND_DOWN), st.spec.qty_step)


def _quote(ex: SimulatedExchange, st: SymbolState, t: int, side: str | None,
           aggressive: bool) -> None:
    rng, book = st.rng, st.book
    if side is None:
        # Lean towards the thinner side, so drift cannot empty one side of the book.
        bids, asks = book.order_count(BUY), book.order_count(SELL)
        side = BUY if rng.random() < (asks + 1) / (bids + asks + 2) else SELL
    if aggressive:
        offset = -rng.uniform(0, 0.0015)
    else:
        # Two kinds of quoters: close to the touch (a tight spread) and far out (depth).
        mean = NEAR_OFFSET if rng.random() < NEAR_SHARE else MEAN_OFFSET
        offset = MIN_OFFSET + rng.expovariate(1 / mean)
        if offset > MAX_OFFSET:
            offset = rng.uniform(MIN_OFFSET, MAX_OFFSET)
    if side == BUY:
        price = Decimal(st.fair * (1 - offset)).quantize(st.spec.tick, ROUND_FLOOR)
    else:
        price = Decimal(st.fair * (1 + offset)).quantize(st.spec.tick, ROUND_CEILING)
    price = max(price, st.spec.tick)
    order = ex.place(st, rng.choice(ex.crowd), side, _size(st, 1.0), price, t)
    if order is not None and book.get(order.order_id) is not None:
        st.crowd_ids.add(order.order_id)


def _market(ex: SimulatedExchange, st: SymbolState, t: int) -> None:
    side = st.rng.choice((BUY, SELL))
    quantity = st.book.cost_to_take(side, _size(st, 0.4))[0]
    if quantity > 0:
        ex.place(st, st.rng.choice(ex.crowd), side, quantity, None, t)


# -- the demo account ------------------------------------------------------------------
def demo_step(ex: SimulatedExchange, rng: random.Random, t: int) -> int:
    open_orders = ex.open_demo_orders()
    if open_orders:
        oldest = open_orders[0]
        if t - oldest.created_ms >= DEMO_ORDER_TTL_MS or len(open_orders) >= DEMO_MAX_OPEN:
            ex.cancel(ex.state(oldest.symbol), int(oldest.order_no), t)
    st = ex.state(rng.choice(ex.symbols))
    side = rng.choice((BUY, SELL))
    taker = (t - ex.demo_last_fill_ms >= DEMO_FILL_EVERY_MS
             or rng.random() < DEMO_TAKER_SHARE)
    fraction = rng.uniform(0.005, 0.03)
    for attempt in (side, opposite(side)):   # the other side if this one cannot pay
        if _demo_order(ex, st, attempt, fraction, taker, t):
            break
    return t + rng.randint(*DEMO_GAP_MS)


def _demo_order(ex: SimulatedExchange, st: SymbolState, side: str, fraction: float,
                taker: bool, t: int) -> bool:
    """A market order, or a limit order joining or improving the best price on its side
    (so the crowd's takers soon fill it: maker fills)."""
    book, spec = st.book, st.spec
    bid, ask = book.best(BUY), book.best(SELL)
    if bid is None or ask is None:
        return False
    if side == BUY:
        price = bid + spec.tick if bid + spec.tick < ask else bid
        funds = ex.demo_balance(spec.quote).available
        wanted = Decimal(float(funds) * fraction) / (ask if taker else price)
    else:
        price = ask - spec.tick if ask - spec.tick > bid else ask
        funds = ex.demo_balance(spec.base).available
        wanted = Decimal(float(funds) * fraction)
    quantity = wanted.quantize(spec.qty_step, ROUND_DOWN)
    if taker:
        quantity = book.cost_to_take(side, quantity)[0]
    if quantity <= 0:
        return False
    order = ex.place(st, ex.demo_owner, side, quantity, None if taker else price, t)
    return order is not None
