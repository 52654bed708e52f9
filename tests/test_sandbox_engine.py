"""The sandbox's order book: price-time priority, partial fills, market orders, cancels."""
from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coinsuper_cli.sandbox.engine import BUY, SELL, Order, OrderBook

D = Decimal


def order(order_id: int, side: str, qty: str, price: str | None, owner: str = "x",
          t: int = 0) -> Order:
    return Order(order_id, owner, side, D(qty), None if price is None else D(price), t)


def book_with(*orders: Order) -> OrderBook:
    book = OrderBook("BTC_USD")
    for o in orders:
        assert book.submit(o, o.created_ms) == []
    return book


def test_earlier_order_at_same_price_fills_first():
    book = book_with(order(1, SELL, "1", "100.00", "early", 1),
                     order(2, SELL, "1", "100.00", "late", 2))
    fills = book.submit(order(3, BUY, "1.5", "100.00"), 3)
    assert [(f.maker_order_id, f.quantity) for f in fills] == [(1, D("1")), (2, D("0.5"))]
    assert book.queue(SELL, D("100.00")) == [2]
    assert book.get(2).remaining == D("0.5")


def test_better_price_fills_before_earlier_worse_price():
    book = book_with(order(1, BUY, "1", "99.00", t=1), order(2, BUY, "1", "99.50", t=2))
    fills = book.submit(order(3, SELL, "1", "98.00"), 3)
    assert [(f.maker_order_id, f.price) for f in fills] == [(2, D("99.50"))]


def test_partial_fill_leaves_the_rest_resting_at_its_place():
    book = book_with(order(1, SELL, "2.5000", "100.00"))
    fills = book.submit(order(2, BUY, "0.7500", "100.00"), 5)
    assert len(fills) == 1
    f = fills[0]
    assert (f.price, f.quantity, f.taker_side, f.timestamp_ms) == (D("100.00"), D("0.75"), BUY, 5)
    assert (f.maker_remaining, f.taker_remaining) == (D("1.75"), D(0))
    assert list(book.levels(SELL)) == [(D("100.00"), D("1.75"))]
    assert book.get(2) is None  # a filled taker does not rest


def test_limit_taker_remainder_rests_at_its_limit():
    book = book_with(order(1, SELL, "1", "100.00"))
    taker = order(2, BUY, "3", "101.00")
    fills = book.submit(taker, 1)
    assert [f.price for f in fills] == [D("100.00")]  # the maker's price, not the limit
    assert book.best(BUY) == D("101.00") and book.best(SELL) is None
    assert list(book.levels(BUY)) == [(D("101.00"), D("2"))]


def test_market_order_walks_several_levels_and_never_rests():
    book = book_with(order(1, SELL, "1", "100.00"), order(2, SELL, "2", "101.00"),
                     order(3, SELL, "3", "102.00"), order(4, BUY, "1", "99.00"))
    assert book.cost_to_take(BUY, D("4")) == (D("4"), D("100") + D("202") + D("102"))
    fills = book.submit(order(5, BUY, "4", None), 7)
    assert [(f.price, f.quantity) for f in fills] == [
        (D("100.00"), D("1")), (D("101.00"), D("2")), (D("102.00"), D("1"))]
    assert book.best(SELL) == D("102.00")
    big = order(6, BUY, "10", None)
    fills = book.submit(big, 8)
    assert sum(f.quantity for f in fills) == D("2") and big.remaining == D("8")
    assert book.best(SELL) is None and book.get(6) is None
    assert book.best(BUY) == D("99.00")  # the market order's remainder is dropped


def test_cancel_removes_the_rest_of_a_partly_filled_order():
    book = book_with(order(1, SELL, "2", "100.00"), order(2, SELL, "1", "100.00"))
    book.submit(order(3, BUY, "0.5", "100.00"), 1)
    cancelled = book.maybe_cancel(1)
    assert cancelled is not None and cancelled.remaining == D("1.5")
    assert book.maybe_cancel(1) is None
    assert list(book.levels(SELL)) == [(D("100.00"), D("1"))]
    fills = book.submit(order(4, BUY, "5", "100.00"), 2)
    assert [f.maker_order_id for f in fills] == [2]
    assert book.maybe_cancel(2) is None  # filled orders are gone too
    book.maybe_cancel(4)
    assert book.best(BUY) is None and book.order_count() == 0


def test_bad_orders_are_refused():
    with pytest.raises(ValueError):
        order(1, "HOLD", "1", "1")
    with pytest.raises(ValueError):
        order(1, BUY, "0", "1")
    with pytest.raises(ValueError):
        order(1, BUY, "1", "-1")
    book = book_with(order(1, BUY, "1", "1"))
    with pytest.raises(ValueError):
        book.submit(order(1, BUY, "1", "1"), 0)


# -- properties over random order flow -------------------------------------------------
actions = st.lists(st.tuples(
    st.sampled_from(["limit", "limit", "limit", "market", "cancel"]),
    st.sampled_from([BUY, SELL]),
    st.integers(min_value=1, max_value=500),    # quantity in 0.01
    st.integers(min_value=95, max_value=105),   # price in whole units
    st.integers(min_value=0, max_value=60),     # which earlier order to cancel
), max_size=80)


@settings(max_examples=200, deadline=None)
@given(actions)
def test_random_flow_keeps_the_book_consistent(flow):
    book = OrderBook("X_USD")
    submitted: dict[int, Order] = {}
    filled: dict[int, Decimal] = {}
    cancelled: dict[int, Decimal] = {}
    for n, (kind, side, qty, price, victim) in enumerate(flow):
        if kind == "cancel":
            gone = book.maybe_cancel(victim)
            if gone is not None:
                cancelled[victim] = gone.remaining
            continue
        o = order(n, side, str(D(qty) / 100), None if kind == "market" else str(price), t=n)
        submitted[n] = o
        limit = o.price
        for f in book.submit(o, n):
            maker = submitted[f.maker_order_id]
            assert f.taker_order_id == n and maker.side != side
            assert f.price == maker.price  # trades happen at the resting price
            if limit is not None:
                assert f.price <= limit if side == BUY else f.price >= limit
            for oid in (f.maker_order_id, f.taker_order_id):
                filled[oid] = filled.get(oid, D(0)) + f.quantity
        bid, ask = book.best(BUY), book.best(SELL)
        assert bid is None or ask is None or bid < ask  # never crossed after matching
    resting = {oid for oid in submitted if book.get(oid) is not None}
    for oid, o in submitted.items():
        done = filled.get(oid, D(0)) + cancelled.get(oid, D(0))
        if oid in resting:
            assert o.remaining > 0 and done + o.remaining == o.quantity
        elif o.price is not None and oid not in cancelled:
            assert done == o.quantity  # a limit order leaves only filled or cancelled
    for side in (BUY, SELL):
        levels = list(book.levels(side))
        prices = [p for p, _ in levels]
        assert prices == sorted(prices, reverse=(side == BUY))
        for price, total in levels:
            queue = book.queue(side, price)
            assert total == sum(book.get(oid).remaining for oid in queue) > 0
            assert queue == sorted(queue)  # time priority: ids grow with time here
        assert book.order_count(side) == sum(len(book.queue(side, p)) for p in prices)
