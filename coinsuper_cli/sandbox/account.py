# Money in the simulated exchange: the demo account's credentials, and one ledger of every
# participant's balances. The rule: no balance is created or destroyed after the initial
# deposits. Orders reserve funds (available -> locked), cancels release them, and a fill
# moves exactly price x quantity between the two sides, with each side's fee taken from
# what it receives and credited to the exchange's fee account.
from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Context, Decimal, Inexact, InvalidOperation, Rounded, localcontext

from .engine import BUY, Fill

FEE_ACCOUNT = "exchange-fees"
TAKER_FEE = Decimal("0.001")
MAKER_FEE = Decimal("0.0005")
_ZERO = Decimal(0)

# Every ledger operation runs in this context: it traps any rounding, so a sum that would
# silently lose a digit raises instead, and conservation holds exactly, not nearly.
# 60 digits is far more than any balance here needs (about 8 before the point, 16 after).
_EXACT = Context(prec=60, traps=[Inexact, Rounded, InvalidOperation])


@dataclass(frozen=True, slots=True)
class DemoAccount:
    """The sandbox's own user. Its keys are sandbox secrets, made to be shown."""

    email: str
    access_key: str
    secret_key: str
    user_no: str


def demo_account(seed: int) -> DemoAccount:
    """The same seed always gives the same account, so a repeated run can reuse exported
    credentials."""
    rng = random.Random(f"coinsuper-sandbox-account:{seed}")
    return DemoAccount(
        email=f"demo-{seed}@sandbox.coinsuper.local",
        access_key=f"{rng.getrandbits(128):032x}",
        secret_key=f"{rng.getrandbits(128):032x}",
        user_no=str(1_600_000_000_000_000_000 + rng.randrange(10**17)),
    )


class InsufficientFunds(ValueError):
    """An order needs more than its owner has available."""


@dataclass(frozen=True, slots=True)
class Balance:
    total: Decimal
    available: Decimal

    @property
    def locked(self) -> Decimal:
        return self.total - self.available


@dataclass(frozen=True, slots=True)
class _Hold:
    owner: str
    currency: str
    amount: Decimal
    # A limit buy reserves limit x quantity; a fill at a better price uses the limit to
    # know how much of the reservation the filled quantity frees.
    limit: Decimal | None


@dataclass(frozen=True, slots=True)
class Settlement:
    """What one fill did to its two sides: who bought and sold, and the fees."""

    buyer: str
    seller: str
    buyer_fee: Decimal   # in the base currency, which the buyer receives
    seller_fee: Decimal  # in the quote currency, which the seller receives


