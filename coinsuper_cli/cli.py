# The command line: a thin Click layer that turns options into plans, runs them, and
# maps every failure to PRODUCT.md's exit codes in `main`, the one place that does so.
from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass

import click

from . import __version__, exchange
from .errors import CoinsuperError, ExitStatus, Finished, UsageError, exit_status
from .mqtt.errors import MQTTError

FORMATS = ("live", "jsonl", "raw")
ALIASES = {"orderbook": "book", "candles": "kline", "tickers": "trades"}


def warn(text: str) -> None:
    click.echo(f"coinsuper: {text}", err=True)


@dataclass
class StreamOptions:
    """Every option the streaming commands share, gathered in one value."""

    format: str
    count: int | None
    timeout: float | None
    url: str
    env: str
    sandbox: bool
    qos: int
    keepalive: int
    email: str | None
    access_key: str | None
    secret_key: str | None
    insecure: bool
    cafile: str | None
    verbose: bool
    retries: int | None
    stale_after: float
    max_packet: int


def stream_options(command):
    """Adds the shared options and hands the command one StreamOptions."""
    options = [
        click.option("--format", "fmt", type=click.Choice(FORMATS),
                     help="live: a full-screen view; jsonl: one JSON object per record; "
                          "raw: payloads as received. [default: live on a terminal, "
                          "else jsonl]"),
        click.option("--count", type=click.IntRange(min=1), help="Stop after N records."),
        click.option("--timeout", type=click.FloatRange(min=0, min_open=True),
                     help="Stop after SECONDS."),
        click.option("--url", envvar="COINSUPER_URL", default=exchange.DEFAULT_URL,
                     show_default=True, help="Broker: wss://, ws://, mqtts:// or mqtt://. "
                     "[env: COINSUPER_URL]"),
        click.option("--env", "env_prefix", envvar="COINSUPER_ENV",
                     default=exchange.DEFAULT_ENV, show_default=True,
                     callback=checked(exchange.validate_env),
                     help="Topic prefix. [env: COINSUPER_ENV]"),
        click.option("--sandbox", is_flag=True,
                     help="Run the simulated exchange in-process and stream from it."),
        click.option("--qos", type=click.IntRange(0, 2), default=0, show_default=True,
                     help="Subscription QoS."),
        click.option("--keepalive", type=click.IntRange(0, 65535), default=60,
                     show_default=True, help="MQTT keepalive in seconds (PINGREQ)."),
        click.option("--email", envvar="COINSUPER_EMAIL", help="[env: COINSUPER_EMAIL]"),
        click.option("--access-key", envvar="COINSUPER_ACCESS_KEY",
                     help="[env: COINSUPER_ACCESS_KEY]"),
        click.option("--secret-key", envvar="COINSUPER_SECRET_KEY",
                     help="Prefer the environment: arguments show in ps. "
                          "[env: COINSUPER_SECRET_KEY]"),
        click.option("--retries", type=click.IntRange(min=0),
                     help="Reconnect attempts after a lost link before exit 4. "
                          "[default: forever]"),
        click.option("--stale-after", type=click.FloatRange(min=0), default=15.0,
                     show_default=True, help="Reconnect when a market topic is silent this "
                     "many seconds; 0: never."),
        click.option("--max-packet", type=click.IntRange(min=1024), default=1024 * 1024,
                     show_default=True, help="Largest MQTT packet accepted, in bytes."),
        click.option("--insecure", is_flag=True, help="Do not verify TLS certificates."),
        click.option("--cafile", type=click.Path(exists=True, dir_okay=False),
                     help="Trust the certificate authorities in this PEM file."),
        click.option("-v", "--verbose", is_flag=True,
                     help="Connection log on stderr (secrets masked); raw: topic first."),
    ]

    @functools.wraps(command)
    def wrapper(*args, fmt, count, timeout, url, env_prefix, sandbox, qos, keepalive,
                email, access_key, secret_key, retries, stale_after, max_packet, insecure,
                cafile, verbose, **kwargs):
        ctx = click.get_current_context()
        if ctx.get_parameter_source("secret_key") == click.core.ParameterSource.COMMANDLINE:
            warn("--secret-key on the command line shows in ps; prefer "
                 "COINSUPER_SECRET_KEY")
        if insecure:
            warn("--insecure: TLS certificates are not verified")
        opts = StreamOptions(
            format=fmt or ("live" if sys.stdout.isatty() else "jsonl"), count=count,
            timeout=timeout, url=url, env=env_prefix,
            sandbox=sandbox, qos=qos, keepalive=keepalive,
            email=email, access_key=access_key, secret_key=secret_key, insecure=insecure,
            cafile=cafile, verbose=verbose,
            retries=retries, stale_after=stale_after, max_packet=max_packet,
        )
        return command(*args, opts=opts, **kwargs)

    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


