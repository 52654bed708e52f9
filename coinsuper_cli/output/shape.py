# What the script-facing outputs (PRODUCT.md, "Output for scripts") make of a record: each
# channel's keys in the jsonl order, the csv/tsv columns (book and depth levels one row
# each), the time keys and how --time writes them, --fields and --template checked
# against the channels of a command before it connects. Pure: the sinks in sinks.py
# write what this gives them.
from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from decimal import Decimal
from operator import attrgetter, itemgetter
from typing import get_type_hints

from ..api import channels
from ..api.payloads import decimal_text
from ..api.records import DERIVED, Levels, Record
from ..errors import UsageError
from ..printable import printable
from .times import TIME_TEXT

TIME_KEYS = frozenset({"ts", "recv", "created", "updated"})
LEVEL_KEYS = ("side", "level", "price", "quantity")  # a level's row, in place of asks/bids
_SIDES = (("asks", "ask"), ("bids", "bid"))


def record_type(channel: str) -> type:
    """The record type of a channel of the exchange, or of a derived one (ticker)."""
    return DERIVED.get(channel) or channels.get(channel).record


def keys(channel: str) -> tuple[str, ...]:
    """The jsonl keys of a channel's records, in order."""
    return ("channel", "recv") + tuple(f.name for f in fields(record_type(channel)))


def columns(channel: str) -> tuple[str, ...]:
    """The csv/tsv columns of a channel: its keys, with a level's four in place of
    `asks` and `bids` (the last two keys of book and depth)."""
    names = keys(channel)
    if names[-2:] == ("asks", "bids"):
        return names[:-2] + LEVEL_KEYS
    return names


def _union(of: Callable[[str], tuple[str, ...]], names: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(key for name in names for key in of(name)))


def check_fields(fields_: Sequence[str], channel_names: Sequence[str], *, table: bool
                 ) -> tuple[str, ...]:
    """--fields, checked against the keys the command's channels have (the csv columns
    for a `table`). A key that only some of several channels have is kept: the records
    of the others leave it out."""
    valid = _union(columns if table else keys, channel_names)
    for key in fields_:
        if key not in valid:
            raise UsageError(f"--fields: no key {key!r} in {_records(channel_names)}: use "
                             f"{', '.join(valid)}")
    if len(set(fields_)) != len(fields_):
        repeated = next(key for key in fields_ if fields_.count(key) > 1)
        raise UsageError(f"--fields: {repeated!r} is given twice")
    return tuple(fields_)


def _records(channel_names: Sequence[str]) -> str:
    return "/".join(channel_names) + " records"


# -- the text of a value ---------------------------------------------------------------

def levels_json(levels) -> str:
    """[[price, quantity], ...] as JSON, from the text of Levels: plain decimals, which
    JSON strings hold without escapes."""
    if type(levels) is Levels and levels.json is not None:
        return levels.json  # written by the parser already
    text = level_text(levels)
    if not text:
        return "[]"
    return '[["' + '"],["'.join(map('","'.join, text)) + '"]]'


def level_text(levels) -> Sequence[tuple[str, str]]:
    """The (price, quantity) strings of one side: parsed records hold Levels, which keep
    them; records built in code may hold Decimal pairs."""
    if isinstance(levels, Levels):
        return levels.text
    return [(decimal_text(price), decimal_text(quantity)) for price, quantity in levels]


# Each value's text in csv, tsv and templates: decimals with exactly their digits.
TEXT: dict[type, Callable[[object], str]] = {
    str: str,
    int: int.__repr__,
    Decimal: decimal_text,
    Levels: levels_json,
    tuple: levels_json,
}


def text_of(value) -> str:
    return TEXT[type(value)](value)


# A spreadsheet opening csv or tsv runs a cell that begins with one of these as a formula
# (OWASP, "CSV Injection"): `=HYPERLINK(...)` in an order number from a hostile broker.
# A text field (a str of the record type, never a number: the exchange's decimals are
# checked numbers, and a negative sign must stay) that begins so gets a leading `'`,
# which spreadsheets show as text. jsonl and --template keep the text as received.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_STARTS) else value


# -- csv and tsv rows ------------------------------------------------------------------

