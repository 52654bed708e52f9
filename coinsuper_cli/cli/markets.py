# `coinsuper markets`, without Click: the markets' day candles and depth on one
# connection each (as every public topic), folded into the board. On a terminal the
# board is drawn (live/markets_app.py), with the holdings pane when there are
# credentials or lots; in a pipe each feed's parser is wrapped so that a push becomes
# the ticker and alert records it gives, and the usual pump writes them: --count,
# --timeout, --fields, csv, --template and --record work on them as on any channel.
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from functools import partial

from ..api import exchange
from ..errors import UsageError
from ..markets.alerts import Alert, check_symbols, parse_alert
from ..markets.board import BoardParser, BoardState
from ..markets.portfolio import Lot
from ..output.options import TABLES, choose_format, resolve
from . import core
from .core import Environment, StreamOptions, Wanted

DAY_MS = exchange.INTERVALS["1d"]
WANTED = ("kline", "depth")


@dataclass(frozen=True)
class MarketsOptions:
    """What `markets` takes besides the streaming options.

    Args:
        symbols: the markets given; empty: the watchlist, else every known market
            (with --sandbox, the sandbox's).
        alerts: --alert expressions, then the config file's.
        only_alerts: write only alert records.
        quote: the currency holdings are valued in.
        watchlist: the config file's watchlist.
        lots: the config file's lots, for the holdings pane without credentials.
    """

    symbols: tuple[str, ...] = ()
    alerts: tuple[str, ...] = ()
    only_alerts: bool = False
    quote: str = "USD"
    watchlist: tuple[str, ...] = ()
    lots: tuple[Lot, ...] = ()
    config_alerts: tuple[Alert, ...] = ()


def board_symbols(opts: StreamOptions, markets: MarketsOptions) -> tuple[str, ...]:
    if markets.symbols:
        return markets.symbols
    if markets.watchlist:
        return markets.watchlist
    return exchange.SANDBOX_MARKETS if opts.sandbox else exchange.MARKETS


def output_channels(alerts: tuple[Alert, ...], only_alerts: bool) -> tuple[str, ...]:
    """What a pipe gets: tickers, alerts when there are any, or only alerts."""
    if only_alerts:
        if not alerts:
            raise UsageError("--only-alerts: there is no alert: give --alert EXPR (or "
                             "[[alerts]] in the config file)")
        return ("alert",)
    return ("ticker", "alert") if alerts else ("ticker",)


def is_day_candle(feed) -> bool:
    """Whether a feed carries a market's day candle: what the board reads of kline."""
    return feed.channel == "kline" and feed.topic.endswith(f"/{DAY_MS}")


def board_output(output_options, fmt: str, alerts: tuple[Alert, ...], only_alerts: bool):
    """The output of the board's records, checked: raw cannot be (a ticker is made of
    two channels), --only-alerts is for pipes, and it keeps only the alerts."""
    if fmt == "raw":
        raise UsageError("--format raw does not apply to the markets board: it writes "
                         "ticker and alert records, made from two channels; use jsonl, "
                         "csv, tsv or --template")
    if fmt == "live":
        if only_alerts:
            raise UsageError("--only-alerts applies in a pipe: the board shows every "
                             "market")
        return resolve(output_options, WANTED, fmt)
    if fmt in TABLES and alerts and not only_alerts:
        raise UsageError(f"--format {fmt} takes one kind of record, and with --alert the "
                         "board writes tickers and alerts: add --only-alerts, or use jsonl")
    output = resolve(output_options, output_channels(alerts, only_alerts), fmt)
    if only_alerts:
        output = dataclasses.replace(output, limits=dataclasses.replace(
            output.limits, keep=_and(output.limits.keep, _is_alert)))
    return output