def checked(validate):
    """A Click callback that runs one of the exchange's validators on a value, so that
    anything that could change a topic is refused as bad usage (exit 2)."""
    def callback(ctx, param, value):
        if value is None:
            return None
        try:
            return validate(value)
        except exchange.InvalidArgument as error:
            raise click.BadParameter(str(error), ctx, param) from None
    return callback


symbol_convert = checked(exchange.normalise_symbol)


def symbols_argument(command):
    def convert(ctx, param, values):
        if not values:
            raise click.BadParameter("give at least one symbol, like BTC_USD", ctx, param)
        return tuple(dict.fromkeys(symbol_convert(ctx, param, v) for v in values))

    return click.argument("symbols", nargs=-1, metavar="SYMBOL...", callback=convert)(command)


class AliasedGroup(click.Group):
    def get_command(self, ctx, name):
        return super().get_command(ctx, ALIASES.get(name, name))

    def resolve_command(self, ctx, args):
        name, command, args = super().resolve_command(ctx, args)
        return command.name if command else name, command, args


@click.group(cls=AliasedGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="coinsuper")
@click.pass_context
def cli(ctx):
    """Stream the Coinsuper exchange's real-time data: market depth, order book, candles
    and trades, and your own balances, orders and fills.

    Pipe it: `coinsuper trades BTC_USD --sandbox | jq .price`. Try it on the embedded
    simulated exchange with --sandbox, or run one with `coinsuper sandbox`.
    """
    ctx.ensure_object(dict)


@dataclass(frozen=True)
class Wanted:
    """What a command asks for: public channels of some symbols, or private channels
    (all on one connection, as the exchange allows one per access key)."""

    public: tuple[str, ...] = ()
    symbols: tuple[str, ...] = ()
    private: tuple[str, ...] = ()
    step: str | None = None
    range_ms: int | None = None


def _run(opts: StreamOptions, wanted: Wanted) -> None:
    """Plan the connections, then print them (`topics`) or stream them."""
    ctx = click.get_current_context()
    dry_run = ctx.find_root().obj.get("dry_run", False)
    if (wanted.private and not opts.sandbox and opts.email and opts.access_key
            and not opts.secret_key and sys.stdin.isatty()):
        opts.secret_key = click.prompt("Secret key", hide_input=True, err=True)
    sandbox = None
    if opts.sandbox and dry_run:
        _plan_for_sandbox(opts)
    elif opts.sandbox:
        sandbox = _start_sandbox(opts)
    try:
        _stream(opts, wanted, dry_run)
    finally:
        if sandbox is not None:
            sandbox.stop()


def _plan(opts: StreamOptions, wanted: Wanted) -> list:
    # Imported here, not at the top: `--help` and `--version` need none of it.
    from . import plans
    from .transport import check_url

    target = plans.Target(check_url(opts.url), opts.env, opts.qos, opts.keepalive,
                          plans.Credentials(opts.email, opts.access_key, opts.secret_key))
    if wanted.private:
        return [plans.private_plan(target, wanted.private)]
    return [plans.public_plan(target, channel, symbol, step=wanted.step,
                              range_ms=wanted.range_ms)
            for channel in wanted.public for symbol in wanted.symbols]


