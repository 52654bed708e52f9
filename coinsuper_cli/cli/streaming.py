# The commands that stream from a broker. One per channel, made from the channel
# registry: the fields of its topics become the command's argument and options, so a new
# channel needs no code here unless its topics hold a new kind of field. Then watch,
# account, markets and relay, which stream several channels, and `topics`, which plans
# any of them without connecting.
from __future__ import annotations

import dataclasses

import click

from ..api import exchange
from ..api.channels import CHANNELS, PRIVATE, PUBLIC, Channel
from ..printable import printable
from ..relay.queue import DEFAULT_BUFFER
from . import core
from .completion import (complete_public_channels, complete_streaming_commands,
                         complete_symbols, is_streaming)
from .core import Wanted
from .options import (App, alerts_option, checked, comma_names, config_callback,
                      interval_option, lazy, pass_app, step_option, stream_options,
                      symbol_convert, symbols_argument, warn_password_in_argv)


def run_stream(opts: core.StreamOptions, wanted: Wanted) -> None:
    app = click.get_current_context().find_object(App)
    core.stream(app.env, opts, wanted, dry_run=app.dry_run)


# What a topic field becomes on the command line: the option that asks for it, whose
# parameter name is the Wanted field it fills (step, range_ms). `symbol` is the
# SYMBOL... argument; `email` comes with the credentials, which every streaming command
# takes.
FIELD_OPTIONS = {"step": step_option, "range": interval_option}


def channel_command(channel: Channel) -> click.Command:
    """The command that streams `channel` alone (`coinsuper book BTC_USD --step 0.1`)."""
    def stream(opts, symbols=(), **fields):
        if channel.private:
            run_stream(opts, Wanted(private=(channel.name,)))
        else:
            run_stream(opts, Wanted(public=(channel.name,), symbols=symbols, **fields))

    command = stream_options(stream)
    for field in reversed(channel.fields):
        if field in FIELD_OPTIONS:
            command = FIELD_OPTIONS[field]()(command)
        elif field == "symbol":
            command = symbols_argument(command)
        elif field != "email":
            raise LookupError(f"cli/streaming.py has no option for the {field!r} field "
                              f"of channel {channel.name!r}")
    alias = f" Alias: {', '.join(channel.aliases)}." if channel.aliases else ""
    return click.command(channel.command, help=channel.help + alias,
                         short_help=channel.summary and channel.summary + alias)(command)


def channel_commands() -> list[click.Command]:
    return [channel_command(channel) for channel in CHANNELS.values()]


def aliases() -> dict[str, str]:
    """Other names of the channels' commands: orderbook, candles, tickers."""
    return {alias: channel.command for channel in CHANNELS.values()
            for alias in channel.aliases}


@click.command()
@click.argument("symbol", callback=symbol_convert, shell_complete=complete_symbols)
@stream_options
def watch(symbol, opts):
    """Depth, order book, candles and trades of one symbol together."""
    run_stream(opts, Wanted(public=PUBLIC, symbols=(symbol,)))


@click.command()
@stream_options
def account(opts):
    """Balances, orders and fills together, on one connection (needs credentials)."""
    run_stream(opts, Wanted(private=PRIVATE))


@click.command(short_help="Many markets at a glance: prices, day change, spread, holdings, "
                        "alerts.")
@click.argument("symbols", nargs=-1, metavar="[SYMBOL]...",
                callback=lambda ctx, param, values: tuple(dict.fromkeys(
                    symbol_convert(ctx, param, v) for v in values)),
                shell_complete=complete_symbols)
@click.option("--alert", "alerts", multiple=True, metavar="EXPR", callback=alerts_option,
              help="Say when a condition becomes true: SYMBOL>PRICE, SYMBOL<=PRICE, "
                   "SYMBOL%>PERCENT (day change), SYMBOL.spread%>PERCENT. Repeatable; "
                   "also [[alerts]] in the config file.")
@click.option("--only-alerts", is_flag=True,
              help="In a pipe, write only the alert records (with --count 1: wait for "
                   "the first).")
@click.option("--quote", default="USD", show_default=True,
              callback=checked(exchange.validate_currency),
              help="The currency holdings are valued in (across one cross rate at most).")
@stream_options
@pass_app
def markets(app, symbols, alerts, only_alerts, quote, opts):
    """Many markets at a glance, live from their day candles and depth: last price, day
    change, bid, ask, spread, volume and a trend line, one row a market. Without
    SYMBOL: the config file's watchlist, else every known market (the sandbox's with
    --sandbox). On a terminal: arrows or j/k move, s/S sort, / filters, Enter opens
    `watch` of the market and Esc comes back, q quits; with credentials (or --sandbox)
    the holdings are valued in --quote, else the config file's [[lots]]. In a pipe: a
    `ticker` record per change and an `alert` record when an alert fires."""
    from .markets import MarketsOptions, markets as run_markets

    settings = click.get_current_context().meta.get("coinsuper.settings", {})

    def setting(key, default=()):
        found = settings.get(key)
        return default if found is None else found.value

    run_markets(app.env, opts, MarketsOptions(
        symbols, alerts, only_alerts, quote, watchlist=setting("watchlist"),
        lots=setting("lots"), config_alerts=setting("alerts")), dry_run=app.dry_run)


