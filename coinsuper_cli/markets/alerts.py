# Price alerts: `--alert EXPR` and the config file's [[alerts]]. An expression names a
# market, what of it to watch and a threshold; an alert fires once when its condition
# becomes true and re-arms when it becomes false, so a price that hovers above the line
# says so once, not at every push.
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from ..api.exchange import InvalidArgument, normalise_symbol
from ..errors import UsageError

# What an expression can watch: its suffix, the ticker's key, and whether a negative
# threshold can make sense (a day change can be negative; a price or a spread cannot).
METRICS = {
    "": ("last", False),
    "%": ("change_pct", True),
    ".spread": ("spread", False),
    ".spread%": ("spread_pct", False),
}
_OPERATORS = {
    ">": Decimal.__gt__, ">=": Decimal.__ge__, "<": Decimal.__lt__, "<=": Decimal.__le__,
}
_EXPRESSION = re.compile(
    r"(?P<symbol>[A-Za-z0-9_/-]+?)(?P<metric>\.spread%|\.spread|%)?"
    r"\s*(?P<op>[<>]=?)\s*(?P<value>\S+)")
_NUMBER = re.compile(r"-?[0-9]{1,20}(\.[0-9]{1,20})?")
MAX_LENGTH = 200  # no sensible expression is longer; a longer one is not echoed whole


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert rule.

    Args:
        rule: the expression as the user gave it (an alert record's `rule`).
        symbol: the market, in topic form.
        key: the ticker key it watches: last, change_pct, spread or spread_pct.
        op: one of > >= < <=.
        threshold: the number it is compared with.
    """

    rule: str
    symbol: str
    key: str
    op: str
    threshold: Decimal

    def holds(self, value: Decimal) -> bool:
        return _OPERATORS[self.op](value, self.threshold)


def parse_alert(text: str, *, option: str = "--alert") -> Alert:
    """An Alert from `BTC_USD>7000`, `ETH_BTC<=0.03`, `BTC_USD%>5` (day change, percent),
    `BTC_USD.spread>2` or `BTC_USD.spread%>0.5` (spread, percent of the mid price).
    UsageError, naming what is wrong, for anything else."""
    shown = text if len(text) <= MAX_LENGTH else text[:MAX_LENGTH] + "..."
    usage = (f"{option}: {shown!r} is not an alert: use SYMBOL>PRICE, SYMBOL<=PRICE, "
             f"SYMBOL%>PERCENT (day change) or SYMBOL.spread%>PERCENT")
    if not isinstance(text, str) or len(text) > MAX_LENGTH or not text.isprintable():
        raise UsageError(usage)
    match = _EXPRESSION.fullmatch(text.strip())
    if match is None:
        raise UsageError(usage)
    try:
        symbol = normalise_symbol(match["symbol"])
    except InvalidArgument as error:
        raise UsageError(f"{option}: {shown!r}: {error}") from None
    key, signed = METRICS[match["metric"] or ""]
    value = match["value"]
    if not _NUMBER.fullmatch(value) or (value.startswith("-") and not signed):
        what = "a number" if signed else "a number of zero or more"
        raise UsageError(f"{option}: {shown!r}: {value!r} is not {what}")
    return Alert(text, symbol, key, match["op"], Decimal(value))


def check_symbols(alerts: tuple[Alert, ...], symbols: tuple[str, ...], *,
                  option: str = "--alert") -> None:
    """An alert on a market the board does not watch would never fire: refuse it."""
    for alert in alerts:
        if alert.symbol not in symbols:
            raise UsageError(f"{option}: {alert.rule!r} watches {alert.symbol}, which is "
                             f"not on the board ({', '.join(symbols)})")


@dataclass(frozen=True, slots=True)
class Fired:
    """An alert whose condition just became true, with the value that crossed."""

    alert: Alert
    value: Decimal


def evaluate(alerts: tuple[Alert, ...], armed: frozenset[int], values: dict[str, object],
             symbol: str) -> tuple[list[Fired], frozenset[int]]:
    """The alerts on `symbol` that fire now, given the market's current ticker values
    (`values`: key -> Decimal, or None while unknown), and which alerts stay armed.
    `armed` holds the indexes of alerts that can fire: all of them at the start, so a
    condition already true when the board starts fires at once. A value still unknown
    changes nothing."""
    fired, still = [], set(armed)
    for index, alert in enumerate(alerts):
        if alert.symbol != symbol:
            continue
        value = values.get(alert.key)
        if value is None:
            continue
        if alert.holds(value):
            if index in still:
                fired.append(Fired(alert, value))
                still.discard(index)
        else:
            still.add(index)
    return fired, frozenset(still)
