# The command line: a thin Click layer. It declares the commands and their options, checks
# every value as it is parsed (bad usage is exit 2, naming the option), hands core.stream
# one options value, and maps every failure to PRODUCT.md's exit codes in `main`, the one
# place that does so.
from __future__ import annotations

import dataclasses
import functools
import importlib
import math
import os
import sys
from dataclasses import dataclass
from urllib.parse import urlsplit

import click

from . import __version__, core, exchange
from .completion import (complete_channels, complete_intervals, complete_steps,
                         complete_streaming_commands, complete_symbol_list,
                         complete_symbols)
from .core import Environment, StreamOptions, Wanted
from .output_options import FORMATS, OutputOptions
from .errors import (CoinsuperError, ExitStatus, Finished, StopSignal, UsageError,
                     exit_status)
from .mqtt.errors import MQTTError
from .printable import printable
from .times import TIME_FORMATS

ALIASES = {"orderbook": "book", "candles": "kline", "tickers": "trades"}


def warn(text: str) -> None:
    click.echo(f"coinsuper: {printable(text)}", err=True)


def checked(validate):
    """A Click callback that runs a validator on a value, so that anything that could
    change a topic or a sign-in is refused as bad usage (exit 2), naming the option."""
    def callback(ctx, param, value):
        if value is None:
            return None
        try:
            return validate(value)
        except UsageError as error:
            raise click.BadParameter(str(error), ctx, param) from None
    return callback


class Finite(click.FloatRange):
    """A FloatRange without NaN and infinities: NaN compares false to every bound and
    every deadline, so `--timeout nan` would never time out."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


def _lazy(module: str, name: str):
    """A validator imported when first called: --help and --version stay quick."""
    def validate(value):
        return getattr(importlib.import_module(module, __package__), name)(value)
    return validate


def fields_option(ctx, param, value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    keys = tuple(key.strip() for key in value.split(","))
    if not all(keys):
        raise click.BadParameter(f"an empty key in {value!r}: give KEY,KEY... like "
                                 "ts,price", ctx, param)
    return keys


# The output options, shared by the streaming commands and `replay`; the parameter names
# are the fields of OutputOptions.
OUTPUT_OPTIONS = (
    click.option(
        "--format", "format", type=click.Choice(FORMATS),
        help="live: a full-screen view; jsonl: one JSON object per record; csv, tsv: a "
             "header and rows (book and depth: a row per level); raw: payloads as "
             "received. [default: live on a terminal, else jsonl]"),
    click.option("--count", type=click.IntRange(min=1),
                 help="Stop after N records; with --timeout, exit 6 if they did not come "
                      "in time."),
    click.option("--timeout", type=Finite(min=0, min_open=True),
                 help="Stop after SECONDS."),
    click.option("--fields", callback=fields_option, metavar="KEY,...",
                 help="Only these keys, in this order (jsonl, csv, tsv)."),
    click.option("--template", metavar="TEXT",
                 help="A line of text per record: {key} is the record's value (any jsonl "
                      "key, and {topic}); {ts:iso} any time key in ISO 8601; \\t a tab."),
    click.option("--time", type=click.Choice(TIME_FORMATS),
                 help="How ts, recv, created and updated are written: ms since the epoch, "
                      "s (with decimals) or iso (8601, UTC). [default: ms]"),
    click.option("--since", callback=checked(_lazy(".times", "parse_since")),
                 metavar="now|TIME",
                 help="Skip records whose exchange time is earlier (the trades and fills "
                      "a first push repeats); TIME: ISO 8601 or ms since the epoch."),
    click.option("--no-header", is_flag=True, help="csv, tsv: no header line."),
)
OUTPUT_FIELDS = tuple(field.name for field in dataclasses.fields(OutputOptions))


def output_options(command):
    """Adds the output options and hands the command one OutputOptions, `output`."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        output = OutputOptions(**{name: kwargs.pop(name) for name in OUTPUT_FIELDS})
        return command(*args, output=output, **kwargs)

    for option in reversed(OUTPUT_OPTIONS):
        wrapper = option(wrapper)
    return wrapper


VERBOSE_OPTION = click.option(
    "-v", "--verbose", is_flag=True,
    help="Connection log on stderr (secrets masked); raw: topic first.")

# Every option the streaming commands share, each declared once; the parameter names are
# the fields of core.StreamOptions.
# The commands with private channels: only they take the secret key from the config
# file, so that a public command never runs a secret_key_command (a password manager).
PRIVATE_COMMANDS = frozenset({"assets", "orders", "fills", "account"})


