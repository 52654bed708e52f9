# The simulated exchange the sandbox serves: an order book per symbol, a ledger, a crowd
# of seeded simulated traders and the demo account, run on a simulated clock that only
# advance() moves. Sans-I/O and deterministic: every action happens at its own scheduled
# simulated time, in one global order, so the state after advance(t) depends only on the
# seed, start_ms and t, not on how many advance() calls led there (except after a gap
# longer than MAX_CATCHUP_MS, which is skipped rather than replayed).
from __future__ import annotations

import heapq
import itertools
import random
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from ..api.exchange import (INTERVALS, SANDBOX_MARKETS, documented_steps, normalise_symbol,
                            quote_is_fiat)
from . import payloads as pl
from .account import Balance, DemoAccount, Ledger, demo_account
from .engine import BUY, SELL, Fill, Order, OrderBook
from .traders import CrowdIds, crowd_step, demo_step, seed_book

DEFAULT_SYMBOLS: tuple[str, ...] = SANDBOX_MARKETS  # the list shell completion knows too
QTY_DECIMALS = 4
TRADE_LOG = 10_000    # trades kept per symbol: tickers need 50, tests check a minute
TICKERS = 50
WARMUP_MS = 60_000    # the crowd trades this long before start_ms, so no channel starts empty
MAX_CATCHUP_MS = 300_000
DEMO_FIRST_MS = 500   # the demo's first action, after its opening balance push

# Start price and a typical order size (in the base currency) per known symbol; any other
# valid symbol gets a generic price for its kind of quote.
_KNOWN = {
    "BTC_USD": ("6600.00", 0.25), "ETH_USD": ("200.00", 4.0),
    "ETH_BTC": ("0.03000000", 4.0), "LTC_USD": ("55.00", 10.0),
    "XRP_BTC": ("0.00005000", 2000.0), "LTC_BTC": ("0.00830000", 10.0),
    "ETC_BTC": ("0.00130000", 20.0), "BCH_USD": ("450.00", 1.0),
}
# Each simulated trader's funding: deep enough that the crowd never runs dry.
_CROWD_FUNDS = {"USD": "50000000", "BTC": "7500", "ETH": "250000", "LTC": "900000",
                "XRP": "150000000"}
_DEMO_FUNDS = {"USD": "20000", "BTC": "2", "ETH": "30", "LTC": "100", "XRP": "20000"}
CROWD_SIZE = 8


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    symbol: str
    base: str
    quote: str
    start_price: Decimal
    tick: Decimal        # 0.01 for fiat quotes, 0.00000001 for crypto quotes
    qty_step: Decimal    # 0.0001
    typical_qty: float

    @property
    def price_decimals(self) -> int:
        return pl.decimals_of(self.tick)


def symbol_spec(symbol: str) -> SymbolSpec:
    base, _, quote = symbol.partition("_")
    fiat = quote_is_fiat(symbol)
    price, typical = _KNOWN.get(symbol, ("100.00" if fiat else "0.01000000", 1.0))
    return SymbolSpec(symbol, base, quote, Decimal(price),
                      Decimal("0.01") if fiat else Decimal("0.00000001"),
                      Decimal(1).scaleb(-QTY_DECIMALS), typical)


class SymbolState:
    """The mutable simulation state of one symbol."""

    __slots__ = ("spec", "book", "rng", "fair", "fair_ms", "crowd_ids", "trades",
                 "candles", "last_price")

    def __init__(self, spec: SymbolSpec, seed: int, now_ms: int) -> None:
        self.spec = spec
        self.book = OrderBook(spec.symbol)
        self.rng = random.Random(f"coinsuper-sandbox-crowd:{seed}:{spec.symbol}")
        self.fair = float(spec.start_price)  # the model's hidden value; a float is fine
        self.fair_ms = now_ms                # here: only quantized Decimals reach the book
        self.crowd_ids = CrowdIds()
        self.trades: deque[pl.Trade] = deque(maxlen=TRADE_LOG)
        self.candles: dict[int, pl.Candle] = {}
        self.last_price = spec.start_price

    def record(self, trade: pl.Trade) -> None:
        self.trades.append(trade)
        self.last_price = trade.price
        for range_ms in INTERVALS.values():
            open_ms = trade.timestamp_ms - trade.timestamp_ms % range_ms
            candle = self.candles.get(range_ms)
            if candle is None or candle.open_ms != open_ms:
                p = trade.price
                candle = pl.Candle(open_ms, p, p, p, p, Decimal(0))
            self.candles[range_ms] = candle.add(trade)


