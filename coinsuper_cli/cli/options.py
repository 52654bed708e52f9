# The options the commands share, each declared once, and the checks that run as they
# are parsed: a bad value is exit 2 with one line naming the option. A streaming command
# gets one StreamOptions and one OutputOptions (core.py), built from its parameters,
# whose names are those dataclasses' fields. Validators of heavier modules are imported
# when first called (`lazy`), so that --help and --version stay quick.
from __future__ import annotations

import dataclasses
import functools
import importlib
import math
import os
from dataclasses import dataclass
from urllib.parse import urlsplit

import click

from ..api import exchange
from ..errors import UsageError
from ..mqtt import DEFAULT_MAX_PACKET
from ..output.options import FORMATS, OutputOptions
from ..output.times import TIME_FORMATS
from ..printable import printable
from .completion import (complete_channels, complete_intervals, complete_steps,
                         complete_symbol_list, complete_symbols)
from .core import Environment, StreamOptions


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


def lazy(module: str, name: str):
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
    click.option("--since", callback=checked(lazy("..output.times", "parse_since")),
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


def private_commands() -> frozenset[str]:
    """The commands with private channels: only they take the secret key from the config
    file, so that a public command never runs a secret_key_command (a password manager).
    Each private channel's command, and `account`, which streams them all."""
    from ..api.channels import CHANNELS

    return frozenset({c.command for c in CHANNELS.values() if c.private} | {"account"})


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
        secret = ctx.command.name in private_commands() or bool(seen.get("private"))
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


# Every option the streaming commands share, each declared once; the parameter names are
# the fields of core.StreamOptions.
STREAM_OPTIONS = (
    *CONFIG_OPTIONS,
    click.option("--url", envvar="COINSUPER_URL", default=exchange.DEFAULT_URL,
                 show_default=True, callback=checked(lazy("..urls", "check_url")),
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
    click.option("--max-packet", type=click.IntRange(min=1024), default=DEFAULT_MAX_PACKET,
                 show_default=True, help="Largest MQTT packet accepted, in bytes."),
    click.option("--insecure", is_flag=True, help="Do not verify TLS certificates."),
    click.option("--cafile", type=click.Path(exists=True, dir_okay=False),
                 callback=checked(lazy("..net.tls", "check_cafile")),
                 help="Trust the certificate authorities in this PEM file."),
    click.option("--cert", type=click.Path(exists=True, dir_okay=False),
                 callback=checked(lazy("..net.tls", "check_cert")),
                 help="A TLS client certificate (PEM; with its key unless --key)."),
    click.option("--key", type=click.Path(exists=True, dir_okay=False),
                 callback=checked(lazy("..net.tls", "check_key")),
                 help="The client certificate's private key (PEM, unencrypted)."),
    click.option("--proxy", envvar="COINSUPER_PROXY", metavar="URL",
                 callback=checked(lambda value: value and lazy("..net.proxy", "check_proxy_url")(
                     value)),
                 help="Connect through this proxy: http://, socks5:// or socks5h:// (names "
                      "resolved at the proxy); \"\" for none. [env: COINSUPER_PROXY; else "
                      "HTTPS_PROXY, ALL_PROXY, NO_PROXY... as curl reads them]"),
    VERBOSE_OPTION,
    click.option("--record", metavar="PATH",
                 callback=checked(lazy("..recordings.writer", "check_path")),
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


def connection_options(command):
    """The streaming commands' options but the output's: what `config` takes."""
    for option in reversed(STREAM_OPTIONS):
        command = option(command)
    return command


symbol_convert = checked(exchange.normalise_symbol)


def symbols_argument(command):
    def convert(ctx, param, values):
        if not values:
            raise click.BadParameter("give at least one symbol, like BTC_USD", ctx, param)
        return tuple(dict.fromkeys(symbol_convert(ctx, param, v) for v in values))

    return click.argument("symbols", nargs=-1, metavar="SYMBOL...", callback=convert,
                          shell_complete=complete_symbols)(command)


def symbols_option(ctx, param, value: str | None):
    if value is None:
        return None
    return tuple(dict.fromkeys(symbol_convert(ctx, param, v) for v in value.split(",") if v))


def comma_names(value: str | None) -> tuple[str, ...]:
    """NAME,NAME...: each once, in order, without blanks or empty names."""
    return tuple(dict.fromkeys(v.strip() for v in (value or "").split(",") if v.strip()))


def channels_option(ctx, param, value: str | None) -> tuple[str, ...]:
    from ..api.channels import CHANNELS

    names = comma_names(value)
    unknown = [n for n in names if n not in CHANNELS]
    if unknown:
        raise click.BadParameter(f"unknown channel {unknown[0]!r}: use "
                                 f"{', '.join(CHANNELS)}", ctx, param)
    return names


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


def alerts_option(ctx, param, values: tuple[str, ...]) -> tuple[str, ...]:
    """Each --alert checked as it is parsed; the command gets the expressions."""
    from ..markets.alerts import parse_alert

    for value in values:
        try:
            parse_alert(value, option="--alert")
        except UsageError as error:
            raise click.BadParameter(str(error).removeprefix("--alert: "), ctx,
                                     param) from None
    return values


@dataclass(frozen=True)
class App:
    """What every command gets from the group: the process's environment, and whether
    it is only planning (`topics`)."""

    env: Environment
    dry_run: bool = False


pass_app = click.make_pass_decorator(App)


def step_option(help: str = "Price aggregation step. [default: 0.01 for fiat quotes, "
                            "0.00000001 for crypto quotes]"):
    """--step: the order book's aggregation (a `{step}` topic field)."""
    return click.option("--step", callback=checked(exchange.validate_step),
                        shell_complete=complete_steps, help=help)


def interval_option(help: str = "1m 5m 15m 30m 1h 2h 4h 6h 12h 1d 1w, or milliseconds."):
    """--interval: the candles' range (a `{range}` topic field), as `range_ms`."""
    return click.option("--interval", "range_ms", default="1m", show_default=True,
                        shell_complete=complete_intervals,
                        callback=checked(exchange.parse_interval), help=help)


def selection_options(channels_help: str):
    """--channel, --symbol, --from and --to: which messages of recordings `replay` and
    `export` read. The command gets channel_names, symbols, start and end (ns); --to
    before --from is refused."""
    def decorate(command):
        @functools.wraps(command)
        def wrapper(*args, start, end, **kwargs):
            if start is not None and end is not None and end <= start:
                raise click.BadParameter("--to must come after --from", param_hint="--to")
            return command(*args, start=start, end=end, **kwargs)

        parse_time = checked(lazy("..output.times", "parse_time_ns"))
        for option in reversed((
                click.option("--channel", "channel_names", callback=channels_option,
                             metavar="NAME,...", shell_complete=complete_channels,
                             help=channels_help),
                click.option("--symbol", "symbols", callback=symbols_option,
                             metavar="SYMBOL,...", shell_complete=complete_symbol_list,
                             help="Only these symbols."),
                click.option("--from", "start", callback=parse_time, metavar="TIME",
                             help="From this recorded time: ISO 8601 (UTC unless said) "
                                  "or ms since the epoch."),
                click.option("--to", "end", callback=parse_time, metavar="TIME",
                             help="Up to this recorded time."))):
            wrapper = option(wrapper)
        return wrapper
    return decorate