def config_callback(ctx, param, value):
    """--config and --profile (and relay's --private) are eager: they are processed
    before any other option, in whichever order they were given. The last of them loads
    the file and makes its settings the command's default_map, which Click reads after
    the command line and the environment and before the built-in defaults: the
    contract's precedence."""
    if ctx.resilient_parsing:  # TAB completion: no file read, no program run
        return value
    seen = ctx.meta.setdefault(f"coinsuper.config:{id(ctx)}", {})
    seen[param.name] = value
    eager = {p.name for p in ctx.command.params if p.callback is config_callback}
    if seen.keys() == eager:
        from . import config

        found = config.load(seen["config_path"], os.environ)
        secret = ctx.command.name in PRIVATE_COMMANDS or bool(seen.get("private"))
        ctx.default_map = {**(ctx.default_map or {}),
                           **found.default_map(seen["profile"], secret=secret)}
        ctx.meta["coinsuper.settings"] = found.settings(seen["profile"])
    return value


CONFIG_OPTIONS = (
    click.option("--config", "config_path", envvar="COINSUPER_CONFIG", metavar="PATH",
                 is_eager=True, expose_value=False, callback=config_callback,
                 help="The config file. [default: $XDG_CONFIG_HOME/coinsuper/config.toml] "
                      "[env: COINSUPER_CONFIG]"),
    click.option("--profile", envvar="COINSUPER_PROFILE", metavar="NAME", is_eager=True,
                 expose_value=False, callback=config_callback,
                 help="Use the config file's [profiles.NAME]. [env: COINSUPER_PROFILE]"),
)

STREAM_OPTIONS = (
    *CONFIG_OPTIONS,
    click.option("--url", envvar="COINSUPER_URL", default=exchange.DEFAULT_URL,
                 show_default=True, callback=checked(_lazy(".transport", "check_url")),
                 help="Broker: wss://, ws://, mqtts:// or mqtt://. [env: COINSUPER_URL]"),
    click.option("--env", "env", envvar="COINSUPER_ENV", default=exchange.DEFAULT_ENV,
                 show_default=True, callback=checked(exchange.validate_env),
                 help="Topic prefix. [env: COINSUPER_ENV]"),
    click.option("--sandbox", is_flag=True,
                 help="Run the simulated exchange in-process and stream from it."),
    click.option("--qos", type=click.IntRange(0, 2), default=0, show_default=True,
                 help="Subscription QoS."),
    click.option("--keepalive", type=click.IntRange(0, 65535), default=60,
                 show_default=True, help="MQTT keepalive in seconds (PINGREQ); 0: none."),
    click.option("--email", envvar="COINSUPER_EMAIL", callback=checked(exchange.validate_email),
                 help="[env: COINSUPER_EMAIL]"),
    click.option("--access-key", envvar="COINSUPER_ACCESS_KEY",
                 callback=checked(exchange.validate_access_key),
                 help="[env: COINSUPER_ACCESS_KEY]"),
    click.option("--secret-key", envvar="COINSUPER_SECRET_KEY",
                 callback=checked(exchange.validate_secret_key),
                 help="Prefer the environment: arguments show in ps. "
                      "[env: COINSUPER_SECRET_KEY]"),
    click.option("--retries", type=click.IntRange(min=0),
                 help="Reconnect attempts in a row after a lost link before exit 4; "
                      "0: never reconnect. [default: forever]"),
    click.option("--stale-after", type=Finite(min=0), default=15.0,
                 show_default=True, help="Reconnect when a market topic is silent this "
                 "many seconds; 0: never."),
    click.option("--max-packet", type=click.IntRange(min=1024), default=1024 * 1024,
                 show_default=True, help="Largest MQTT packet accepted, in bytes."),
    click.option("--insecure", is_flag=True, help="Do not verify TLS certificates."),
    click.option("--cafile", type=click.Path(exists=True, dir_okay=False),
                 callback=checked(_lazy(".tls", "check_cafile")),
                 help="Trust the certificate authorities in this PEM file."),
    click.option("--cert", type=click.Path(exists=True, dir_okay=False),
                 callback=checked(_lazy(".tls", "check_cert")),
                 help="A TLS client certificate (PEM; with its key unless --key)."),
    click.option("--key", type=click.Path(exists=True, dir_okay=False),
                 callback=checked(_lazy(".tls", "check_key")),
                 help="The client certificate's private key (PEM, unencrypted)."),
    click.option("--proxy", envvar="COINSUPER_PROXY", metavar="URL",
                 callback=checked(lambda value: value and _lazy(".proxy", "check_proxy_url")(
                     value)),
                 help="Connect through this proxy: http://, socks5:// or socks5h:// (names "
                      "resolved at the proxy); \"\" for none. [env: COINSUPER_PROXY; else "
                      "HTTPS_PROXY, ALL_PROXY, NO_PROXY... as curl reads them]"),
    VERBOSE_OPTION,
    click.option("--record", metavar="PATH",
                 callback=checked(_lazy(".recording", "check_path")),
                 help="Also append every message received, as received, to PATH (.gz: "
                      "gzip, .zst: zstandard; strftime fields like %Y-%m-%d rotate it, "
                      "UTC). Play it with `coinsuper replay`. A full disk is exit 7."),
)
STREAM_FIELDS = tuple(field.name for field in dataclasses.fields(StreamOptions))


