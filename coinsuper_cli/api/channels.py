# The channel registry: everything coinsuper knows about each channel of the exchange's
# real-time API, one entry a channel. The client (plans, parsers, stale detection), the
# live views and the sandbox (topic parsing, what it publishes) all read it, so an eighth
# channel is one entry here plus its parser and its view. A name that is not here fails
# loudly with UnknownChannel wherever it is looked up.
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from operator import attrgetter
from typing import Any

from .exchange import INTERVALS
from .records import Asset, Book, Depth, Fill, Kline, Order, Record, Trade

Parser = Callable[[bytes], list[Record]]


_FIELD = re.compile(r"\{(\w+)\}")  # a field of a subtopic template


class UnknownChannel(KeyError):
    """A channel name that the registry does not hold: a bug in the caller."""


@dataclass(frozen=True, slots=True)
class View:
    """How the live views draw a channel. Names, not objects, so that jsonl never
    imports rich: `module:attribute` under `coinsuper_cli.live`, resolved on first use.

    Args:
        state: the empty view state (a frozen dataclass).
        reduce: `reduce(state, records, recv_ms) -> state`, pure.
        draw: the renderable, built as `draw(state, now_ms=...)`.
        title: the panel's title.
        min_width: the narrowest its panel is still useful.
    """

    state: str
    reduce: str
    draw: str
    title: str
    min_width: int


@dataclass(frozen=True, slots=True)
class Channel:
    """One channel of the exchange's API.

    Args:
        name: the jsonl `channel` key, and how code names the channel.
        subtopic: appended to the topic prefix; `{field}`s are filled per topic
            (spec/coinsuper-api.md). Private ones hold `{email}`.
        record: the record type its payloads become.
        new_parser: builds a parser for one topic from the topic's fields; trades and the
            private channels keep de-duplication state in it.
        cadence: seconds between the exchange's pushes; None for a channel that pushes
            only when something changes. A timed topic silent far longer is a dead link.
        view: how the live views draw it.
        when: the exchange time of one of its records, which --since compares (ms), or
            None for a channel whose records carry none (depth).
        simulate: the sandbox's payload of a topic at this instant: `simulate(market,
            ref)`; None for channels pushed as the demo account's events happen.
        command: the name of the command that streams it (`coinsuper trades`); its
            arguments and options follow from the topic's fields (cli/streaming.py).
        help: that command's --help text; the first sentence is its line in the command
            list, unless `summary` says it shorter.
        aliases: other names of the command.
    """

    name: str
    subtopic: str
    record: type
    new_parser: Callable[[dict[str, str]], Parser]
    cadence: float | None
    view: View
    when: Callable[[Any], int | None]
    simulate: Callable[[Any, Any], bytes] | None = field(default=None, repr=False)
    _: KW_ONLY
    command: str
    help: str
    summary: str | None = None
    aliases: tuple[str, ...] = ()

    @property
    def private(self) -> bool:
        return "{email}" in self.subtopic

    @property
    def fields(self) -> tuple[str, ...]:
        """The fields its topics are filled with, in order: `symbol`, `step`..."""
        return tuple(_FIELD.findall(self.subtopic))

    def topic(self, env: str, **fields: str) -> str:
        return env + self.subtopic.format(**fields)


def _payloads():
    """payloads.py, imported when the first parser is made: the command line reads this
    registry for its commands and their help, and needs no parser (nor msgspec) for
    that."""
    from . import payloads

    return payloads


def _trade_parser(fields: dict[str, str]) -> Parser:
    from .trades import TradeParser  # as _payloads: on the first parser

    return TradeParser()


def _deduplicated(parse_of: Callable[[Any], Callable[[object], list[Record]]],
                  key: Callable[[Record], object]) -> Callable[[dict[str, str]], Parser]:
    """The exchange warns that private pushes may be repeated: a parser that drops a
    record whose key it has seen lately. Two changes can share a millisecond (a partial
    fill and the next one), so the values that change are part of each key.
    `parse_of(payloads)`: the parse function of payloads.py to use."""
    def new_parser(fields: dict[str, str]) -> Parser:
        payloads = _payloads()
        parse, load_json, seen = parse_of(payloads), payloads.load_json, payloads.RecentKeys()
        return lambda payload: [r for r in parse(load_json(payload)) if seen.add(key(r))]
    return new_parser


def _candle_end(kline: Kline) -> int:
    """A candle's last millisecond: it is current, not old, until then."""
    interval = kline.interval
    range_ms = INTERVALS.get(interval) or int(interval.removesuffix("ms"))
    return kline.ts + range_ms - 1


def _kline_parser(fields: dict[str, str]) -> Parser:
    range_ms = int(fields["range"])
    payloads = _payloads()
    load_json, parse_kline = payloads.load_json, payloads.parse_kline
    return lambda payload: [parse_kline(load_json(payload), range_ms)]


