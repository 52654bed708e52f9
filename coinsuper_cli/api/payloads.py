# Payload bytes -> typed records, for each channel of spec/coinsuper-api.md. Each payload
# is parsed once, without binary floats (asset balances carry 30 decimals). Unknown fields
# are ignored; anything missing or malformed raises PayloadError naming the field. Depth
# and book levels stay text (records.Levels). The payloads the exchange sends, every
# number a string, are read by msgspec into typed structs (no dict per level); anything
# else takes the json path, which reads any JSON and names the problem.
from __future__ import annotations

import json
import re
from collections.abc import Callable
from decimal import Decimal
from itertools import chain
from operator import itemgetter
from typing import Any

import msgspec

from ..errors import PayloadError
from .exchange import interval_name, topic_symbol
from .records import Asset, Book, Depth, Fill, Kline, Levels, Order, Trade

# Plain decimal notation only: format(Decimal(text), "f") then gives the text back.
_DECIMAL_TEXT = re.compile(r"-?[0-9]+(\.[0-9]+)?")
is_decimal_text = _DECIMAL_TEXT.fullmatch
# A plain decimal that decimal_text(Decimal(text)) gives back unchanged: no leading zero
# ("007.5" would come back as "7.5"). No possessive quantifiers: `re` has them only from
# Python 3.11. None is needed: every number is followed by a character no number holds
# (`"`, `\n`), so a failed match gives back at most a few digits at each element and
# the work stays linear in the text.
_EXACT = r"-?(?!0[0-9])[0-9]+(?:\.[0-9]+)?"
_EXACT_LINES = re.compile(rf"(?:{_EXACT}\n)*")
SIDES = {"BUY": "buy", "SELL": "sell"}
_ROLES = {"MAKER": "maker", "TAKER": "taker"}


# json.loads(payload, parse_float=Decimal), without building a decoder for every payload.
_decode = json.JSONDecoder(parse_float=Decimal).decode


def load_json(payload: bytes):
    try:
        return _decode(payload.decode(json.detect_encoding(payload), "surrogatepass"))
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


def decimal_text(value: Decimal) -> str:
    """The decimal's digits in plain notation: never "1E-7", never a float. str() is
    plain for all but the tiniest values and nearly three times as fast as format()."""
    text = str(value)
    return format(value, "f") if "E" in text else text


def _levels(obj, key: str, price_key: str) -> Levels:
    points = _list(obj, key)
    try:
        # 100 or 30 a push, all plain strings, checked by one regex over all of them and
        # kept as text.
        text = tuple(map(itemgetter(price_key, "quantity"), points))
        lines = "\n".join(chain.from_iterable(text)) + "\n"  # TypeError unless all str
    except (TypeError, KeyError):
        pass  # not an object, a field missing or not a string: the slow path says which
    else:
        # One line per number, so no string held a newline: each line is one number.
        if lines.count("\n") == 2 * len(text) and _EXACT_LINES.fullmatch(lines):
            return Levels(text)
    # JSON numbers, leading zeros, or a problem to name: one Decimal at a time.
    decimals = tuple([(_decimal(p, price_key), _decimal(p, "quantity")) for p in points])
    return Levels(tuple([(decimal_text(price), decimal_text(quantity))
                         for price, quantity in decimals]), decimals)


# The depth and book payloads as the exchange writes them, every number a string, for
# msgspec to read. Every field is named (forbid_unknown_fields), so that nothing is
# skipped unread: json, which the others take, would refuse what nests too deeply.
# gc=False: a point holds only strings, so no cycle can pass through it, and the cyclic
# collector need not track the hundred points of every push.