def markets(env: Environment, opts: StreamOptions, markets: MarketsOptions, *,
            dry_run: bool = False) -> None:
    """Plan, then print the plan (`topics markets`), draw the board or write records."""
    symbols = board_symbols(opts, markets)
    alerts = tuple(parse_alert(text) for text in markets.alerts)
    check_symbols(alerts, symbols)  # an --alert off the board would never fire
    # The config file's alerts are standing rules: those of other markets wait for a
    # board that shows them.
    alerts += tuple(alert for alert in markets.config_alerts if alert.symbol in symbols)
    wanted = Wanted(public=WANTED, symbols=symbols, range_ms=DAY_MS)
    if dry_run:
        core.stream(env, opts, wanted, dry_run=True)
        return
    fmt = choose_format(opts.output, env.stdout_isatty)
    output = board_output(opts.output, fmt, alerts, markets.only_alerts)
    board = BoardState.start(symbols, alerts)
    sandbox = core.start_sandbox(opts, env) if opts.sandbox else None
    try:
        target = core.target_for(opts, wanted, env,
                              demo_url=sandbox.ws_url if sandbox else None)
        found = core.plan(target, wanted)
        if fmt == "live":
            _board(env, opts, output, found, board, target, markets)
            return
        parser = BoardParser(board, lambda: time.time_ns() // 1_000_000)
        found = [dataclasses.replace(plan, feeds=tuple(
            dataclasses.replace(feed, parse=parser.wrap(feed.parse)) for feed in plan.feeds))
            for plan in found]
        core.run_plans(env, opts, output, found)
    finally:
        if sandbox is not None:
            sandbox.stop()


def _is_alert(record) -> bool:
    return record.channel == "alert"


def _and(first, second):
    return second if first is None else (lambda record: first(record) and second(record))


def _board(env: Environment, opts: StreamOptions, output, found: list, board: BoardState,
           target, markets: MarketsOptions) -> None:
    """The board on the terminal: the markets' plans, plus the account's balances on
    one private connection when the credentials are all there (the sandbox's demo
    account has them)."""
    from ..live.markets_app import Holdings, run_board
    from ..net import plans
    from ..net.runner import Connections

    holdings = None
    if target.credentials.complete:
        found = found + [plans.private_plan(target, ("asset",))]
        who = "demo account" if opts.sandbox else target.credentials.email
        holdings = Holdings(markets.quote, None, f"holdings ({who}) in {markets.quote}")
    elif markets.lots:
        holdings = Holdings(markets.quote, markets.lots,
                            f"lots (config file) in {markets.quote}")
    options = core.run_options(opts, found, warn=env.warn)

    # The watch screen signs in without the account: with it, its depth topic would
    # have the client id of the board's (md5 of key, email and topic), and a broker
    # drops the older of two equal ids (MQTT 3.1.1 §3.1.4-2), so each would keep
    # dropping the other. Market data needs no account.
    anonymous = dataclasses.replace(target, credentials=plans.Credentials())

    def watch(symbol: str):
        watched = core.plan(anonymous, Wanted(public=("depth", "book", "kline", "trade"),
                                               symbols=(symbol,)))
        return watched, core.hooked(partial(Connections, watched), options)

    recorder = core.start_recorder(env, opts.record)
    if recorder is not None:
        options = dataclasses.replace(options, on_state=recorder.on_state)
    try:
        run_board(found, core.hooked(partial(Connections, found), options), board,
                  watch=watch, forward_state=options.on_state, holdings=holdings,
                  sandbox=opts.sandbox, verbose=opts.verbose, limits=output.limits,
                  stdin=env.stdin, record=recorder)
    finally:
        if recorder is not None:
            recorder.close()


def replay(env: Environment, opts, markets: MarketsOptions) -> None:
    """`replay --markets`: a recording of `markets` (its day candles and depth) played
    into the board: in a pipe, byte for byte the ticker and alert records that the run
    which recorded it printed; on a terminal, the board at the recorded pace."""
    from ..net.plans import ConnectionPlan
    from ..net.runner import RunOptions
    from ..recordings.replay import Recording, Selection, expand

    fmt = choose_format(opts.output, env.stdout_isatty)
    alerts = tuple(parse_alert(text) for text in markets.alerts)
    output = board_output(opts.output, fmt, alerts, markets.only_alerts)
    speed = opts.speed
    if speed == 0:  # the default: the recorded pace on a terminal, at once in a pipe
        speed = 1.0 if fmt == "live" else None
    paths = expand(opts.files)
    selection = Selection(frozenset(WANTED), frozenset(opts.symbols), opts.start_ns,
                          opts.end_ns)
    board = BoardParser(BoardState.start((), alerts), lambda: time.time_ns() // 1_000_000)

    def day_and_depth(feed):
        if feed.channel == "kline" and not is_day_candle(feed):
            return None  # a candle of another interval is not the day's
        if fmt == "live":
            return feed  # the board's model folds the records itself
        return dataclasses.replace(feed, parse=board.wrap(feed.parse, feed.symbol))

    recording = Recording(paths, selection=selection, speed=speed, warn=env.warn,
                          max_gap=opts.max_gap, adapt=day_and_depth)
    if fmt == "live":
        from ..live.markets_app import run_board

        feeds = recording.feeds(20_000)
        if not feeds:
            raise UsageError("nothing to replay: the recording holds no day candle or "
                             "depth (record `coinsuper markets` with --record)")
        symbols = tuple(dict.fromkeys(feed.symbol for feed in feeds))

        def source_for(run_options: RunOptions):
            recording.warn = run_options.warn  # the board's status line
            return recording
        run_board([ConnectionPlan("replay:" + paths[0], lambda: None, feeds)],
                  core.hooked(source_for, RunOptions(warn=env.warn)),
                  BoardState.start(symbols, alerts), watch=None, replay=recording,
                  stdin=env.stdin, limits=output.limits)
        return
    core.play(env, output, lambda run_options: recording, RunOptions(warn=env.warn), [],
              verbose=opts.verbose)