def _stream(opts: StreamOptions, wanted: Wanted, dry_run: bool) -> None:
    plans = _plan(opts, wanted)
    if dry_run:
        from .plans import describe

        for i, plan in enumerate(plans, 1):
            click.echo(f"connection {i}")
            for line in describe(plan):
                click.echo(f"  {line}")
        return
    if opts.format == "live" and not sys.stdout.isatty():
        raise UsageError("--format live needs a terminal on stdout; use jsonl or raw in a "
                         "pipe")
    from .output import Output
    from .runner import RunOptions, run_connections
    from .transport import TLSOptions

    run_options = RunOptions(
        tls=TLSOptions(insecure=opts.insecure, cafile=opts.cafile),
        max_packet=opts.max_packet, retries=opts.retries,
        stale_after=opts.stale_after or None, warn=warn, log=warn if opts.verbose else None)
    if opts.format == "live":
        from .live.app import run_live  # rich is imported here, in live mode only

        run_live(plans, run_options, sandbox=opts.sandbox, verbose=opts.verbose,
                 count=opts.count, timeout=opts.timeout)
        return
    # A large buffer of our own: the runner flushes once per chunk received, so a burst
    # of messages costs one write, not one per line.
    stdout = open(sys.stdout.fileno(), "wb", buffering=256 * 1024, closefd=False)
    output = Output(stdout, fmt=opts.format, count=opts.count,
                    with_topic=opts.verbose and opts.format == "raw", warn=warn)
    try:
        try:
            run_connections(plans, run_options, output.deliver, output.flush, opts.timeout)
        finally:
            output.flush()
    except BrokenPipeError:
        # The reader went away (| head): a quiet success. Caught here, before Click's
        # own EPIPE handling turns it into exit 1; stdout now points at /dev/null so
        # that the interpreter's last flush has nowhere to fail.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise Finished("the reader of stdout went away") from None


def _plan_for_sandbox(opts: StreamOptions) -> None:
    """`topics ... --sandbox`: the demo account, and the port as 0, which stands for the
    free port a real run would pick; nothing is started."""
    from .sandbox.account import demo_account
    from .sandbox.server import SandboxConfig

    account = demo_account(SandboxConfig.seed)
    opts.url = "ws://127.0.0.1:0/mqtt"
    opts.email, opts.access_key = account.email, account.access_key
    opts.secret_key = account.secret_key


def _start_sandbox(opts: StreamOptions):
    from .sandbox.server import SandboxConfig, start_in_thread

    sandbox = start_in_thread(SandboxConfig(ws_port=0, tcp_port=0, env=opts.env))
    opts.url = sandbox.ws_url
    account = sandbox.account
    opts.email, opts.access_key = account.email, account.access_key
    opts.secret_key = account.secret_key
    if opts.verbose:
        warn(f"sandbox listening on {sandbox.ws_url} and {sandbox.tcp_url}")
    return sandbox


@cli.command()
@symbols_argument
@stream_options
def depth(symbols, opts):
    """Market depth: cumulative bids and asks around the mid price."""
    _run(opts, Wanted(public=("depth",), symbols=symbols))


@cli.command(short_help="Order book: the best 15 levels a side. Alias: orderbook.")
@symbols_argument
@click.option("--step", callback=checked(exchange.validate_step),
              help="Price aggregation step. [default: 0.01 for fiat quotes, 0.00000001 for "
                   "crypto quotes]")
@stream_options
def book(symbols, step, opts):
    """Order book: the best 15 asks and bids, aggregated by --step. Alias: orderbook."""
    _run(opts, Wanted(public=("book",), symbols=symbols, step=step))


@cli.command(short_help="Candles of an interval. Alias: candles.")
@symbols_argument
@click.option("--interval", "range_ms", default="1m", show_default=True,
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
@click.argument("symbol", callback=symbol_convert)
@stream_options
def watch(symbol, opts):
    """Depth, order book, candles and trades of one symbol together."""
    _run(opts, Wanted(public=("depth", "book", "kline", "trade"), symbols=(symbol,)))


@cli.command()
@stream_options
def account(opts):
    """Balances, orders and fills together, on one connection (needs credentials)."""
    _run(opts, Wanted(private=("asset", "order", "fill")))


def symbols_option(ctx, param, value: str | None):
    if value is None:
        return None
    return tuple(dict.fromkeys(symbol_convert(ctx, param, v) for v in value.split(",") if v))


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--ws-port", type=click.IntRange(0, 65535), default=9001, show_default=True,
              help="MQTT over WebSocket port; 0 picks a free one.")
@click.option("--tcp-port", type=click.IntRange(0, 65535), default=1883, show_default=True,
              help="MQTT over TCP port; 0 picks a free one.")
