"""The exchange's rules: symbols, topics and sign-in values, checked against values
computed here with hashlib, independently of the code under test."""
import hashlib

import pytest

from coinsuper_cli.api import exchange
from coinsuper_cli.api.exchange import InvalidArgument


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


@pytest.mark.parametrize("text", ["BTC_USD", "btc/usd", "BTC-USD", " btc_usd "])
def test_symbols_are_normalised(text):
    assert exchange.normalise_symbol(text) == "BTC_USD"


@pytest.mark.parametrize("text", ["BTC", "BTC_USD_X", "BTC_", "_USD", "BT C_USD", "BTC_+",
                                  "#_USD", "BTC/USD/#", "", "BTC__USD", "BTC_US\x00D"])
def test_symbols_that_could_change_a_topic_are_refused(text):
    with pytest.raises(InvalidArgument):
        exchange.normalise_symbol(text)


def test_public_sign_in_with_credentials():
    full = "exchange_ha_prod_hk/api/ws/v1/market/depth/BTC_USD"
    sign_in = exchange.public_sign_in(full, access_key="AK123", email="me@example.com")
    assert sign_in.client_id == md5("AK123") + md5("me@example.com") + md5(full)
    assert len(sign_in.client_id) == 96
    assert sign_in.username == "api_subscriber"
    assert sign_in.password == "da65be18f44b33b69603c39fd03ddf49"


def test_public_sign_in_without_credentials_is_unique_per_run():
    full = "env/api/ws/v1/market/tickers/BTC_USD"
    a = exchange.public_sign_in(full)
    b = exchange.public_sign_in(full)
    assert a.client_id != b.client_id
    assert a.client_id.endswith(md5(full)) and len(a.client_id) == 96


def test_private_sign_in():
    sign_in = exchange.private_sign_in(access_key="AK", secret_key="SK",
                                       email="me@example.com", timestamp_ms=1542786802283)
    expected = md5("AK,SK,me@example.com,1542786802283")
    assert sign_in.client_id == "AK"
    assert sign_in.username == "api_private"
    assert sign_in.password == f"me@example.com,1542786802283,{expected}"
    # a fixed known value, so that a change in the formula cannot slip by
    assert expected == hashlib.md5(b"AK,SK,me@example.com,1542786802283").hexdigest()


def test_private_sign_in_uses_the_current_time(monkeypatch):
    monkeypatch.setattr(exchange.time, "time", lambda: 1700000000.123)
    sign_in = exchange.private_sign_in(access_key="A", secret_key="S", email="e@x.y")
    assert sign_in.password.split(",")[1] == "1700000000123"


@pytest.mark.parametrize("text, ms", [("1m", 60000), ("1h", 3600000), ("1w", 604800000),
                                      ("300000", 300000)])
def test_intervals(text, ms):
    assert exchange.parse_interval(text) == ms


@pytest.mark.parametrize("text", ["2m", "0", "-1", "1m/#", "", "1e5"])
def test_bad_intervals(text):
    with pytest.raises(InvalidArgument):
        exchange.parse_interval(text)


@pytest.mark.parametrize("text", ["0.01", "1.0", "0.00000001", "1"])
def test_steps_are_kept_as_typed(text):
    assert exchange.validate_step(text) == text


@pytest.mark.parametrize("text", ["0", "0.0", "-1", "0.01/#", "+", "1e-2", " 0.01", ""])
def test_bad_steps(text):
    with pytest.raises(InvalidArgument):
        exchange.validate_step(text)


@pytest.mark.parametrize("text", ["a/b@c.d", "a+b@c.d", "#@x", "no-at-sign", "a @b.c", ""])
def test_emails_that_could_change_a_topic_are_refused(text):
    with pytest.raises(InvalidArgument):
        exchange.validate_email(text)


def test_default_steps():
    assert exchange.default_step("BTC_USD") == "0.01"
    assert exchange.default_step("ETH_BTC") == "0.00000001"
