"""Alert expressions: what parses, what is refused with one line, and firing once per
crossing with re-arming."""
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coinsuper_cli.errors import UsageError
from coinsuper_cli.markets.alerts import Alert, check_symbols, evaluate, parse_alert


@pytest.mark.parametrize("text, symbol, key, op, threshold", [
    ("BTC_USD>7000", "BTC_USD", "last", ">", "7000"),
    ("ETH_BTC<=0.03", "ETH_BTC", "last", "<=", "0.03"),
    ("BTC_USD%>5", "BTC_USD", "change_pct", ">", "5"),
    ("BTC_USD%<-2.5", "BTC_USD", "change_pct", "<", "-2.5"),
    ("BTC_USD.spread%>0.5", "BTC_USD", "spread_pct", ">", "0.5"),
    ("BTC_USD.spread>=2", "BTC_USD", "spread", ">=", "2"),
    ("btc/usd > 7000", "BTC_USD", "last", ">", "7000"),
    ("eth-btc<0.1", "ETH_BTC", "last", "<", "0.1"),
])
def test_expressions_parse(text, symbol, key, op, threshold):
    assert parse_alert(text) == Alert(text, symbol, key, op, Decimal(threshold))


@pytest.mark.parametrize("text, says", [
    ("", "is not an alert"),
    ("BTC_USD", "is not an alert"),
    ("BTC_USD=7000", "is not an alert"),
    ("BTC_USD>>7000", "is not a number"),
    ("BTC_USD>", "is not an alert"),
    (">7000", "is not an alert"),
    ("BTC_USD>seven", "'seven' is not a number"),
    ("BTC_USD>1e5", "is not a number"),
    ("BTC_USD>nan", "is not a number"),
    ("BTC_USD>-5", "is not a number of zero or more"),
    ("BTC_USD.spread%>-1", "zero or more"),
    ("BTC_USD.volume>5", "is not an alert"),
    ("BTC/USD/X>5", "malformed symbol"),
    ("#>5", "is not an alert"),
    ("BTC_USD>5\x1b]0;owned\x07", "is not an alert"),
    ("BTC_USD>" + "9" * 500, "is not an alert"),
])
def test_bad_expressions_are_usage_errors_naming_the_option(text, says):
    with pytest.raises(UsageError) as error:
        parse_alert(text)
    message = str(error.value)
    assert message.startswith("--alert: ") and says in message
    assert "\n" not in message and "\x1b" not in message and len(message) < 400


@given(st.text(max_size=60))
def test_any_text_parses_or_is_a_usage_error(text):
    try:
        alert = parse_alert(text)
    except UsageError:
        return
    assert alert.threshold.is_finite()


def test_an_alert_on_a_market_off_the_board_is_refused():
    alerts = (parse_alert("BTC_USD>1"), parse_alert("XRP_BTC<1"))
    check_symbols(alerts[:1], ("BTC_USD", "ETH_USD"))
    with pytest.raises(UsageError, match="XRP_BTC, which is not on the board"):
        check_symbols(alerts, ("BTC_USD", "ETH_USD"))


def test_an_alert_fires_once_per_crossing_and_rearms_when_false():
    alerts = (parse_alert("BTC_USD>7000"),)
    armed = frozenset({0})
    seen = []
    for price in ("6990", "7001", "7005", "6999", "7000", "7002", "7003"):
        fired, armed = evaluate(alerts, armed, {"last": Decimal(price)}, "BTC_USD")
        seen += [str(f.value) for f in fired]
    assert seen == ["7001", "7002"]


def test_a_condition_true_at_the_start_fires_at_once_and_unknown_values_wait():
    alerts = (parse_alert("BTC_USD.spread%>0.5"), parse_alert("BTC_USD>0"))
    fired, armed = evaluate(alerts, frozenset({0, 1}),
                            {"last": Decimal(1), "spread_pct": None}, "BTC_USD")
    assert [f.alert.rule for f in fired] == ["BTC_USD>0"] and armed == {0}
    fired, _ = evaluate(alerts, armed, {"last": Decimal(1)}, "ETH_USD")
    assert fired == []  # another market's push leaves them alone
