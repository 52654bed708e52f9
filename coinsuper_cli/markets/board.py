# The board's state: one row a market, folded from its day candle (kline 1d) and its
# depth, and the ticker records and alerts that the rows give. `reduce_board` is pure;
# `BoardParser` wraps the markets' feeds so that the usual pump turns pushes into
# tickers and alerts: --count, --timeout, every output format and --record work on
# them unchanged.
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from decimal import Context, Decimal, localcontext

from ..api.records import AlertRecord, Depth, Kline, Record, Ticker
from ..errors import PayloadError
from .alerts import Alert, evaluate

SPARK_POINTS = 24  # last prices kept per row for its sparkline
CHANGE_PLACES = Decimal("0.01")  # change_pct: percent, two places
SPREAD_PLACES = Decimal("0.001")  # spread_pct: percent of the mid, three places
_HUNDRED = Decimal(100)
# The numbers a board accepts (prices, volumes, balances), and the digits its ratios are
# worked out in: a ratio of two such numbers times 100 has at most 43 digits before the
# point, and quantize needs them all.
SMALLEST, LARGEST = Decimal("1e-20"), Decimal("1e20")
CONTEXT = Context(prec=80)


@dataclass(frozen=True, slots=True)
class Row:
    """What the board knows of one market.

    Args:
        kline: the latest day candle, or None before the first.
        bid, ask: the best prices of the latest depth push.
        kline_ms, depth_ms: local receive time of the latest push of each (0: none).
        prices: the last prices seen since start, oldest first (the sparkline).
        first: the first last price seen: the change since start.
    """

    symbol: str
    kline: Kline | None = None
    bid: Decimal | None = None
    ask: Decimal | None = None
    kline_ms: int = 0
    depth_ms: int = 0
    prices: tuple[Decimal, ...] = ()
    first: Decimal | None = None


def check_range(numbers: Iterable[Decimal], what: str) -> None:
    """PayloadError for a number no market has: the parsers take any finite decimal
    (`1e-999999` included), and the board's ratios and values must neither overflow
    nor lose a digit. Within these bounds every product and ratio it makes fits in
    CONTEXT's digits."""
    for number in numbers:
        if number and not SMALLEST <= abs(number) <= LARGEST:
            raise PayloadError(f"{what} {number:.6g} is out of any market's range")


def apply(row: Row, record: Record, recv_ms: int) -> Row:
    """The row after one kline or depth record of its market; PayloadError for one
    whose numbers are out of range."""
    if isinstance(record, Kline):
        check_range((record.open, record.high, record.low, record.close, record.volume),
                    "a day candle's number")
        prices = row.prices
        if not prices or prices[-1] != record.close:
            prices = (prices + (record.close,))[-SPARK_POINTS:]
        return replace(row, kline=record, kline_ms=recv_ms, prices=prices,
                       first=record.close if row.first is None else row.first)
    if isinstance(record, Depth):
        check_range((record.best_bid, record.best_ask), "a best price")
        return replace(row, bid=record.best_bid, ask=record.best_ask, depth_ms=recv_ms)
    return row


def ticker(row: Row) -> Ticker | None:
    """The row as a ticker record; None until both its day candle and its depth have
    come, so that every ticker has every key."""
    kline, bid, ask = row.kline, row.bid, row.ask
    if kline is None or bid is None or ask is None:
        return None
    change = kline.close - kline.open
    with localcontext(CONTEXT):
        change_pct = (change * _HUNDRED / kline.open).quantize(CHANGE_PLACES) \
            if kline.open else Decimal(0).quantize(CHANGE_PLACES)
    return Ticker(kline.symbol, kline.ts, kline.close, kline.open, kline.high, kline.low,
                  kline.volume, change, change_pct, bid, ask, ask - bid)


def prices(rows: dict[str, Row], of: str = "last") -> dict[str, Decimal]:
    """Each market's price: its `last`, its day `open`, or the `first` seen since start;
    markets without a day candle yet are left out."""
    out = {}
    for symbol, row in rows.items():
        if row.kline is not None:
            out[symbol] = (row.kline.close if of == "last" else row.kline.open
                           if of == "open" else row.first)
    return out