class Rows:
    """A channel's records as csv/tsv rows of text: one per record, or one per level for
    book and depth.

    Args:
        channel: the channel whose records come (csv and tsv take one).
        fields_: the columns wanted, in order (None: all of them).
        time: how time columns are written: a --time format.
        terminal: stdout is a terminal: control characters in text from the network are
            shown escaped (in a pipe csv's quoting and tsv's escapes keep them whole).

    Text fields go through spreadsheet_text; the other columns are numbers, times, the
    channel's name and the side of a level, none of which can begin a formula.
    """

    def __init__(self, channel: str, fields_: Sequence[str] | None, time: str = "ms", *,
                 terminal: bool = False) -> None:
        every = columns(channel)
        self.header = tuple(fields_ or every)
        kind = record_type(channel)
        names = keys(channel)[2:]
        self.has_levels = names[-2:] == ("asks", "bids")
        if self.has_levels:
            names = names[:-2]
        self.channel = channel
        self._time_text = TIME_TEXT[time]
        get = attrgetter(*names)
        self._values = get if len(names) > 1 else lambda record: (get(record),)
        # Each field's text, chosen once from the record type's annotations: a str field
        # is text from the network, every other type a number.
        hints = get_type_hints(kind)
        text = {**TEXT, str: ((lambda value: printable(spreadsheet_text(value)))
                              if terminal else spreadsheet_text)}
        self._texts = [self._time_text if name in TIME_KEYS else text[hints[name]]
                       for name in names]
        positions = [every.index(key) for key in self.header]
        self.whole = positions == list(range(len(every)))
        if len(positions) == 1:
            position = positions[0]
            self._select = lambda row: (row[position],)
        else:
            self._select = itemgetter(*positions)

    def base(self, record: Record, recv: int) -> list[str]:
        """The columns before a level's: a whole row, for a record without levels."""
        return self.bases([record], recv)[0]

    def bases(self, records: list[Record], recv: int) -> list[list[str]]:
        """`base` of each of a message's records, which share their first two columns."""
        head, texts, values = [self.channel, self._time_text(recv)], self._texts, self._values
        return [head + [text(value) for text, value in zip(texts, values(record))]
                for record in records]

    @staticmethod
    def sides(record: Record) -> tuple[tuple[str, Sequence[tuple[str, str]]], ...]:
        """("ask", its levels' text), ("bid", ...): plain decimals, which neither csv
        nor tsv ever needs to quote."""
        return tuple((side, level_text(getattr(record, attribute)))
                     for attribute, side in _SIDES)

    def __call__(self, record: Record, recv: int) -> list[Sequence[str]]:
        row = self.base(record, recv)
        if self.has_levels:
            rows = [row + [side, str(level), price, quantity]
                    for side, text in self.sides(record)
                    for level, (price, quantity) in enumerate(text)]
        else:
            rows = [row]
        if self.whole:
            return rows
        return [self._select(r) for r in rows]


# -- --template ------------------------------------------------------------------------

_ESCAPES = {"\\t": "\t", "\\n": "\n", "\\\\": "\\"}
_ESCAPE = re.compile(r"\\[tn\\]")


@dataclass(frozen=True, slots=True)
class _Field:
    key: str
    render: Callable[[object], str]


class Template:
    """--template: a line per record, `{key}` replaced by the record's value, `{topic}`
    by its topic; a time key takes `:ms`, `:s` or `:iso`, any other key a Python format
    spec of a string (`{price:>12}`). As mosquitto_sub -F does, `\\t` is a tab and `\\n`
    a newline. Values from the network have their control characters escaped, so each
    record stays one line.

    Args:
        text: the template as typed.
        channel_names: the channels the command streams; a key must be one of theirs
            (records of a channel without it get an empty string).
        time: the default format of a time key.
    """

    def __init__(self, text: str, channel_names: Sequence[str], time: str = "ms") -> None:
        if not text:
            raise UsageError("--template is empty: give the line to write, like "
                             "'{ts:iso} {price}'")
        valid = _union(keys, channel_names) + ("topic",)
        self._pieces: list[str | _Field] = []
        for literal, key, spec, conversion in self._parse(text):
            if literal:
                self._pieces.append(_unescape(literal))
            if key is None:
                continue
            if key == "" or key.isdigit():
                raise UsageError("--template: name a key in each {}, like {price}")
            if conversion is not None or "." in key or "[" in key:
                raise UsageError(f"--template: {{{key}!{conversion}}} is not a key: write "
                                 "{key} or {key:spec}" if conversion else
                                 f"--template: {key!r} is not a key: write {{key}}")
            if key not in valid:
                raise UsageError(f"--template: no key {key!r} in "
                                 f"{_records(channel_names)}: use {', '.join(valid)}")
            self._pieces.append(_Field(key, _renderer(key, spec, time)))

    @staticmethod
    def _parse(text: str):
        try:
            return list(string.Formatter().parse(text))
        except ValueError as error:  # a lone { or }
            raise UsageError(f"--template: {error} (write {{{{ and }}}} for braces)") \
                from None

    def __call__(self, record: Record, recv: int, topic: str) -> str:
        parts = []
        for piece in self._pieces:
            if type(piece) is str:
                parts.append(piece)
                continue
            key = piece.key
            if key == "channel":
                value = record.channel
            elif key == "recv":
                value = recv
            elif key == "topic":
                value = topic
            else:
                value = getattr(record, key, None)
                if value is None:  # a key of another of the command's channels
                    continue
            parts.append(piece.render(value))
        return "".join(parts)


def _unescape(literal: str) -> str:
    return _ESCAPE.sub(lambda match: _ESCAPES[match.group()], literal)


def _renderer(key: str, spec: str, time: str) -> Callable[[object], str]:
    if "{" in spec:
        raise UsageError(f"--template: {{{key}:{spec}}}: a format spec cannot hold {{}}")
    if key in TIME_KEYS:
        if spec and spec not in TIME_TEXT:
            raise UsageError(f"--template: {{{key}:{spec}}}: a time takes "
                             f"{', '.join(':' + name for name in TIME_TEXT)}")
        return TIME_TEXT[spec or time]
    if spec:
        if re.search(r"\d{4}", spec):  # a width that would fill memory, not a line
            raise UsageError(f"--template: {{{key}:{spec}}}: widths go up to 999")
        try:
            format("", spec)
        except ValueError as error:
            raise UsageError(f"--template: {{{key}:{spec}}}: {error}") from None
        return lambda value: format(printable(text_of(value)), spec)
    return lambda value: printable(text_of(value))