CHANNELS: dict[str, Channel] = {channel.name: channel for channel in (
    Channel(
        "depth", "/api/ws/v1/market/depth/{symbol}", Depth,
        lambda fields: _payloads().depth_records, cadence=1.0,
        view=View("state:DepthState", "state:reduce_depth", "depth_chart:DepthChart",
                  "Depth", 40),
        when=lambda record: None,
        simulate=lambda market, ref: market.depth(ref.symbol),
        command="depth", help="Market depth: cumulative bids and asks around the mid price."),
    Channel(
        "book", "/api/ws/v1/market/orderBook/{symbol}/{step}", Book,
        lambda fields: _payloads().book_records, cadence=2.0,
        view=View("state:BookState", "state:reduce_book", "ladder:BookLadder", "Book", 38),
        when=attrgetter("ts"),
        simulate=lambda market, ref: market.order_book(ref.symbol, ref.step),
        command="book", aliases=("orderbook",),
        summary="Order book: the best 15 levels a side.",
        help="Order book: the best 15 asks and bids, aggregated by --step."),
    Channel(
        "kline", "/api/ws/v1/market/kline/{symbol}/{range}", Kline, _kline_parser,
        cadence=2.0,
        view=View("state:CandlesState", "state:reduce_candles", "candles:CandlesView",
                  "Candles", 40),
        when=_candle_end,
        simulate=lambda market, ref: market.kline(ref.symbol, ref.range_ms),
        command="kline", aliases=("candles",), summary="Candles of an interval.",
        help="Candles: the current candle of --interval, as the exchange updates it."),
    Channel(
        # "tickers" in the exchange's topic; each push repeats the latest 50 trades.
        "trade", "/api/ws/v1/market/tickers/{symbol}", Trade,
        _trade_parser, cadence=2.0,
        view=View("state:TapeState", "state:reduce_trades", "tape:TradeTape", "Trades", 38),
        when=attrgetter("ts"),
        simulate=lambda market, ref: market.tickers(ref.symbol),
        command="trades", aliases=("tickers",), summary="Trades, each once, oldest first.",
        help="Trades: one record per trade, each once although pushes repeat the latest "
             "50, oldest first."),
    Channel(
        "asset", "/api/ws/personal/v1/asset/change/{email}", Asset,
        _deduplicated(lambda payloads: payloads.parse_assets,
                      lambda r: (r.currency, r.updated, r.total, r.available)),
        cadence=None,
        view=View("account_state:AssetsState", "account_state:reduce_assets",
                  "balances:BalancesTable", "Balances", 60),
        when=attrgetter("updated"),
        command="assets", help="Your balances as they change (needs credentials)."),
    Channel(
        # The private order and fill topics really have no /api prefix.
        "order", "/ws/personal/v1/order/change/{email}", Order,
        _deduplicated(lambda payloads: lambda data: [payloads.parse_order(data)],
                      lambda r: (r.order_no, r.state, r.updated, r.qty_remaining)),
        cadence=None,
        view=View("account_state:OrdersState", "account_state:reduce_orders",
                  "orders_table:OrdersTable", "Open orders", 70),
        when=attrgetter("updated"),
        command="orders", help="Your orders as they change (needs credentials)."),
    Channel(
        "fill", "/ws/personal/v1/trade/change/{email}", Fill,
        _deduplicated(lambda payloads: lambda data: [payloads.parse_fill(data)],
                      lambda r: r.deal_no),
        cadence=None,
        view=View("account_state:FillsState", "account_state:reduce_fills",
                  "fills_tape:FillsTape", "Fills", 70),
        when=attrgetter("ts"),
        command="fills", help="Your own fills (needs credentials)."),
)}

PUBLIC = tuple(name for name, channel in CHANNELS.items() if not channel.private)
PRIVATE = tuple(name for name, channel in CHANNELS.items() if channel.private)


def get(name: str) -> Channel:
    """The registry entry of `name`; UnknownChannel if there is none."""
    try:
        return CHANNELS[name]
    except KeyError:
        raise UnknownChannel(f"no channel named {name!r}; known: "
                             f"{', '.join(CHANNELS)}") from None


def new_parser(name: str, **fields: str) -> Parser:
    """A parser for one topic of channel `name` (a kline needs `range`, in ms)."""
    return get(name).new_parser(fields)


@dataclass(frozen=True, slots=True)
class Feed:
    """One subscribed topic: what it carries and how its payloads are read."""

    topic: str
    channel: str
    symbol: str | None
    parse: Parser


def subtopic_regex(channel: Channel) -> str:
    """A regex of the channel's subtopic, each `{field}` a group of that name: one topic
    level, without a wildcard (MQTT 3.1.1 §4.7.1)."""
    # split() alternates literal text and field names: odd indexes are field names.
    parts = _FIELD.split(channel.subtopic)
    return "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^/+#]+)"
                   for i, p in enumerate(parts))


# The prefix (the environment) is whatever comes before the subtopic.
_TOPIC_PATTERNS = {name: re.compile(f"(?P<_prefix>.+?){subtopic_regex(channel)}")
                   for name, channel in CHANNELS.items()}


def parse_topic(topic: str) -> tuple[Channel, str, dict[str, str]] | None:
    """The channel a full topic belongs to, its prefix (the environment) and its fields
    (`symbol`, `step`, `range`, `email`); None for a topic of no channel."""
    for name, pattern in _TOPIC_PATTERNS.items():
        match = pattern.fullmatch(topic)
        if match is not None:
            fields = match.groupdict()
            prefix = fields.pop("_prefix")
            return CHANNELS[name], prefix, fields
    return None


def feed_of(topic: str) -> Feed | None:
    """A Feed for a topic met in a recording: channel, symbol and a fresh parser."""
    found = parse_topic(topic)
    if found is None:
        return None
    channel, _, fields = found
    try:
        parse = channel.new_parser(fields)
    except ValueError:  # a kline range that is not a number
        return None
    return Feed(topic, channel.name, fields.get("symbol"), parse)