class _DepthPoint(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    price: str
    quantity: str
    stepValue: str | None = None  # not read


class _DepthPush(msgspec.Struct, forbid_unknown_fields=True):
    symbol: str
    asksMinPrice: str
    bidsMaxPrice: str
    depthPercent: str
    asks: list[_DepthPoint]
    bids: list[_DepthPoint]


class _BookPoint(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    limitPrice: str
    quantity: str
    amount: str | None = None  # deprecated, not read


class _BookPush(msgspec.Struct, forbid_unknown_fields=True):
    symbol: str
    timestamp: int
    step: str
    asks: list[_BookPoint]
    bids: list[_BookPoint]
    limitSize: int | None = None  # not read


def maybe_typed(decode: Callable[[bytes], Any], payload: bytes) -> Any | None:
    """A payload read by msgspec into one of the typed structs here, or None: the json
    path then reads it (a number where a string was expected, a field more, another
    encoding) or names what is wrong with it. Whatever msgspec reads into these, json
    reads alike: both take the last of repeated keys and refuse what JSON refuses, and
    msgspec refuses more (NaN, lone surrogates, UTF-16)."""
    try:
        return decode(payload)
    except (msgspec.DecodeError, RecursionError):  # ValidationError is a DecodeError;
        return None  # a msgspec.Raw is read to its end, however deeply it nests


_read_depth = msgspec.json.Decoder(_DepthPush).decode
_read_book = msgspec.json.Decoder(_BookPush).decode
_encode = msgspec.json.Encoder().encode
# strict=False: a string is read as a float when its text is a JSON number, or nan, inf
# or a few such words.
_numbers_of_strings = msgspec.json.Decoder(list[tuple[float, float]], strict=False).decode


def maybe_exact_levels(pairs: list[tuple[str, str]]) -> Levels | None:
    """Levels of these (price, quantity) strings, with their JSON, when every number is
    plain decimal text (_EXACT, which decimal_text gives back unchanged); else None.

    msgspec writes the pairs as `[["p","q"],...]` (what levels_json writes) and reads
    that back with each string as a float, which it does only for a string whose text
    is a JSON number (or a word such as nan). With no letter in the text, none has an
    exponent, and a JSON number without one is exactly _EXACT: an optional minus, no
    leading zero, digits on both sides of a point. In C, and about twice as fast as
    one regex over the numbers; a tests/ property test holds it against that regex."""
    text = _encode(pairs)
    if text.translate(None, b'0123456789.-,[]"'):
        return None  # a letter, an escape, a space
    try:
        _numbers_of_strings(text)
    except msgspec.DecodeError:
        return None
    return Levels(tuple(pairs), json=text.decode("ascii"))


def parse_depth(data) -> Depth:
    symbol, best_ask, best_bid, percent = (
        _symbol(data), _decimal(data, "asksMinPrice"), _decimal(data, "bidsMaxPrice"),
        _decimal(data, "depthPercent"))
    asks, bids = _levels(data, "asks", "price"), _levels(data, "bids", "price")
    return Depth(symbol, best_ask, best_bid, percent, asks, bids)


def parse_book(data) -> Book:
    symbol, ts, step = _symbol(data), _millis(data, "timestamp"), _decimal(data, "step")
    asks, bids = _levels(data, "asks", "limitPrice"), _levels(data, "bids", "limitPrice")
    return Book(symbol, ts, step, asks, bids)


def depth_records(payload: bytes) -> list[Depth]:
    """A depth payload's record, as parse_depth(load_json(payload)) reads it."""
    push = maybe_typed(_read_depth, payload)
    if push is not None:
        numbers = (push.asksMinPrice, push.bidsMaxPrice, push.depthPercent)
        asks = maybe_exact_levels([(p.price, p.quantity) for p in push.asks])
        bids = maybe_exact_levels([(p.price, p.quantity) for p in push.bids])
        if asks is not None and bids is not None and all(map(is_decimal_text, numbers)):
            return [Depth(topic_symbol(push.symbol), *map(Decimal, numbers), asks, bids)]
    return [parse_depth(load_json(payload))]


def book_records(payload: bytes) -> list[Book]:
    """An order book payload's record, as parse_book(load_json(payload)) reads it."""
    push = maybe_typed(_read_book, payload)
    if push is not None:
        asks = maybe_exact_levels([(p.limitPrice, p.quantity) for p in push.asks])
        bids = maybe_exact_levels([(p.limitPrice, p.quantity) for p in push.bids])
        if asks is not None and bids is not None and is_decimal_text(push.step):
            return [Book(topic_symbol(push.symbol), push.timestamp, Decimal(push.step),
                         asks, bids)]
    return [parse_book(load_json(payload))]


def parse_kline(data, range_ms: int) -> Kline:
    return Kline(
        _symbol(data), interval_name(range_ms), _millis(data, "timestamp"),
        _decimal(data, "first"), _decimal(data, "max"), _decimal(data, "min"),
        _decimal(data, "last"), _decimal(data, "quantity"),
    )


def trade_record(item) -> Trade:
    return Trade(_symbol(item), _millis(item, "timestamp"), _decimal(item, "price"),
                 _decimal(item, "quantity"), _choice(item, "action", SIDES))


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
        _symbol(data), _text(data, "orderNo"), _choice(data, "action", SIDES),
        _text(data, "state"), _decimal(data, "priceLimit"), _decimal(data, "quantity"),
        _decimal(data, "quantityRemaining"), _decimal(data, "priceAverage"),
        _decimal(data, "amount"), _decimal(data, "amountRemaining"), _decimal(data, "fee"),
        _millis(data, "utcCreate"), _millis(data, "utcUpdate"),
    )


def parse_fill(data) -> Fill:
    return Fill(
        _symbol(data), _text(data, "dealNo"), _text(data, "orderNo"),
        _text(data, "orderType"), _choice(data, "matchType", _ROLES),
        _choice(data, "action", SIDES), _decimal(data, "price"),
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