def warn_password_in_argv(ctx: click.Context, name: str, instead: str) -> None:
    """One warning when option `name`'s URL, given on the command line, holds a
    password: every user of the machine can read arguments (ps, /proc/PID/cmdline)."""
    value = ctx.params.get(name)
    if not value or ctx.get_parameter_source(name) != click.core.ParameterSource.COMMANDLINE:
        return
    try:
        password = urlsplit(value if "://" in value else "http://" + value).password
    except ValueError:
        return  # its own check has said what is wrong with it
    if password is not None:
        warn(f"--{name.replace('_', '-')} holds a password, and the command line shows "
             f"in ps; prefer {instead}")


def stream_options(command):
    """Adds the shared options and hands the command one StreamOptions."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        opts = StreamOptions(**{name: kwargs.pop(name) for name in STREAM_FIELDS})
        ctx = click.get_current_context()
        if ctx.get_parameter_source("secret_key") == click.core.ParameterSource.COMMANDLINE:
            warn("--secret-key on the command line shows in ps; prefer "
                 "COINSUPER_SECRET_KEY")
        warn_password_in_argv(ctx, "url", "COINSUPER_URL or the config file's url")
        warn_password_in_argv(ctx, "proxy", "COINSUPER_PROXY or the config file's proxy")
        if opts.insecure:
            warn("--insecure: TLS certificates are not verified")
        return command(*args, opts=opts, **kwargs)

    for option in reversed(STREAM_OPTIONS):
        wrapper = option(wrapper)
    return output_options(wrapper)


symbol_convert = checked(exchange.normalise_symbol)


def symbols_argument(command):
    def convert(ctx, param, values):
        if not values:
            raise click.BadParameter("give at least one symbol, like BTC_USD", ctx, param)
        return tuple(dict.fromkeys(symbol_convert(ctx, param, v) for v in values))

    return click.argument("symbols", nargs=-1, metavar="SYMBOL...", callback=convert,
                          shell_complete=complete_symbols)(command)


class AliasedGroup(click.Group):
    def get_command(self, ctx, name):
        return super().get_command(ctx, ALIASES.get(name, name))

    def resolve_command(self, ctx, args):
        name, command, args = super().resolve_command(ctx, args)
        return command.name if command else name, command, args


@dataclass(frozen=True)
class App:
    """What every command gets from the group: the process's environment, and whether
    it is only planning (`topics`)."""

    env: Environment
    dry_run: bool = False


pass_app = click.make_pass_decorator(App)


@click.group(cls=AliasedGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="coinsuper")
@click.pass_context
def cli(ctx):
    """Stream the Coinsuper exchange's real-time data: market depth, order book, candles
    and trades, and your own balances, orders and fills.

    Pipe it: `coinsuper trades BTC_USD --sandbox | jq .price`. Try it on the embedded
    simulated exchange with --sandbox, or run one with `coinsuper sandbox`. Keep what you
    see with --record, and play it again with `coinsuper replay`.

    \b
    Exit codes: 0 done (--count, --timeout, q, the pipe's reader gone), 1 a bug,
    2 bad usage, 3 sign-in refused, 4 cannot connect, 5 subscription refused,
    6 --count not reached in --timeout, 7 cannot write (a recording, stdout),
    130 Ctrl-C, 143 SIGTERM, 129 SIGHUP (each after an orderly stop).
    """
    if ctx.obj is None:
        ctx.obj = App(Environment.of_process(
            lambda text: click.prompt(text, hide_input=True, err=True),
            command=public_command(sys.argv[1:])))


SECRET_OPTIONS = ("--secret-key",)
MASKED_OPTIONS = ("--access-key",)


def public_command(argv: list[str]) -> tuple[str, ...]:
    """The command line as a recording may keep it: no secret key, the access key
    masked, no credentials in a URL."""
    from .plans import mask
    from .transport import redact_url

    public: list[str] = []
    hide = None
    for arg in argv:
        name, eq, value = arg.partition("=")
        if hide is not None:
            public.append(hide(arg))
            hide = None
        elif name in SECRET_OPTIONS + MASKED_OPTIONS and not eq:
            public.append(arg)
            hide = (lambda v: "***") if name in SECRET_OPTIONS else mask
        elif name in SECRET_OPTIONS and eq:
            public.append(f"{name}=***")
        elif name in MASKED_OPTIONS and eq:
            public.append(f"{name}={mask(value)}")
        else:
            public.append(redact_url(arg) if "://" in arg else arg)
    return tuple(public)


def _run(opts: StreamOptions, wanted: Wanted) -> None:
    app = click.get_current_context().find_object(App)
    core.stream(app.env, opts, wanted, dry_run=app.dry_run)


@cli.command()
@symbols_argument
@stream_options
def depth(symbols, opts):
    """Market depth: cumulative bids and asks around the mid price."""
    _run(opts, Wanted(public=("depth",), symbols=symbols))


@cli.command(short_help="Order book: the best 15 levels a side. Alias: orderbook.")
@symbols_argument
@click.option("--step", callback=checked(exchange.validate_step),
              shell_complete=complete_steps,
              help="Price aggregation step. [default: 0.01 for fiat quotes, 0.00000001 for "
                   "crypto quotes]")
@stream_options
def book(symbols, step, opts):
    """Order book: the best 15 asks and bids, aggregated by --step. Alias: orderbook."""
    _run(opts, Wanted(public=("book",), symbols=symbols, step=step))


@cli.command(short_help="Candles of an interval. Alias: candles.")
@symbols_argument
@click.option("--interval", "range_ms", default="1m", show_default=True,
              shell_complete=complete_intervals,
              callback=checked(exchange.parse_interval),
              help="1m 5m 15m 30m 1h 2h 4h 6h 12h 1d 1w, or milliseconds.")
@stream_options
def kline(symbols, range_ms, opts):
    """Candles: the current candle of --interval, as the exchange updates it.
    Alias: candles."""
    _run(opts, Wanted(public=("kline",), symbols=symbols, range_ms=range_ms))


@cli.command(short_help="Trades, each once, oldest first. Alias: tickers.")
@symbols_argument
@stream_options
def trades(symbols, opts):
    """Trades: one record per trade, each once although pushes repeat the latest 50,
    oldest first. Alias: tickers."""
    _run(opts, Wanted(public=("trade",), symbols=symbols))


@cli.command()
@stream_options
def assets(opts):
    """Your balances as they change (needs credentials)."""
    _run(opts, Wanted(private=("asset",)))


@cli.command()
@stream_options
def orders(opts):
    """Your orders as they change (needs credentials)."""
    _run(opts, Wanted(private=("order",)))


@cli.command()
@stream_options
def fills(opts):
    """Your own fills (needs credentials)."""
    _run(opts, Wanted(private=("fill",)))


@cli.command()
@click.argument("symbol", callback=symbol_convert, shell_complete=complete_symbols)
@stream_options
def watch(symbol, opts):
    """Depth, order book, candles and trades of one symbol together."""
    _run(opts, Wanted(public=("depth", "book", "kline", "trade"), symbols=(symbol,)))


@cli.command()
@stream_options
def account(opts):
    """Balances, orders and fills together, on one connection (needs credentials)."""
    _run(opts, Wanted(private=("asset", "order", "fill")))


def alerts_option(ctx, param, values: tuple[str, ...]) -> tuple[str, ...]:
    """Each --alert checked as it is parsed; the command gets the expressions."""
    from .markets.alerts import parse_alert

    for value in values:
        try:
            parse_alert(value, option="--alert")
        except UsageError as error:
            raise click.BadParameter(str(error).removeprefix("--alert: "), ctx,
                                     param) from None
    return values


@cli.command(short_help="Many markets at a glance: prices, day change, spread, holdings, "
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
    from .markets.command import MarketsOptions, markets as run_markets

    settings = click.get_current_context().meta.get("coinsuper.settings", {})

    def setting(key, default=()):
        found = settings.get(key)
        return default if found is None else found.value

    run_markets(app.env, opts, MarketsOptions(
        symbols, alerts, only_alerts, quote, watchlist=setting("watchlist"),
        lots=setting("lots"), config_alerts=setting("alerts")), dry_run=app.dry_run)


def comma_names(value: str | None) -> tuple[str, ...]:
    """NAME,NAME...: each once, in order, without blanks or empty names."""
    return tuple(dict.fromkeys(v.strip() for v in (value or "").split(",") if v.strip()))


def relay_channels_option(ctx, param, value: str) -> tuple[str, ...]:
    from .channels import PUBLIC

    names = comma_names(value)
    unknown = [n for n in names if n not in PUBLIC]
    if unknown or not names:
        what = f"unknown channel {unknown[0]!r}" if unknown else "no channel"
        raise click.BadParameter(f"{what}: use some of {','.join(PUBLIC)} (--private adds "
                                 "the private ones)", ctx, param)
    return names


@cli.command(short_help="Relay the exchange's topics into an MQTT broker or Redis "
                        "streams, for many consumers.")
@symbols_argument
@click.option("--to", "to", required=True, metavar="URL", envvar="COINSUPER_RELAY_TO",
              callback=checked(_lazy(".relay.registry", "check_target_url")),
              help="The target: an MQTT broker (mqtt://, mqtts://, ws:// or wss://, with "
                   "USER:PASSWORD@ if it wants them) or Redis (redis[s]://[:PASSWORD@]HOST"
                   "[:PORT][/DB]: a stream per topic); prefer the environment for "
                   "passwords: arguments show in ps. [env: COINSUPER_RELAY_TO]")
@click.option("--channels", "channel_names", default="depth,book,kline,trade",
              show_default=True, callback=relay_channels_option, metavar="NAME,...",
              shell_complete=complete_channels, help="Public channels to relay.")
@click.option("--step", callback=checked(exchange.validate_step),
              shell_complete=complete_steps, help="The order book's step (see `book`).")
@click.option("--interval", "range_ms", default="1m", show_default=True,
              shell_complete=complete_intervals, callback=checked(exchange.parse_interval),
              help="The candles' interval (see `kline`).")
@click.option("--private", is_flag=True, is_eager=True, callback=config_callback,
              help="Also relay your balances, orders and fills (needs credentials): "
                   "whoever can read the target broker reads them.")
@click.option("--to-qos", type=click.IntRange(0, 2), default=0, show_default=True,
              help="QoS of the messages published to the target.")
@click.option("--buffer", type=click.IntRange(min=1), default=5000, show_default=True,
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
    from .relay.command import RelayOptions, relay as run_relay

    warn_password_in_argv(click.get_current_context(), "to", "COINSUPER_RELAY_TO")
    run_relay(app.env, opts, RelayOptions(
        to, symbols, channel_names, private, step, range_ms, to_qos, buffer, normalized,
        markets=markets, max_len=max_len), dry_run=app.dry_run)


def symbols_option(ctx, param, value: str | None):
    if value is None:
        return None
    return tuple(dict.fromkeys(symbol_convert(ctx, param, v) for v in value.split(",") if v))


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; 0.0.0.0 or :: reaches beyond this machine "
                   "(with a warning).")
@click.option("--ws-port", type=click.IntRange(0, 65535), default=9001, show_default=True,
              help="MQTT over WebSocket port; 0 picks a free one.")
@click.option("--tcp-port", type=click.IntRange(0, 65535), default=1883, show_default=True,
              help="MQTT over TCP port; 0 picks a free one.")
@click.option("--speed", type=Finite(min=0.01, max=1000), default=1.0,
              show_default=True,
              help="Run the market and its pushes (or the --replay) this many times faster.")
@click.option("--seed", type=int, default=1, show_default=True,
              help="Seed of the simulation and of the demo account's keys.")
@click.option("--symbols", callback=symbols_option, shell_complete=complete_symbol_list,
              help="Comma-separated symbols to simulate. [default: BTC_USD,ETH_USD,ETH_BTC,"
                   "...]")
@click.option("--env", "env_prefix", envvar="COINSUPER_ENV", default=exchange.DEFAULT_ENV,
              show_default=True, callback=checked(exchange.validate_env),
              help="Topic prefix. [env: COINSUPER_ENV]")
@click.option("--certfile", type=click.Path(exists=True, dir_okay=False),
              help="Serve TLS (wss://, mqtts://) with this PEM certificate chain; it holds "
                   "the unencrypted private key too unless --keyfile is given.")
@click.option("--keyfile", type=click.Path(exists=True, dir_okay=False),
              help="The certificate's unencrypted private key, if not in --certfile.")
@click.option("--replay", "replay_files", multiple=True, metavar="FILE",
              callback=checked(_lazy(".replay", "expand")),
              help="Serve this recording (made with --record; repeat for several, in "
                   "time order) instead of the simulation, at its recorded pace times "
                   "--speed; private topics on the demo account's email.")
@click.option("--loop", is_flag=True, help="With --replay: start again at the end.")
@click.option("--max-gap", type=Finite(min=0), metavar="SECONDS",
              help="With --replay: wait at most this long for the next message. "
                   "[default: as recorded]")
@click.option("-v", "--verbose", is_flag=True,
              help="One log line per connection on stderr, secrets masked.")
def sandbox(host, ws_port, tcp_port, speed, seed, symbols, env_prefix, certfile, keyfile,
            replay_files, loop, max_gap, verbose):
    """Run a simulated Coinsuper exchange on this machine: the exchange's protocol, a
    matching engine's market and a demo account. Ctrl-C, SIGTERM or SIGHUP stops it
    (exit 130, 143, 129).

    Limits, so that no client can exhaust it: a new connection has 10 s to sign in;
    at most 200 kept sessions (clean session off), each forgotten after 300 s away
    (when all are taken, the one away longest makes room) and holding at most 100
    QoS 1/2 messages (the oldest dropped first); -v writes at most 20 log lines a
    second."""
    from .sandbox.run import serve
    from .sandbox.server import SandboxConfig

    if loop and not replay_files:
        raise click.BadParameter("--loop needs --replay", param_hint="--loop")
    if max_gap is not None and not replay_files:
        raise click.BadParameter("--max-gap needs --replay", param_hint="--max-gap")
    config = SandboxConfig(host=host, ws_port=ws_port, tcp_port=tcp_port, seed=seed,
                           speed=speed, env=env_prefix, log=warn if verbose else None,
                           replay=tuple(replay_files or ()), loop=loop, max_gap=max_gap)
    if symbols:
        config.symbols = symbols
    serve(config, certfile=certfile, keyfile=keyfile, announce=click.echo)


def speed_option(ctx, param, value: str | None) -> float | None:
    """--speed X (a positive number) or max; 0 stands for the default."""
    if value is None:
        return 0.0
    if value == "max":
        return None
    try:
        speed = float(value)
    except ValueError:
        speed = float("nan")
    if not math.isfinite(speed) or not 0 < speed <= 10_000:
        raise click.BadParameter(f"{value!r}: give a number of times the recorded pace, "
                                 "like 10, or max", ctx, param)
    return speed


def channels_option(ctx, param, value: str | None) -> tuple[str, ...]:
    from .channels import CHANNELS

    names = comma_names(value)
    unknown = [n for n in names if n not in CHANNELS]
    if unknown:
        raise click.BadParameter(f"unknown channel {unknown[0]!r}: use "
                                 f"{', '.join(CHANNELS)}", ctx, param)
    return names


@cli.command(short_help="Play recordings made with --record, as the live run printed them.")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@output_options
@click.option("--speed", callback=speed_option, metavar="X|max",
              help="X times the recorded pace, or max: as fast as it goes. [default: 1 on "
                   "a terminal, max in a pipe]")
@click.option("--channel", "channel_names", callback=channels_option, metavar="NAME,...",
              shell_complete=complete_channels,
              help="Only these channels: depth, book, kline, trade, asset, order, fill.")
@click.option("--symbol", "symbols", callback=symbols_option, metavar="SYMBOL,...",
              shell_complete=complete_symbol_list,
              help="Only these symbols.")
@click.option("--from", "start", callback=checked(_lazy(".times", "parse_time_ns")),
              metavar="TIME", help="From this recorded time: ISO 8601 (UTC unless said) "
                                   "or ms since the epoch.")
@click.option("--to", "end", callback=checked(_lazy(".times", "parse_time_ns")),
              metavar="TIME", help="Up to this recorded time.")
@click.option("--max-gap", type=Finite(min=0), metavar="SECONDS",
              help="At a pace, wait at most this long for the next message (a recording "
                   "with a gap of hours). [default: as recorded]")
@click.option("--markets", "board", is_flag=True,
              help="Play a recording of `coinsuper markets` into the board: its ticker and "
                   "alert records (what that run printed), or the board on a terminal.")
@click.option("--alert", "alerts", multiple=True, metavar="EXPR", callback=alerts_option,
              help="With --markets: an alert, as `markets --alert` takes it.")
@click.option("--only-alerts", is_flag=True, help="With --markets: only the alert records.")
@VERBOSE_OPTION
@pass_app
def replay(app, files, output, speed, channel_names, symbols, start, end, max_gap, board,
           alerts, only_alerts, verbose):
    """Play recordings made with --record (several files, or a glob, in time order)
    through the same parsers, de-duplication and views as a live run. recv comes from
    the recording: `replay REC --speed max --format jsonl` prints what the recording run
    printed. In the live view, space pauses, + and - change the speed, n ends a long
    wait (a gap in the recording)."""
    if start is not None and end is not None and end <= start:
        raise click.BadParameter("--to must come after --from", param_hint="--to")
    options = core.ReplayOptions(files, output, verbose, speed, channel_names, symbols or (),
                                 start, end, max_gap)
    if not board:
        given = "--alert" if alerts else "--only-alerts" if only_alerts else None
        if given:
            raise click.BadParameter("goes with --markets", param_hint=given)
        core.replay(app.env, options)
        return
    if channel_names:
        raise click.BadParameter("--markets plays the day candles and depth; leave out "
                                 "--channel", param_hint="--channel")
    from .markets.command import MarketsOptions, replay as replay_markets

    replay_markets(app.env, options, MarketsOptions(alerts=alerts, only_alerts=only_alerts))


@cli.command(short_help="Write recordings as tardis-format csv or Parquet datasets.")
@click.argument("files", nargs=-1, required=True, metavar="REC...")
@click.option("--out", required=True, metavar="DIR",
              help="The folder the files go in (made if missing).")
@click.option("--format", "fmt", type=click.Choice(("tardis", "parquet")),
              default="tardis", show_default=True,
              help="tardis: gzip csv; parquet: typed columns, exact decimals (needs "
                   "pip install 'coinsuper-cli[parquet]').")
@click.option("--channel", "channel_names", callback=channels_option, metavar="NAME,...",
              shell_complete=complete_channels,
              help="Only these channels: trade, book, depth, kline.")
@click.option("--symbol", "symbols", callback=symbols_option, metavar="SYMBOL,...",
              shell_complete=complete_symbol_list, help="Only these symbols.")
@click.option("--from", "start", callback=checked(_lazy(".times", "parse_time_ns")),
              metavar="TIME", help="From this recorded time: ISO 8601 (UTC unless said) "
                                   "or ms since the epoch.")
@click.option("--to", "end", callback=checked(_lazy(".times", "parse_time_ns")),
              metavar="TIME", help="Up to this recorded time.")
@click.option("--overwrite", is_flag=True, help="Replace files that are there already.")
@pass_app
def export(app, files, out, fmt, channel_names, symbols, start, end, overwrite):
    """Write recordings made with --record as the datasets analysis and backtesting
    tools read: tardis-format csv, gzip, or Parquet; one file per data type, symbol and
    UTC day (coinsuper_trades_2026-12-03_BTC_USD.csv.gz). Types: trades, quotes (book and
    depth pushes), book_snapshot_5 and book_snapshot_15 (book pushes), candles (kline,
    each candle as last seen before it closed). Timestamps are microseconds since the
    epoch; decimals keep the exchange's digits. A file is complete under its name or
    absent. A progress bar on a terminal; a line of what was written at the end."""
    from .export import ExportOptions, export as run_export

    if start is not None and end is not None and end <= start:
        raise click.BadParameter("--to must come after --from", param_hint="--to")
    stderr = app.env.stderr
    done = run_export(ExportOptions(files, out, overwrite, channel_names, symbols or (),
                                    start, end, fmt), warn=warn,
                      progress_to=stderr if stderr.isatty() else None)
    rows = sum(file.rows for file in done)
    warn(f"exported {len(done)} file{'s' if len(done) != 1 else ''}, {rows:,} rows, into "
         f"{out}")


@cli.command(context_settings={"ignore_unknown_options": True,
                               "allow_interspersed_args": False})
@click.argument("command", shell_complete=complete_streaming_commands)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
@pass_app
def topics(app, ctx, command, args):
    """Print the topics, client ids and user names COMMAND would use, without
    connecting (secrets masked). Example: coinsuper topics book BTC_USD --step 0.1"""
    target = cli.get_command(ctx, command)
    if target is None or target.name in ("topics", "sandbox"):
        raise click.BadParameter(f"not a streaming command: {command}",
                                 param_hint="COMMAND")
    with target.make_context(command, list(args), parent=ctx,
                             obj=dataclasses.replace(app, dry_run=True)) as sub:
        target.invoke(sub)


@cli.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion_command(shell):
    """Print the shell completion script for SHELL: commands, options, symbols,
    intervals, steps and channels complete.

    \b
    bash: eval "$(coinsuper completion bash)"    (in ~/.bashrc)
    zsh:  eval "$(coinsuper completion zsh)"     (in ~/.zshrc, after compinit)
    fish: coinsuper completion fish > ~/.config/fish/completions/coinsuper.fish
    """
    from .completion import script

    click.echo(script(shell), nl=False)


def connection_options(command):
    """The streaming commands' options but the output's: what `config` takes."""
    for option in reversed(STREAM_OPTIONS):
        command = option(command)
    return command


@cli.command("config")
@connection_options
@click.pass_context
def config_command(ctx, **options):
    """Print the settings a streaming command would use and where each came from
    (command line, environment, profile, config file, default), secrets masked. Takes
    the streaming commands' options, so `coinsuper config --profile prod` shows what
    `coinsuper trades BTC_USD --profile prod` would use."""
    from . import config
    from .proxy import explain_proxy

    rows = config.rows(ctx, ctx.meta.get("coinsuper.settings", {}))
    url = ctx.params.get("url")
    if url:  # the proxy the connection would really take, from the environment too
        rows = [(key, *explain_proxy(url, value, source, os.environ)) if key == "proxy"
                else (key, value, source) for key, value, source in rows]
    for line in config.describe(rows):
        click.echo(line)


def config_hint(error: click.UsageError) -> str:
    """' (from config file PATH)' when the refused value came from the config file."""
    param, ctx = getattr(error, "param", None), error.ctx
    if ctx is None or param is None or param.name is None:
        return ""
    if ctx.get_parameter_source(param.name) is not click.core.ParameterSource.DEFAULT_MAP:
        return ""
    setting = ctx.meta.get("coinsuper.settings", {}).get(param.name)
    return f" (from {setting.source})" if setting is not None else ""


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; every way out of it passes here and gets its exit code."""
    argv = sys.argv[1:] if argv is None else argv
    verbose = "-v" in argv or "--verbose" in argv
    try:
        cli.main(argv, prog_name="coinsuper", standalone_mode=False)
        return ExitStatus.OK
    except click.exceptions.Abort:
        return ExitStatus.INTERRUPTED
    except click.UsageError as error:
        # One line that names the option, not Click's three-line usage block: it is what
        # a script's log keeps. --help is one step away and the line says where.
        command = error.ctx.command_path if error.ctx is not None else "coinsuper"
        warn(f"{error.format_message()}{config_hint(error)} (see '{command} --help')")
        return error.exit_code
    except click.ClickException as error:
        error.show()
        return error.exit_code
    except Finished:
        return ExitStatus.OK
    except CoinsuperError as error:
        warn(str(error))
        return exit_status(error)
    except MQTTError as error:
        warn(f"MQTT protocol error from the broker: {error}")
        return exit_status(error)
    except KeyboardInterrupt:
        return ExitStatus.INTERRUPTED
    except StopSignal as error:  # after the same orderly stop as Ctrl-C (signals.py)
        if verbose:
            import signal

            warn(f"stopped by {signal.Signals(error.signum).name}")
        return exit_status(error)
    except Exception as error:
        if verbose:
            import traceback

            traceback.print_exc()
        warn(f"unexpected error: {type(error).__name__}: {error} "
             "(a bug: please report it; -v shows the traceback)")
        return ExitStatus.ERROR


def run() -> None:
    """The console script: SIGTERM and SIGHUP stop it as Ctrl-C does, and a failure to
    write stdout names stdout (exit 7) wherever it happens."""
    from . import signals

    signals.install()
    core.guard_stdout()
    sys.exit(main())
