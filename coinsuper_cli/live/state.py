# View state of the market channels, and the pure reducers that fold records into it:
# `reduce_x(state, records, recv_ms) -> state`. States are frozen; a reducer returns a new
# one, so the renderer can draw a snapshot while the network thread moves on.
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from ..api.records import Book, Depth, Kline, Level, Trade
from .figures import decimals, quantize_like

MAX_CANDLES = 500
TAPE_KEEP = 200  # trades kept for the tape, beyond those inside the stats window
WINDOW_MS = 60_000  # the trades header's rolling window


@dataclass(frozen=True, slots=True)
class DepthState:
    depth: Depth | None = None
    updated: int = 0  # local receive time of the last push, ms


def reduce_depth(state: DepthState, records: list, recv_ms: int) -> DepthState:
    latest = [r for r in records if isinstance(r, Depth)]
    return DepthState(latest[-1], recv_ms) if latest else state


@dataclass(frozen=True, slots=True)
class BookState:
    book: Book | None = None
    changed: frozenset[tuple[str, Decimal]] = frozenset()  # ("ask"|"bid", price)
    updated: int = 0


def changed_levels(before: Book | None, after: Book) -> frozenset[tuple[str, Decimal]]:
    """The levels of `after` that are new or whose quantity moved since `before`. The
    first push changes nothing: lighting up the whole ladder would say nothing."""
    if before is None:
        return frozenset()
    changed = set()
    for side, old, new in (("ask", before.asks, after.asks), ("bid", before.bids, after.bids)):
        previous = dict(old)
        changed.update((side, price) for price, qty in new if previous.get(price) != qty)
    return frozenset(changed)


def reduce_book(state: BookState, records: list, recv_ms: int) -> BookState:
    for book in records:
        if isinstance(book, Book):
            state = BookState(book, changed_levels(state.book, book), recv_ms)
    return state


def spread_and_mid(best_bid: Decimal, best_ask: Decimal) -> tuple[Decimal, Decimal]:
    """Spread, and the mid price: exact, with one more digit than the prices only when
    the halving needs it (6674.56 and 6674.89 -> 6674.725)."""
    places = max(decimals(best_bid), decimals(best_ask))
    mid = (best_bid + best_ask) / 2
    rounded = quantize_like(mid, places)
    return best_ask - best_bid, rounded if rounded == mid else quantize_like(mid, places + 1)


@dataclass(frozen=True, slots=True)
class CandlesState:
    candles: tuple[Kline, ...] = ()  # oldest first, one per open time
    updated: int = 0


def reduce_candles(state: CandlesState, records: list, recv_ms: int) -> CandlesState:
    """The channel pushes the current candle again and again; a new open time starts a
    new candle, and the previous one keeps its last push as its final values."""
    candles = list(state.candles)
    for kline in records:
        if not isinstance(kline, Kline):
            continue
        if candles and candles[-1].ts == kline.ts:
            candles[-1] = kline
        elif not candles or candles[-1].ts < kline.ts:
            candles.append(kline)
        else:  # a late push for an older candle: replace it in place
            by_ts = {c.ts: c for c in candles}
            by_ts[kline.ts] = kline
            candles = sorted(by_ts.values(), key=lambda c: c.ts)
    return CandlesState(tuple(candles[-MAX_CANDLES:]), recv_ms)


@dataclass(frozen=True, slots=True)
class TapeEntry:
    trade: Trade
    tick: int  # +1 above the previous trade's price, -1 below, 0 the same


@dataclass(frozen=True, slots=True)
class TapeState:
    entries: tuple[TapeEntry, ...] = ()  # oldest first
    updated: int = 0  # when the newest trade arrived, local ms


def reduce_trades(state: TapeState, records: list, recv_ms: int) -> TapeState:
    trades = [r for r in records if isinstance(r, Trade)]
    if not trades:
        return state
    entries = list(state.entries)
    previous = entries[-1].trade.price if entries else None
    for trade in trades:
        tick = 0 if previous is None else (trade.price > previous) - (trade.price < previous)
        entries.append(TapeEntry(trade, tick))
        previous = trade.price
    # Keep the tape's rows, and every trade the stats window may still need.
    oldest_needed = entries[-1].trade.ts - WINDOW_MS
    keep = len(entries) - TAPE_KEEP
    while keep > 0 and entries[0].trade.ts < oldest_needed:
        entries.pop(0)
        keep -= 1
    return TapeState(tuple(entries), recv_ms)


@dataclass(frozen=True, slots=True)
class TapeStats:
    last: Trade | None
    last_tick: int
    buy_volume: Decimal
    sell_volume: Decimal
    trades: int  # inside the window
    per_minute: Decimal
    vwap: Decimal | None


def tape_stats(state: TapeState, now_ms: int, window_ms: int = WINDOW_MS) -> TapeStats:
    """Rolling figures over the last `window_ms`. The window is placed on the exchange's
    clock: the newest trade's time plus the local time elapsed since it arrived, so a
    skewed exchange clock shifts nothing."""
    if not state.entries:
        return TapeStats(None, 0, Decimal(0), Decimal(0), 0, Decimal(0), None)
    newest = state.entries[-1]
    start = newest.trade.ts + max(now_ms - state.updated, 0) - window_ms
    buy = sell = notional = Decimal(0)
    count = places = 0
    for entry in reversed(state.entries):
        trade = entry.trade
        if trade.ts <= start:
            break
        count += 1
        notional += trade.price * trade.qty
        places = max(places, decimals(trade.price))
        if trade.side == "buy":
            buy += trade.qty
        else:
            sell += trade.qty
    volume = buy + sell
    vwap = quantize_like(notional / volume, places) if volume else None
    per_minute = quantize_like(Decimal(count) * 60_000 / window_ms, 1)
    return TapeStats(newest.trade, newest.tick, buy, sell, count, per_minute, vwap)


def levels_with_totals(levels: tuple[Level, ...]) -> list[tuple[Decimal, Decimal, Decimal]]:
    """(price, quantity, cumulative quantity from the best level outwards)."""
    total = Decimal(0)
    rows = []
    for price, qty in levels:
        total += qty
        rows.append((price, qty, total))
    return rows