@click.option("--speed", type=click.FloatRange(min=0.01, max=1000), default=1.0,
              show_default=True, help="Run the market and its pushes this many times faster.")
@click.option("--seed", type=int, default=1, show_default=True,
              help="Seed of the simulation and of the demo account's keys.")
@click.option("--symbols", callback=symbols_option,
              help="Comma-separated symbols to simulate. [default: BTC_USD,ETH_USD,ETH_BTC,"
                   "...]")
@click.option("--env", "env_prefix", envvar="COINSUPER_ENV", default=exchange.DEFAULT_ENV,
              show_default=True, callback=checked(exchange.validate_env),
              help="Topic prefix. [env: COINSUPER_ENV]")
@click.option("--certfile", type=click.Path(exists=True, dir_okay=False),
              help="Serve TLS (wss://, mqtts://) with this PEM certificate chain.")
@click.option("--keyfile", type=click.Path(exists=True, dir_okay=False),
              help="The certificate's private key, if not in --certfile.")
@click.option("-v", "--verbose", is_flag=True, help="One log line per connection on stderr.")
def sandbox(host, ws_port, tcp_port, speed, seed, symbols, env_prefix, certfile, keyfile,
            verbose):
    """Run a simulated Coinsuper exchange on this machine: the exchange's protocol, a
    matching engine's market and a demo account. Ctrl-C stops it."""
    import asyncio
    import shlex

    from .sandbox.server import Sandbox, SandboxConfig

    config = SandboxConfig(host=host, ws_port=ws_port, tcp_port=tcp_port, seed=seed,
                           speed=speed, env=env_prefix, log=warn if verbose else None)
    if keyfile and not certfile:
        raise click.BadParameter("--keyfile needs --certfile", param_hint="--keyfile")
    if certfile:
        import ssl

        config.ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        config.ssl_context.load_cert_chain(certfile, keyfile)
    if symbols:
        config.symbols = symbols

    async def serve():
        server = Sandbox(config)
        try:
            await server.start()
        except OSError as error:
            raise UsageError(f"cannot listen on {host}: {error.strerror or error}") from None
        account = server.account
        click.echo(f"Coinsuper sandbox: simulated market data, not the real exchange\n"
                   f"  symbols          {' '.join(server.market.symbols)}\n"
                   f"  MQTT over WS     {server.ws_url}\n"
                   f"  MQTT over TCP    {server.tcp_url}\n\n"
                   "# Paste into another shell (sandbox secrets, made to be shown):")
        for name, value in (("URL", server.ws_url), ("EMAIL", account.email),
                            ("ACCESS_KEY", account.access_key),
                            ("SECRET_KEY", account.secret_key)):
            click.echo(f"export COINSUPER_{name}={shlex.quote(value)}")
        sys.stdout.flush()
        try:
            await server.serve_forever()
        finally:
            await server.stop()

    asyncio.run(serve())


@cli.command(context_settings={"ignore_unknown_options": True,
                               "allow_interspersed_args": False})
@click.argument("command")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def topics(ctx, command, args):
    """Print the topics, client ids and user names COMMAND would use, without
    connecting (secrets masked). Example: coinsuper topics book BTC_USD --step 0.1"""
    target = cli.get_command(ctx, command)
    if target is None or target.name in ("topics", "sandbox"):
        raise click.BadParameter(f"not a streaming command: {command}",
                                 param_hint="COMMAND")
    ctx.find_root().obj["dry_run"] = True
    with target.make_context(command, list(args), parent=ctx) as sub:
        target.invoke(sub)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; every way out of it passes here and gets its exit code."""
    argv = sys.argv[1:] if argv is None else argv
    verbose = "-v" in argv or "--verbose" in argv
    try:
        cli.main(argv, prog_name="coinsuper", standalone_mode=False)
        return ExitStatus.OK
    except click.exceptions.Abort:
        return ExitStatus.INTERRUPTED
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
    except Exception as error:
        if verbose:
            import traceback

            traceback.print_exc()
        warn(f"unexpected error: {type(error).__name__}: {error} "
             "(a bug: please report it; -v shows the traceback)")
        return ExitStatus.ERROR


def run() -> None:
    """The console script."""
    sys.exit(main())
