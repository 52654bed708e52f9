# What the account holds, valued in one currency (--quote) from the board's live prices:
# a market straight to the quote, its inverse, or one hop across a third currency
# (ETH -> BTC -> USD). An asset with no such path has no value, shown as such: never 0.
# Exact Decimal; only an inverse price is a division, carried at 28 digits.
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from ..api.exchange import InvalidArgument, normalise_symbol
from ..errors import UsageError

ONE = Decimal(1)
MAX_DIGITS = 20  # a lot's quantity or unit cost: digits either side of the point


def _pairs(prices: Mapping[str, Decimal]) -> dict[tuple[str, str], Decimal]:
    """Every rate a market gives, both ways: (base, quote) -> price, (quote, base) -> 1/price."""
    rates = {}
    for symbol, price in prices.items():
        base, _, quote = symbol.partition("_")
        if price is not None and price > 0:
            rates[(base, quote)] = price
            rates.setdefault((quote, base), ONE / price)
    return rates


def price_in(asset: str, quote: str, prices: Mapping[str, Decimal]) -> Decimal | None:
    """One `asset` in `quote`: 1 for the quote itself, a market's last price (or its
    inverse), or the product of two across one third currency; None when no market on
    the board links them. A direct market is preferred over a hop."""
    if asset == quote:
        return ONE
    rates = _pairs(prices)
    direct = rates.get((asset, quote))
    if direct is not None:
        return direct
    hops = [rate * rates[(middle, quote)] for (start, middle), rate in sorted(rates.items())
            if start == asset and (middle, quote) in rates]
    return hops[0] if hops else None


@dataclass(frozen=True, slots=True)
class Holding:
    """One asset's line in the holdings pane: `value` is None when no price path."""

    asset: str
    quantity: Decimal
    price: Decimal | None
    value: Decimal | None
    cost: Decimal | None = None  # lots only: what was paid, in the quote


@dataclass(frozen=True, slots=True)
class Valuation:
    """The holdings and their total in `quote`. `total` sums the valued ones; `unvalued`
    names those left out, so a total is never silently short."""

    quote: str
    holdings: tuple[Holding, ...]
    total: Decimal
    unvalued: tuple[str, ...]

    @property
    def cost(self) -> Decimal | None:
        costs = [h.cost for h in self.holdings if h.cost is not None]
        return sum(costs, Decimal(0)) if costs else None


def value_assets(totals: Mapping[str, Decimal], quote: str,
                 prices: Mapping[str, Decimal]) -> Valuation:
    """The account's assets (currency -> total) valued at `prices` (symbol -> price).
    Assets of zero are left out."""
    holdings = []
    for asset, quantity in sorted(totals.items()):
        if quantity == 0:
            continue
        price = price_in(asset, quote, prices)
        holdings.append(Holding(asset, quantity, price,
                                None if price is None else quantity * price))
    return _valuation(quote, holdings)


@dataclass(frozen=True, slots=True)
class Lot:
    """A position from the config file's [[lots]], as ticker has them."""

    symbol: str
    quantity: Decimal
    unit_cost: Decimal  # in the symbol's quote currency


def value_lots(lots: Iterable[Lot], quote: str, prices: Mapping[str, Decimal]) -> Valuation:
    """Each lot's base asset valued in `quote`, and what it cost, converted from its
    market's quote currency at today's rate."""
    holdings = []
    for lot in lots:
        base, _, lot_quote = lot.symbol.partition("_")
        price, rate = price_in(base, quote, prices), price_in(lot_quote, quote, prices)
        holdings.append(Holding(
            base, lot.quantity, price, None if price is None else lot.quantity * price,
            None if rate is None else lot.quantity * lot.unit_cost * rate))
    return _valuation(quote, holdings)


def _valuation(quote: str, holdings: list[Holding]) -> Valuation:
    valued = [h.value for h in holdings if h.value is not None]
    return Valuation(quote, tuple(holdings), sum(valued, Decimal(0)),
                     tuple(h.asset for h in holdings if h.value is None))


@dataclass(frozen=True, slots=True)
class Summary:
    """A valuation now, and how its total moved since start and since the day's open:
    None where the earlier valuation left out other assets than now's (the totals
    would not compare)."""

    now: Valuation
    since_start: Decimal | None
    since_open: Decimal | None


def summarize(value: Callable[[Mapping[str, Decimal]], Valuation],
              now: Mapping[str, Decimal], first: Mapping[str, Decimal],
              opens: Mapping[str, Decimal]) -> Summary:
    """`value` (value_assets or value_lots with their holdings) at the prices of now,
    of the first seen and of the day's open."""
    current = value(now)

    def change(then: Mapping[str, Decimal]) -> Decimal | None:
        earlier = value(then)
        if earlier.unvalued != current.unvalued or not current.holdings:
            return None
        return current.total - earlier.total
    return Summary(current, change(first), change(opens))


def parse_lots(items: object, *, where: str) -> tuple[Lot, ...]:
    """The config file's `lots`: a list of tables with `symbol`, `quantity` and
    `unit_cost` (numbers or decimal strings). UsageError naming the entry otherwise."""
    if not isinstance(items, list):
        raise UsageError(f"{where}: lots must be a list of tables ([[lots]])")
    lots = []
    for number, item in enumerate(items, 1):
        entry = f"{where}: entry {number}"
        if not isinstance(item, dict) or set(item) != {"symbol", "quantity", "unit_cost"}:
            raise UsageError(f"{entry} must have exactly symbol, quantity and unit_cost")
        if not isinstance(item["symbol"], str):
            raise UsageError(f"{entry}: symbol must be text, like BTC_USD")
        try:
            symbol = normalise_symbol(item["symbol"])
        except InvalidArgument as error:
            raise UsageError(f"{entry}: {error}") from None
        lots.append(Lot(symbol, _amount(item["quantity"], f"{entry}: quantity"),
                        _amount(item["unit_cost"], f"{entry}: unit_cost")))
    return tuple(lots)


def _amount(value: object, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise UsageError(f"{what} must be a number")
    try:
        # A TOML float is a binary float: its shortest repr is the number as written.
        number = Decimal(repr(value) if isinstance(value, float) else str(value))
    except ArithmeticError:
        raise UsageError(f"{what} must be a number, not {str(value)[:40]!r}") from None
    if not number.is_finite() or number < 0:
        raise UsageError(f"{what} must be a number of zero or more")
    # As alert thresholds: no holding needs more, and a value like 9e999999 would
    # overflow the valuation (decimal.Overflow, an exit 1) at the first price.
    if number and not -MAX_DIGITS <= number.adjusted() < MAX_DIGITS:
        raise UsageError(f"{what} must have at most {MAX_DIGITS} digits before the point "
                         f"and its first digit at most {MAX_DIGITS} places after it")
    return number