class Ledger:
    """Balances of every owner (the demo account, the simulated traders, the fee
    account), plus the funds each open order holds."""

    def __init__(self, *, taker_fee: Decimal = TAKER_FEE, maker_fee: Decimal = MAKER_FEE):
        self.taker_fee = taker_fee
        self.maker_fee = maker_fee
        self._balances: dict[str, dict[str, Balance]] = {}
        self._holds: dict[int, _Hold] = {}
        self._deposited: dict[str, Decimal] = {}

    # -- reading -------------------------------------------------------------------
    def balance(self, owner: str, currency: str) -> Balance:
        return self._balances.get(owner, {}).get(currency, Balance(_ZERO, _ZERO))

    def balances(self, owner: str) -> dict[str, Balance]:
        return dict(self._balances.get(owner, {}))

    def owners(self) -> list[str]:
        return list(self._balances)

    def held(self, order_id: int) -> Decimal:
        hold = self._holds.get(order_id)
        return hold.amount if hold else _ZERO

    def holds_of(self, owner: str, currency: str) -> Decimal:
        with localcontext(_EXACT):
            return sum((h.amount for h in self._holds.values()
                        if h.owner == owner and h.currency == currency), _ZERO)

    def supply(self, currency: str) -> Decimal:
        """The sum of every owner's total in one currency, fee account included."""
        with localcontext(_EXACT):
            return sum((b[currency].total for b in self._balances.values()
                        if currency in b), _ZERO)

    def deposited(self, currency: str) -> Decimal:
        """What entered the ledger by `deposit`; `supply` must always equal it."""
        return self._deposited.get(currency, _ZERO)

    # -- changing ------------------------------------------------------------------
    def deposit(self, owner: str, currency: str, amount: Decimal) -> None:
        """The only way money enters: funding an account when the simulation starts."""
        if amount < 0:
            raise ValueError("a deposit cannot be negative")
        with localcontext(_EXACT):
            self._add(owner, currency, amount, amount)
            self._deposited[currency] = self.deposited(currency) + amount

    def hold(self, order_id: int, owner: str, currency: str, amount: Decimal,
             limit: Decimal | None = None) -> None:
        """Reserve funds for an order; raises InsufficientFunds, changing nothing."""
        if order_id in self._holds:
            raise ValueError(f"order {order_id} already holds funds")
        if amount <= 0:
            raise ValueError("a hold must be positive")
        if self.balance(owner, currency).available < amount:
            raise InsufficientFunds(f"{owner} has less than {amount} {currency} available")
        with localcontext(_EXACT):
            self._add(owner, currency, _ZERO, -amount)
        self._holds[order_id] = _Hold(owner, currency, amount, limit)

    def release(self, order_id: int) -> Decimal:
        """Give what an order still holds back to its owner (cancel, or done); returns it."""
        hold = self._holds.pop(order_id, None)
        if hold is None:
            return _ZERO
        with localcontext(_EXACT):
            self._add(hold.owner, hold.currency, _ZERO, hold.amount)
        return hold.amount

    def settle(self, fill: Fill, base: str, quote: str) -> Settlement:
        """Move a fill's funds: the seller's base and the buyer's quote leave their holds,
        each side receives the other currency less its fee, the fee account gets the
        fees. The sum of every currency over all owners is unchanged."""
        with localcontext(_EXACT):
            notional = fill.price * fill.quantity
            buy_hold = self._holds[fill.buy_order_id]
            sell_hold = self._holds[fill.sell_order_id]
            # A limit buy frees limit x qty of its reservation and pays price x qty: the
            # difference goes back to available right away.
            freed = (fill.quantity * buy_hold.limit if buy_hold.limit is not None
                     else notional)
            self._spend(fill.buy_order_id, buy_hold, freed)
            self._spend(fill.sell_order_id, sell_hold, fill.quantity)
            buyer_rate, seller_rate = ((self.taker_fee, self.maker_fee)
                                       if fill.taker_side == BUY
                                       else (self.maker_fee, self.taker_fee))
            buyer_fee = fill.quantity * buyer_rate
            seller_fee = notional * seller_rate
            self._add(buy_hold.owner, quote, -notional, freed - notional)
            self._add(buy_hold.owner, base, fill.quantity - buyer_fee,
                      fill.quantity - buyer_fee)
            self._add(sell_hold.owner, base, -fill.quantity, _ZERO)
            self._add(sell_hold.owner, quote, notional - seller_fee, notional - seller_fee)
            self._add(FEE_ACCOUNT, base, buyer_fee, buyer_fee)
            self._add(FEE_ACCOUNT, quote, seller_fee, seller_fee)
        return Settlement(buy_hold.owner, sell_hold.owner, buyer_fee, seller_fee)

    def _spend(self, order_id: int, hold: _Hold, amount: Decimal) -> None:
        left = hold.amount - amount
        if left < 0:
            raise ValueError(f"order {order_id} spends {amount}, more than it holds")
        self._holds[order_id] = _Hold(hold.owner, hold.currency, left, hold.limit)

    def _add(self, owner: str, currency: str, total: Decimal, available: Decimal) -> None:
        accounts = self._balances.setdefault(owner, {})
        old = accounts.get(currency, Balance(_ZERO, _ZERO))
        new = Balance(old.total + total, old.available + available)
        if new.available < 0 or new.total < new.available:
            raise ValueError(f"{owner} {currency} would become {new}")
        accounts[currency] = new
