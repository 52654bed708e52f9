# View state of the private channels (balances, open orders, own fills) and their pure
# reducers, in the manner of `state`: frozen states, `reduce_x(state, records, recv_ms)`.
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from ..api.records import Asset, Fill, Order

MAX_FILLS = 200
RECENTLY_CLOSED = 20  # closed orders kept to show under the open ones, dimmed

# The spec documents NEW and CANCEL; the sandbox also sends DEAL for a filled order. Any
# other state keeps the order on screen with its state word: hiding an order that is
# still open would be worse than showing a closed one.
CLOSED_STATES = {"CANCEL": "cancelled", "CANCELED": "cancelled", "CANCELLED": "cancelled",
                 "DEAL": "filled", "FILLED": "filled", "DONE": "filled"}


@dataclass(frozen=True, slots=True)
class AssetsState:
    balances: tuple[Asset, ...] = ()  # one per currency, by currency
    changed: frozenset[str] = frozenset()  # currencies of the last push
    updated: int = 0


def locked(asset: Asset) -> Decimal:
    """What open orders hold: the exchange sends total and available only."""
    return asset.total - asset.available


def reduce_assets(state: AssetsState, records: list, recv_ms: int) -> AssetsState:
    pushed = [r for r in records if isinstance(r, Asset)]
    if not pushed:
        return state
    by_currency = {a.currency: a for a in state.balances}
    for asset in pushed:
        by_currency[asset.currency] = asset
    balances = tuple(by_currency[c] for c in sorted(by_currency))
    return AssetsState(balances, frozenset(a.currency for a in pushed), recv_ms)


@dataclass(frozen=True, slots=True)
class OrdersState:
    open: tuple[Order, ...] = ()  # newest first
    closed: tuple[tuple[Order, str], ...] = ()  # (order, "filled"|"cancelled"), newest first
    filled: int = 0  # orders seen leaving, by how
    cancelled: int = 0
    changed: frozenset[str] = frozenset()  # order numbers of the last push
    updated: int = 0


def is_closed(order: Order) -> str | None:
    """"filled" or "cancelled" when the order has left the book, else None."""
    how = CLOSED_STATES.get(order.state.upper())
    if how is None and order.qty_remaining <= 0 and order.qty > 0:
        how = "filled"
    return how


def reduce_orders(state: OrdersState, records: list, recv_ms: int) -> OrdersState:
    """Orders are updated in place by order_no; filled and cancelled ones leave."""
    pushed = [r for r in records if isinstance(r, Order)]
    if not pushed:
        return state
    by_no = {o.order_no: o for o in state.open}
    closed = list(state.closed)
    filled, cancelled = state.filled, state.cancelled
    for order in pushed:
        how = is_closed(order)
        if how is None:
            by_no[order.order_no] = order
            continue
        by_no.pop(order.order_no, None)
        closed = [(order, how)] + [c for c in closed if c[0].order_no != order.order_no]
        if how == "filled":
            filled += 1
        else:
            cancelled += 1
    newest_first = sorted(by_no.values(), key=lambda o: (o.created, o.order_no), reverse=True)
    return OrdersState(tuple(newest_first), tuple(closed[:RECENTLY_CLOSED]), filled,
                       cancelled, frozenset(o.order_no for o in pushed), recv_ms)


@dataclass(frozen=True, slots=True)
class FillsState:
    fills: tuple[Fill, ...] = ()  # oldest first
    updated: int = 0


def reduce_fills(state: FillsState, records: list, recv_ms: int) -> FillsState:
    pushed = tuple(r for r in records if isinstance(r, Fill))
    if not pushed:
        return state
    return FillsState((state.fills + pushed)[-MAX_FILLS:], recv_ms)