def spread_pct(bid: Decimal | None, ask: Decimal | None) -> Decimal | None:
    """The spread as a percent of the mid price; None while unknown or meaningless."""
    if bid is None or ask is None or bid + ask <= 0:
        return None
    with localcontext(CONTEXT):
        return ((ask - bid) * 2 * _HUNDRED / (ask + bid)).quantize(SPREAD_PLACES)


def alert_values(row: Row, tick: Ticker | None) -> dict[str, Decimal | None]:
    """What alerts can watch, by key (alerts.METRICS)."""
    return {"last": tick and tick.last, "change_pct": tick and tick.change_pct,
            "spread": tick and tick.spread, "spread_pct": spread_pct(row.bid, row.ask)}


@dataclass(frozen=True, slots=True)
class BoardState:
    """Every row, in the order the markets were given, and the alerts' state.

    Args:
        rows: symbol -> Row, for every market on the board.
        alerts: the alert rules.
        armed: indexes of the alerts that can fire (alerts.evaluate).
        fired: the latest alerts that fired, newest last, with their receive time (ms).
        fired_total: how many alerts have fired since start (a bell for each new one).
    """

    rows: dict[str, Row]
    alerts: tuple[Alert, ...] = ()
    armed: frozenset[int] = frozenset()
    fired: tuple[tuple[int, AlertRecord], ...] = field(default=())
    fired_total: int = 0

    @classmethod
    def start(cls, symbols: Iterable[str], alerts: tuple[Alert, ...] = ()) -> BoardState:
        return cls({symbol: Row(symbol) for symbol in symbols}, alerts,
                   frozenset(range(len(alerts))))

    def with_market(self, symbol: str) -> BoardState:
        """The board with a row for `symbol` too (a replay meets its markets as it goes)."""
        if symbol in self.rows:
            return self
        return replace(self, rows={**self.rows, symbol: Row(symbol)})


KEEP_FIRED = 20  # alerts remembered for the status line


def reduce_board(state: BoardState, records: list, recv_ms: int
                 ) -> tuple[BoardState, list[Ticker | AlertRecord]]:
    """Folds kline and depth records into the board; returns the new state and what it
    gives: a ticker for each market whose ticker changed, then the alerts that fired.
    Records of markets not on the board are ignored."""
    rows, armed, out, fired = state.rows, state.armed, [], []
    for record in records:
        before = rows.get(record.symbol)
        if before is None:
            continue
        row = apply(before, record, recv_ms)
        if row == before:
            continue
        if rows is state.rows:
            rows = dict(rows)
        rows[record.symbol] = row
        tick = ticker(row)
        if tick is not None and tick != ticker(before):
            out.append(tick)
        found, armed = evaluate(state.alerts, armed, alert_values(row, tick), row.symbol)
        fired += [AlertRecord(row.symbol, f.alert.rule, f.value) for f in found]
    if rows is state.rows and armed == state.armed:
        return state, []
    kept = (state.fired + tuple((recv_ms, alert) for alert in fired))[-KEEP_FIRED:]
    return BoardState(rows, state.alerts, armed, kept, state.fired_total + len(fired)), \
        out + fired


class BoardParser:
    """One board shared by the parsers of all the markets' feeds: each payload's kline
    or depth records become the tickers and alerts they give. The pump calls parsers
    from one thread, so no lock; `recv_ms` comes from the clock passed in, as the pump
    does not hand parsers the receive time."""

    def __init__(self, state: BoardState, clock_ms: Callable[[], int]) -> None:
        self.state = state
        self._clock_ms = clock_ms

    def wrap(self, parse: Callable[[bytes], list], symbol: str | None = None
             ) -> Callable[[bytes], list]:
        """`parse`, giving the board's records; `symbol`: the feed's market, given a row
        on the board if it has none."""
        if symbol is not None:
            self.state = self.state.with_market(symbol)

        def parse_into_board(payload: bytes) -> list:
            return self.fold(parse(payload), self._clock_ms())
        return parse_into_board

    def fold(self, records: list, recv_ms: int) -> list:
        """The tickers and alerts that these kline and depth records give."""
        self.state, out = reduce_board(self.state, records, recv_ms)
        return out