class DemoOrder:
    """What the order channel reports about one open demo order, updated fill by fill
    (the engine's Order already holds its final state when the fills are reported)."""

    __slots__ = ("symbol", "order_no", "side", "kind", "quantity", "price_limit", "amount",
                 "filled_qty", "filled_quote", "fee", "created_ms")

    def __init__(self, order: Order, symbol: str, amount: Decimal) -> None:
        self.symbol, self.order_no, self.side = symbol, str(order.order_id), order.side
        self.kind, self.quantity, self.created_ms = order.kind, order.quantity, order.created_ms
        self.price_limit = order.price if order.price is not None else Decimal(0)
        self.amount = amount
        self.filled_qty = self.filled_quote = self.fee = Decimal(0)

    def snapshot(self, state: str, remaining: Decimal, now_ms: int) -> pl.OrderState:
        average = (self.filled_quote / self.filled_qty if self.filled_qty
                   else Decimal(0))
        if self.kind == "LMT":
            amount_left = self.price_limit * remaining
        else:
            amount_left = max(Decimal(0), self.amount - self.filled_quote)
        return pl.OrderState(self.symbol, self.order_no, self.side, state, self.quantity,
                             remaining, self.price_limit, average, self.amount,
                             amount_left, self.fee, self.created_ms, now_ms)