def relay_channels_option(ctx, param, value: str) -> tuple[str, ...]:
    names = comma_names(value)
    unknown = [n for n in names if n not in PUBLIC]
    if unknown or not names:
        what = f"unknown channel {unknown[0]!r}" if unknown else "no channel"
        raise click.BadParameter(f"{what}: use some of {','.join(PUBLIC)} (--private adds "
                                 "the private ones)", ctx, param)
    return names


@click.command(short_help="Relay the exchange's topics into an MQTT broker or Redis "
                        "streams, for many consumers.")
@symbols_argument
@click.option("--to", "to", required=True, metavar="URL", envvar="COINSUPER_RELAY_TO",
              callback=checked(lazy("..relay.registry", "check_target_url")),
              help="The target: an MQTT broker (mqtt://, mqtts://, ws:// or wss://, with "
                   "USER:PASSWORD@ if it wants them) or Redis (redis[s]://[:PASSWORD@]HOST"
                   "[:PORT][/DB]: a stream per topic); prefer the environment for "
                   "passwords: arguments show in ps. [env: COINSUPER_RELAY_TO]")
@click.option("--channels", "channel_names", default=",".join(PUBLIC),
              show_default=True, callback=relay_channels_option, metavar="NAME,...",
              shell_complete=complete_public_channels, help="Public channels to relay.")
@step_option(help="The order book's step (see `book`).")
@interval_option(help="The candles' interval (see `kline`).")
@click.option("--private", is_flag=True, is_eager=True, callback=config_callback,
              help="Also relay your balances, orders and fills (needs credentials): "
                   "whoever can read the target broker reads them.")
@click.option("--to-qos", type=click.IntRange(0, 2), default=0, show_default=True,
              help="QoS of the messages published to the target.")
@click.option("--buffer", type=click.IntRange(min=1), default=DEFAULT_BUFFER, show_default=True,
              help="Messages held while the target is away, 32 MiB at most; past "
                   "either the oldest are dropped, and counted.")
@click.option("--normalized", is_flag=True,
              help="Also publish each jsonl record on coinsuper/v1/CHANNEL/SYMBOL.")
@click.option("--max-len", type=click.IntRange(min=1), default=None, metavar="N",
              help="redis:// only: keep about N entries a stream (XADD MAXLEN ~ N); "
                   "default 100,000.")
@click.option("--markets", is_flag=True,
              help="Also relay what `coinsuper markets` reads (each symbol's day candle and "
                   "depth); with --normalized, its ticker records on "
                   "coinsuper/v1/ticker/SYMBOL.")
@stream_options
@pass_app
def relay(app, symbols, to, channel_names, step, range_ms, private, to_qos, buffer,
          normalized, max_len, markets, opts):
    """Keep the exchange's connections once and republish every message, byte for byte
    on the same topic, into an MQTT broker (Mosquitto, EMQX, HiveMQ) from which any
    number of consumers read: `coinsuper trades BTC_USD --url mqtt://BROKER` works as
    against the exchange. Market topics are retained. Each side reconnects on its own;
    while the target is away the newest --buffer messages wait. --count counts messages
    received. With --to redis://HOST, each message is appended (XADD) to a Redis stream
    named after its topic, fields topic, payload and recv_ns, trimmed to about --max-len.
    Example: coinsuper relay BTC_USD ETH_BTC --sandbox --to mqtt://127.0.0.1"""
    from .relay import RelayOptions, relay as run_relay

    warn_password_in_argv(click.get_current_context(), "to", "COINSUPER_RELAY_TO")
    run_relay(app.env, opts, RelayOptions(
        to, symbols, channel_names, private, step, range_ms, to_qos, buffer, normalized,
        markets=markets, max_len=max_len), dry_run=app.dry_run)


@click.command(context_settings={"ignore_unknown_options": True,
                               "allow_interspersed_args": False})
@click.argument("command", shell_complete=complete_streaming_commands)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
@pass_app
def topics(app, ctx, command, args):
    """Print the topics, client ids and user names COMMAND would use, without
    connecting (secrets masked). Example: coinsuper topics book BTC_USD --step 0.1"""
    root = ctx.find_root()
    target = root.command.get_command(ctx, command)
    if target is None or not is_streaming(target):
        raise click.BadParameter(f"not a streaming command: {printable(repr(command))}",
                                 param_hint="COMMAND")
    # A child of the group, not of `topics`: a bad option's hint is then
    # `coinsuper book --help`, the command that takes it.
    with target.make_context(target.name, list(args), parent=root,
                             obj=dataclasses.replace(app, dry_run=True)) as sub:
        target.invoke(sub)
