"""The sandbox's ledger: reservations, exact settlement with fees, conservation."""
from __future__ import annotations

import re
from decimal import Decimal

import pytest

from coinsuper_cli.api.exchange import validate_email
from coinsuper_cli.sandbox.account import (FEE_ACCOUNT, InsufficientFunds, Ledger,
                                           demo_account)
from coinsuper_cli.sandbox.engine import BUY, SELL, Order, OrderBook
from coinsuper_cli.sandbox.market import SimulatedExchange

D = Decimal


def funded() -> Ledger:
    ledger = Ledger()
    for owner in ("alice", "bob"):
        ledger.deposit(owner, "USD", D("10000"))
        ledger.deposit(owner, "BTC", D("1"))
    return ledger


def test_demo_account_is_derived_from_the_seed():
    a, b, c = demo_account(7), demo_account(7), demo_account(8)
    assert a == b and a != c
    assert a.email == "demo-7@sandbox.coinsuper.local" and validate_email(a.email)
    for key in (a.access_key, a.secret_key):
        assert re.fullmatch(r"[0-9a-f]{32}", key)
    assert a.access_key != a.secret_key
    assert re.fullmatch(r"16\d{17}", a.user_no)


def test_hold_and_release_move_funds_between_available_and_locked():
    ledger = funded()
    ledger.hold(1, "alice", "USD", D("1234.56"), limit=D("6172.80"))
    bal = ledger.balance("alice", "USD")
    assert (bal.total, bal.available, bal.locked) == (D("10000"), D("8765.44"), D("1234.56"))
    assert ledger.release(1) == D("1234.56")
    assert ledger.balance("alice", "USD").available == D("10000")
    assert ledger.release(1) == 0


def test_insufficient_funds_changes_nothing():
    ledger = funded()
    with pytest.raises(InsufficientFunds):
        ledger.hold(1, "alice", "BTC", D("1.0001"))
    assert ledger.balance("alice", "BTC").available == D("1")
    assert ledger.held(1) == 0


def test_fill_settles_price_times_quantity_and_fees_exactly():
    ledger, book = funded(), OrderBook("BTC_USD")
    maker = Order(1, "alice", SELL, D("0.1234"), D("6600.01"), 0)
    ledger.hold(1, "alice", "BTC", D("0.1234"))
    assert book.submit(maker, 0) == []
    taker = Order(2, "bob", BUY, D("0.2000"), D("6601.00"), 1)
    ledger.hold(2, "bob", "USD", D("6601.00") * D("0.2000"), limit=D("6601.00"))
    [fill] = book.submit(taker, 1)
    settled = ledger.settle(fill, "BTC", "USD")
    notional = D("814.441234")                 # 6600.01 x 0.1234, exactly
    buyer_fee = D("0.0001234")                 # 0.1% taker fee, in BTC (what bob receives)
    seller_fee = D("0.407220617")              # 0.05% maker fee, in USD (what alice gets)
    assert (settled.buyer, settled.seller) == ("bob", "alice")
    assert (settled.buyer_fee, settled.seller_fee) == (buyer_fee, seller_fee)
    assert ledger.balance("bob", "USD").total == D("10000") - notional
    # bob still reserves limit x remaining for the resting rest of his order
    assert ledger.held(2) == D("6601.00") * D("0.0766")
    assert ledger.balance("bob", "USD").locked == ledger.held(2)
    assert ledger.balance("bob", "BTC").total == D("1.1234") - buyer_fee
    assert ledger.balance("alice", "BTC").total == D("0.8766")
    assert ledger.balance("alice", "BTC").locked == 0 == ledger.held(1)
    assert ledger.balance("alice", "USD").total == D("10000") + notional - seller_fee
    assert ledger.balance(FEE_ACCOUNT, "BTC").total == buyer_fee
    assert ledger.balance(FEE_ACCOUNT, "USD").total == seller_fee
    for currency in ("USD", "BTC"):
        assert ledger.supply(currency) == ledger.deposited(currency) == D("20000") / (
            10000 if currency == "BTC" else 1)
    ledger.release(2)
    assert ledger.balance("bob", "USD").available == D("10000") - notional


def test_a_limit_buy_filled_below_its_limit_frees_the_difference_at_once():
    ledger, book = funded(), OrderBook("BTC_USD")
    ledger.hold(1, "alice", "BTC", D("1"))
    book.submit(Order(1, "alice", SELL, D("1"), D("5000.00"), 0), 0)
    ledger.hold(2, "bob", "USD", D("6000.00"), limit=D("6000.00"))
    [fill] = book.submit(Order(2, "bob", BUY, D("1"), D("6000.00"), 1), 1)
    ledger.settle(fill, "BTC", "USD")
    assert ledger.held(2) == 0
    bob = ledger.balance("bob", "USD")
    assert bob.total == bob.available == D("5000")


def test_every_currency_is_conserved_across_a_simulated_run():
    ex = SimulatedExchange(seed=3, start_ms=1_700_000_000_000)
    ledger = ex.ledger
    currencies = ("USD", "BTC", "ETH", "LTC", "XRP")
    before = {c: ledger.supply(c) for c in currencies}
    for step in range(1, 121):
        ex.advance(1_700_000_000_000 + step * 500)
    trades = sum(len(ex.state(s).trades) for s in ex.symbols)
    assert trades > 500
    for c in currencies:
        assert ledger.supply(c) == before[c] == ledger.deposited(c)
        assert ledger.balance(FEE_ACCOUNT, c).total > 0
        for owner in ledger.owners():
            bal = ledger.balance(owner, c)
            assert bal.available >= 0 and bal.locked >= 0
            assert bal.locked == ledger.holds_of(owner, c)  # locked is exactly the holds