class SimulatedExchange:
    """A seeded simulated exchange. Args:
        seed: the same seed, start_ms and advance() times give the same bytes.
        symbols: topic-form symbols to simulate (BTC_USD).
        start_ms: the simulated clock's start, ms since the epoch (None: now).
    """

    def __init__(self, *, seed: int = 1, symbols: Sequence[str] = DEFAULT_SYMBOLS,
                 start_ms: int | None = None) -> None:
        names = tuple(normalise_symbol(s) for s in symbols)
        if not names or len(set(names)) != len(names):
            raise ValueError(f"need distinct symbols, got {symbols!r}")
        self.symbols = names
        self.seed = seed
        self.account: DemoAccount = demo_account(seed)
        self.ledger = Ledger()  # others read it; only place and cancel change it
        self.demo_owner = "demo"
        self.crowd = tuple(f"trader-{n}" for n in range(CROWD_SIZE))
        self.now_ms = int(time.time() * 1000) if start_ms is None else start_ms
        rng = random.Random(f"coinsuper-sandbox-numbers:{seed}")
        self._order_nos = itertools.count(1_616_392_000_000_000_000 + rng.randrange(10**14))
        self._deal_nos = itertools.count(1_616_392_700_000_000_000 + rng.randrange(10**14))
        self._demo_rng = random.Random(f"coinsuper-sandbox-demo:{seed}")
        self._demo_orders: dict[int, DemoOrder] = {}   # open demo orders, oldest first
        self.demo_last_fill_ms = self.now_ms
        self._private: list[tuple[str, bytes]] = []
        self._fund()
        start = self.now_ms - WARMUP_MS
        self._states = {s: SymbolState(symbol_spec(s), seed, start) for s in names}
        for state in self._states.values():
            seed_book(self, state, start)
        # (time, actor): actor i < len(symbols) is that symbol's crowd, the last is the demo.
        self._agenda = [(start, i) for i in range(len(names))]
        self._agenda.append((self.now_ms + DEMO_FIRST_MS, len(names)))
        heapq.heapify(self._agenda)
        self._run_until(self.now_ms)
        self._push_asset(self._currencies(), self.now_ms)

    # -- the clock -----------------------------------------------------------------
    def advance(self, now_ms: int) -> None:
        """Run every scheduled action up to now_ms; earlier times are ignored."""
        if now_ms <= self.now_ms:
            return
        if now_ms - self.now_ms > MAX_CATCHUP_MS:
            floor = now_ms - MAX_CATCHUP_MS
            self._agenda = [(max(t, floor), actor) for t, actor in self._agenda]
            heapq.heapify(self._agenda)
        self._run_until(now_ms)
        self.now_ms = now_ms

    def _run_until(self, now_ms: int) -> None:
        demo = len(self.symbols)
        while self._agenda[0][0] <= now_ms:
            t, actor = self._agenda[0]
            if actor == demo:
                later = demo_step(self, self._demo_rng, t)
            else:
                later = crowd_step(self, self._states[self.symbols[actor]], t)
            heapq.heapreplace(self._agenda, (max(later, t + 1), actor))

    # -- public channels -------------------------------------------------------------
    def state(self, symbol: str) -> SymbolState:
        """KeyError for a symbol this exchange does not simulate."""
        return self._states[symbol]

    def depth(self, symbol: str) -> bytes:
        st = self._states[symbol]
        book, tick = st.book, st.spec.tick
        ask, bid = book.best(SELL), book.best(BUY)
        mid = ((ask + bid) / 2 if ask is not None and bid is not None
               else ask or bid or st.last_price)
        return pl.depth_payload(
            symbol, pl.depth_points(book.levels(SELL), mid, +1, tick),
            pl.depth_points(book.levels(BUY), mid, -1, tick), ask, bid,
            st.spec.price_decimals, QTY_DECIMALS)

    def order_book(self, symbol: str, step: str) -> bytes:
        st = self._states[symbol]
        if step not in documented_steps(symbol):
            raise ValueError(f"step {step!r} is not documented for {symbol}: "
                             f"use one of {', '.join(documented_steps(symbol))}")
        size = Decimal(step)
        asks = pl.aggregate(st.book.levels(SELL), size, up=True)
        bids = pl.aggregate(st.book.levels(BUY), size, up=False)
        return pl.order_book_payload(symbol, step, asks, bids, st.spec.price_decimals,
                                     QTY_DECIMALS, self.now_ms)

    def current_candle(self, symbol: str, range_ms: int) -> pl.Candle:
        st = self._states[symbol]
        if range_ms not in INTERVALS.values():
            raise ValueError(f"range {range_ms} ms is not a documented kline range")
        open_ms = self.now_ms - self.now_ms % range_ms
        candle = st.candles.get(range_ms)
        if candle is not None and candle.open_ms == open_ms:
            return candle
        p = st.last_price
        return pl.Candle(open_ms, p, p, p, p, Decimal(0))

    def kline(self, symbol: str, range_ms: int) -> bytes:
        candle = self.current_candle(symbol, range_ms)
        return pl.kline_payload(symbol, candle, self._states[symbol].spec.price_decimals)

    def tickers(self, symbol: str) -> bytes:
        st = self._states[symbol]
        newest = itertools.islice(reversed(st.trades), TICKERS)
        return pl.tickers_payload(symbol, newest, st.spec.price_decimals, QTY_DECIMALS)

    # -- private channels ----------------------------------------------------------
    def take_private(self) -> list[tuple[str, bytes]]:
        """The demo account's pushes since the last call, oldest first."""
        pushes, self._private = self._private, []
        return pushes

    # -- the demo account (read by traders.py) ------------------------------------
    def demo_balance(self, currency: str) -> Balance:
        return self.ledger.balance(self.demo_owner, currency)

    def open_demo_orders(self) -> tuple[DemoOrder, ...]:
        """The demo account's open orders, oldest first."""
        return tuple(self._demo_orders.values())

    # -- orders (used by traders.py) -----------------------------------------------
    def place(self, st: SymbolState, owner: str, side: str, quantity: Decimal,
              price: Decimal | None, t: int) -> Order | None:
        """Reserve funds and submit; None when the owner cannot pay (nothing changes).
        A market buy reserves exactly what walking the book now would cost."""
        spec, book = st.spec, st.book
        order = Order(next(self._order_nos), owner, side, quantity, price, t)
        if side == SELL:
            hold, currency = quantity, spec.base
        elif price is not None:
            hold, currency = price * quantity, spec.quote
        else:
            hold, currency = book.cost_to_take(BUY, quantity)[1], spec.quote
        if hold <= 0 or self.ledger.balance(owner, currency).available < hold:
            return None
        self.ledger.hold(order.order_id, owner, currency, hold,
                         price if side == BUY else None)
        demo = owner == self.demo_owner
        if demo:
            amount = (price * quantity if price is not None
                      else hold if side == BUY else book.cost_to_take(SELL, quantity)[1])
            record = self._demo_orders[order.order_id] = DemoOrder(order, st.spec.symbol,
                                                                   amount)
            self._push("order", pl.order_payload(record.snapshot("NEW", quantity, t)))
            self._push_asset([currency], t)
        self._on_fills(st, book.submit(order, t))
        if book.get(order.order_id) is None:      # done: filled, or a market remainder
            released = self.ledger.release(order.order_id)
            if demo and order.order_id in self._demo_orders:
                record = self._demo_orders.pop(order.order_id)
                self._push("order", pl.order_payload(
                    record.snapshot("CANCEL", order.remaining, t)))
                if released:
                    self._push_asset([currency], t)
        return order

    def cancel(self, st: SymbolState, order_id: int, t: int) -> bool:
        order = st.book.maybe_cancel(order_id)
        if order is None:
            return False
        released = self.ledger.release(order_id)
        record = self._demo_orders.pop(order_id, None)
        if record is not None:
            self._push("order", pl.order_payload(
                record.snapshot("CANCEL", order.remaining, t)))
            if released:
                spec = st.spec
                self._push_asset([spec.base if order.side == SELL else spec.quote], t)
        return True

    def _on_fills(self, st: SymbolState, fills: list[Fill]) -> None:
        spec = st.spec
        for fill in fills:
            settled = self.ledger.settle(fill, spec.base, spec.quote)
            st.record(pl.Trade(fill.price, fill.quantity, fill.taker_side,
                               fill.timestamp_ms))
            if fill.maker_remaining == 0:
                self.ledger.release(fill.maker_order_id)
                st.crowd_ids.discard(fill.maker_order_id)
            deal_no = str(next(self._deal_nos))
            for order_id, maker, remaining in (
                    (fill.maker_order_id, True, fill.maker_remaining),
                    (fill.taker_order_id, False, fill.taker_remaining)):
                record = self._demo_orders.get(order_id)
                if record is not None:
                    fee = settled.buyer_fee if record.side == BUY else settled.seller_fee
                    self._report_fill(record, fill, deal_no, maker, remaining, fee)

    def _report_fill(self, record: DemoOrder, fill: Fill, deal_no: str, maker: bool,
                     remaining: Decimal, fee: Decimal) -> None:
        t = fill.timestamp_ms
        record.filled_qty += fill.quantity
        record.filled_quote += fill.price * fill.quantity
        record.fee += fee
        self.demo_last_fill_ms = t
        self._push("fill", pl.fill_payload(
            symbol=record.symbol, action=record.side, deal_no=deal_no, maker=maker,
            order_no=record.order_no, order_type=record.kind, price=fill.price,
            quantity=fill.quantity, deal_ms=t))
        done = remaining == 0
        self._push("order", pl.order_payload(
            record.snapshot("DEAL" if done else "NEW", remaining, t)))
        if done:
            del self._demo_orders[int(record.order_no)]
        spec = self._states[record.symbol].spec
        self._push_asset([spec.base, spec.quote], t)

    # -- the demo account's balances -----------------------------------------------
    def _currencies(self) -> list[str]:
        seen = dict.fromkeys(c for s in self.symbols for c in s.split("_"))
        return list(seen)

    def _fund(self) -> None:
        for currency in self._currencies():
            for owner in self.crowd:
                self.ledger.deposit(owner, currency,
                                    Decimal(_CROWD_FUNDS.get(currency, "10000000")))
            self.ledger.deposit(self.demo_owner, currency,
                                Decimal(_DEMO_FUNDS.get(currency, "1000")))

    def _push(self, channel: str, payload: bytes) -> None:
        self._private.append((channel, payload))

    def _push_asset(self, currencies: Sequence[str], t: int) -> None:
        lines = []
        for currency in currencies:
            b = self.ledger.balance(self.demo_owner, currency)
            lines.append(pl.AssetLine(currency, b.total, b.available, t))
        self._push("asset", pl.asset_payload(self.account.email, self.account.user_no,
                                             lines, t))
