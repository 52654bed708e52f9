# Payload bytes -> typed records, for each channel of spec/coinsuper-api.md. Each payload
# is parsed once, without binary floats (asset balances carry 30 decimals). Unknown fields
# are ignored; anything missing or malformed raises PayloadError naming the field.
from __future__ import annotations

import json
import re
from decimal import Decimal

from .errors import PayloadError
from .exchange import interval_name, topic_symbol
from .records import Asset, Book, Depth, Fill, Kline, Level, Order, Trade

# Plain decimal notation only: format(Decimal(text), "f") then gives the text back.
_DECIMAL_TEXT = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_SIDES = {"BUY": "buy", "SELL": "sell"}
_ROLES = {"MAKER": "maker", "TAKER": "taker"}


def load_json(payload: bytes):
    try:
        return json.loads(payload, parse_float=Decimal)
    except RecursionError:
        raise PayloadError("payload is nested too deeply") from None
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError
        raise PayloadError(f"payload is not JSON ({error})") from None


def _get(obj, key: str):
    if not isinstance(obj, dict):
        raise PayloadError(f"expected an object holding {key!r}, got {type(obj).__name__}")
    try:
        return obj[key]
    except KeyError:
        raise PayloadError(f"missing field {key!r}") from None


def _decimal(obj, key: str) -> Decimal:
    value = _get(obj, key)
    if type(value) is str:
        if _DECIMAL_TEXT.fullmatch(value):
            return Decimal(value)
    elif type(value) is Decimal:  # a JSON number with a fraction, parsed exactly
        if value.is_finite():
            return value
    elif type(value) is int:
        return Decimal(value)
    raise PayloadError(f"field {key!r} is not a decimal number: {value!r:.40}")


def _millis(obj, key: str) -> int:
    value = _get(obj, key)
    if type(value) is int:
        return value
    if type(value) is str and value.isdigit():  # utcDeal comes as a string
        return int(value)
    raise PayloadError(f"field {key!r} is not a time in milliseconds: {value!r:.40}")


def _text(obj, key: str) -> str:
    value = _get(obj, key)
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return str(value)
    raise PayloadError(f"field {key!r} is not text: {value!r:.40}")


def _choice(obj, key: str, words: dict[str, str]) -> str:
    value = _get(obj, key)
    try:
        return words[value]
    except (KeyError, TypeError):
        raise PayloadError(f"field {key!r} is {value!r:.40}, not one of "
                           f"{', '.join(words)}") from None


def _symbol(obj) -> str:
    return topic_symbol(_text(obj, "symbol"))


def _list(obj, key: str) -> list:
    value = _get(obj, key)
    if not isinstance(value, list):
        raise PayloadError(f"field {key!r} is not a list")
    return value


def _levels(obj, key: str, price_key: str) -> tuple[Level, ...]:
    points = _list(obj, key)
    decimal_text = _DECIMAL_TEXT.fullmatch
    levels = []
    try:
        # The hot path of depth and book: 100 or 30 points a push, all plain strings.
        for point in points:
            price, quantity = point[price_key], point["quantity"]
            if (type(price) is str and type(quantity) is str and decimal_text(price)
                    and decimal_text(quantity)):
                levels.append((Decimal(price), Decimal(quantity)))
            else:
                levels.append((_decimal(point, price_key), _decimal(point, "quantity")))
    except (TypeError, KeyError, IndexError):
        # Not an object, or a field missing: the slow path names the problem.
        return tuple((_decimal(p, price_key), _decimal(p, "quantity")) for p in points)
    return tuple(levels)


def parse_depth(data) -> Depth:
    return Depth(
        _symbol(data), _decimal(data, "asksMinPrice"), _decimal(data, "bidsMaxPrice"),
        _decimal(data, "depthPercent"), _levels(data, "asks", "price"),
        _levels(data, "bids", "price"),
    )


def parse_book(data) -> Book:
    return Book(
        _symbol(data), _millis(data, "timestamp"), _decimal(data, "step"),
        _levels(data, "asks", "limitPrice"), _levels(data, "bids", "limitPrice"),
    )


def parse_kline(data, range_ms: int) -> Kline:
    return Kline(
        _symbol(data), interval_name(range_ms), _millis(data, "timestamp"),
        _decimal(data, "first"), _decimal(data, "max"), _decimal(data, "min"),
        _decimal(data, "last"), _decimal(data, "quantity"),
    )


def trade_record(item) -> Trade:
    return Trade(_symbol(item), _millis(item, "timestamp"), _decimal(item, "price"),
                 _decimal(item, "quantity"), _choice(item, "action", _SIDES))


def trade_list(data) -> list:
    if not isinstance(data, list):
        raise PayloadError("trades payload is not a list")
    return data[::-1]  # the exchange sends newest first


def parse_trades(data) -> list[Trade]:
    """The pushed trades, oldest first."""
    return [trade_record(item) for item in trade_list(data)]


def parse_assets(data) -> list[Asset]:
    ts = _millis(data, "timestamp")
    return [
        Asset(ts, _text(a, "currency"), _decimal(a, "total"), _decimal(a, "available"),
              _millis(a, "utcUpdate"))
        for a in _list(data, "asset")
    ]


def parse_order(data) -> Order:
    return Order(
        _symbol(data), _text(data, "orderNo"), _choice(data, "action", _SIDES),
        _text(data, "state"), _decimal(data, "priceLimit"), _decimal(data, "quantity"),
        _decimal(data, "quantityRemaining"), _decimal(data, "priceAverage"),
        _decimal(data, "amount"), _decimal(data, "amountRemaining"), _decimal(data, "fee"),
        _millis(data, "utcCreate"), _millis(data, "utcUpdate"),
    )


def parse_fill(data) -> Fill:
    return Fill(
        _symbol(data), _text(data, "dealNo"), _text(data, "orderNo"),
        _text(data, "orderType"), _choice(data, "matchType", _ROLES),
        _choice(data, "action", _SIDES), _decimal(data, "price"),
        _decimal(data, "quantity"), _millis(data, "utcDeal"),
    )


class RecentKeys:
    """A bounded set: remembers the latest `capacity` keys, forgets the oldest."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._keys: dict = {}
        self._capacity = capacity

    def add(self, key) -> bool:
        """Remember `key`; False if it was already there."""
        if key in self._keys:
            return False
        self._keys[key] = None
        if len(self._keys) > self._capacity:
            del self._keys[next(iter(self._keys))]
        return True

    def __len__(self) -> int:
        return len(self._keys)
