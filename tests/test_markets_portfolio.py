"""Holdings valued in one currency: direct, inverse and one-hop prices, the unvalued
named (never 0), lots with cost, and the config file's lots checked."""
from decimal import Decimal as D

import pytest

from coinsuper_cli.errors import UsageError
from coinsuper_cli.markets.portfolio import (Lot, parse_lots, price_in, value_assets,
                                             value_lots)

PRICES = {"BTC_USD": D("6600.50"), "ETH_BTC": D("0.0300"), "ETH_USD": None}


def test_prices_direct_inverse_and_across_one_hop():
    assert price_in("USD", "USD", PRICES) == 1
    assert price_in("BTC", "USD", PRICES) == D("6600.50")
    assert price_in("ETH", "USD", PRICES) == D("198.015000")  # 0.03 BTC at 6600.50
    assert price_in("USD", "BTC", PRICES) == 1 / D("6600.50")
    assert price_in("XRP", "USD", PRICES) is None
    assert price_in("ETH", "USD", {**PRICES, "ETH_USD": D("200")}) == D("200")  # direct first


def test_a_market_at_zero_gives_no_price_rather_than_a_division_by_zero():
    assert price_in("BTC", "USD", {"BTC_USD": D(0)}) is None


def test_the_total_sums_what_has_a_price_and_names_what_has_none():
    valuation = value_assets({"BTC": D("1.5"), "ETH": D("10"), "USD": D("100.25"),
                              "XRP": D("5"), "LTC": D("0")}, "USD", PRICES)
    assert [(h.asset, h.value) for h in valuation.holdings] == [
        ("BTC", D("9900.750")), ("ETH", D("1980.150000")), ("USD", D("100.25")),
        ("XRP", None)]
    assert valuation.total == D("9900.750") + D("1980.150000") + D("100.25")
    assert valuation.unvalued == ("XRP",) and valuation.cost is None


def test_lots_give_value_cost_and_gain_in_the_quote():
    lots = (Lot("BTC_USD", D("0.5"), D("6000")), Lot("ETH_BTC", D("2"), D("0.025")))
    valuation = value_lots(lots, "USD", PRICES)
    btc, eth = valuation.holdings
    assert (btc.value, btc.cost) == (D("3300.250"), D("3000.0"))
    assert eth.value == D("2") * D("198.015000")
    assert eth.cost == D("2") * D("0.025") * D("6600.50")  # paid in BTC, at today's rate
    assert valuation.cost == btc.cost + eth.cost


def test_config_lots_are_checked_naming_the_entry():
    lots = parse_lots([{"symbol": "btc/usd", "quantity": 0.5, "unit_cost": "6000.10"}],
                      where="config.toml: lots")
    assert lots == (Lot("BTC_USD", D("0.5"), D("6000.10")),)
    for bad, says in (
            ({"symbol": "BTC_USD", "quantity": 1}, "exactly symbol, quantity and unit_cost"),
            ({"symbol": 5, "quantity": 1, "unit_cost": 1}, "symbol must be text"),
            ({"symbol": "BTC/USD/X", "quantity": 1, "unit_cost": 1}, "malformed symbol"),
            ({"symbol": "BTC_USD", "quantity": "lots", "unit_cost": 1}, "quantity must be"),
            ({"symbol": "BTC_USD", "quantity": float("nan"), "unit_cost": 1}, "quantity"),
            ({"symbol": "BTC_USD", "quantity": 1, "unit_cost": -1}, "zero or more"),
            ({"symbol": "BTC_USD", "quantity": True, "unit_cost": 1}, "quantity"),
            ({"symbol": "BTC_USD", "quantity": "9e999999", "unit_cost": 1}, "20 digits"),
            ({"symbol": "BTC_USD", "quantity": 1, "unit_cost": 1e21}, "unit_cost must have"),
            ({"symbol": "BTC_USD", "quantity": "1e-21", "unit_cost": 1}, "20 places"),
    ):
        with pytest.raises(UsageError, match="config.toml: lots: entry 1") as error:
            parse_lots([bad], where="config.toml: lots")
        assert says in str(error.value)
    with pytest.raises(UsageError, match=r"list of tables"):
        parse_lots({"symbol": "BTC_USD"}, where="config.toml: lots")


def test_the_summary_says_the_change_since_start_and_open_only_when_comparable():
    from functools import partial

    from coinsuper_cli.markets.portfolio import summarize

    value = partial(value_assets, {"BTC": D("2"), "USD": D("10")}, "USD")
    summary = summarize(value, {"BTC_USD": D("6600")}, {"BTC_USD": D("6500")},
                        {"BTC_USD": D("6000")})
    assert summary.now.total == D("13210")
    assert (summary.since_start, summary.since_open) == (D("200"), D("1200"))
    summary = summarize(value, {"BTC_USD": D("6600")}, {}, {"BTC_USD": D("6000")})
    assert summary.since_start is None  # BTC had no first price: totals don't compare
