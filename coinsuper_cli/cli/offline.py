# The commands that need no exchange: `replay` and `export` read recordings, `sandbox`
# serves a simulated exchange, `completion` and `config` print what the shell and the
# streaming commands would use.
from __future__ import annotations

import os

import click

from ..api import exchange
from ..api.channels import CHANNELS, PRIVATE, PUBLIC
from . import core
from .completion import complete_symbol_list
from .options import (VERBOSE_OPTION, Finite, alerts_option, checked, connection_options,
                      lazy, output_options, pass_app, selection_options, speed_option,
                      symbols_option, warn)


@click.command(short_help="Play recordings made with --record, as the live run printed them.")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@output_options
@click.option("--speed", callback=speed_option, metavar="X|max",
              help="X times the recorded pace, or max: as fast as it goes. [default: 1 on "
                   "a terminal, max in a pipe]")
@selection_options(f"Only these channels: {', '.join(CHANNELS)}.")
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
    from .markets import MarketsOptions, replay as replay_markets

    replay_markets(app.env, options, MarketsOptions(alerts=alerts, only_alerts=only_alerts))


@click.command(short_help="Write recordings as tardis-format csv or Parquet datasets.")
@click.argument("files", nargs=-1, required=True, metavar="REC...")
@click.option("--out", required=True, metavar="DIR",
              help="The folder the files go in (made if missing).")
@click.option("--format", "fmt", type=click.Choice(("tardis", "parquet")),
              default="tardis", show_default=True,
              help="tardis: gzip csv; parquet: typed columns, exact decimals (needs "
                   "pip install 'coinsuper-cli[parquet]').")
@selection_options(f"Only these channels: {', '.join(PUBLIC)} (with --private also "
                   f"{', '.join(PRIVATE)}).")
@click.option("--private", is_flag=True,
              help="Also your own fills, orders and balances, into tables of their own "
                   "(not tardis types): whoever reads the files reads them.")
@click.option("--tardis-exchange", metavar="NAME", default="coinsuper", show_default=True,
              help="The exchange column's value: nautilus_trader's TardisCSVDataLoader "
                   "reads only exchanges tardis.dev serves (give it instrument_id=...).")
@click.option("--overwrite", is_flag=True, help="Replace files that are there already.")
@pass_app
def export(app, files, out, fmt, channel_names, symbols, start, end, private,
           tardis_exchange, overwrite):
    """Write recordings made with --record as the datasets analysis and backtesting
    tools read: tardis-format csv, gzip, or Parquet; one file per data type, symbol and
    UTC day (coinsuper_trades_2026-12-03_BTC_USD.csv.gz). Types: trades, quotes (book and
    depth pushes), book_snapshot_5 and book_snapshot_15 (book pushes), candles (kline,
    each candle as last seen before it closed). Timestamps are microseconds since the
    epoch; decimals keep the exchange's digits. A file is complete under its name or
    absent. With --private, also fills, orders and balances (a file per currency). A
    progress bar on a terminal; a line of what was written at the end."""
    from ..recordings.export import ExportOptions, export as run_export

    stderr = app.env.stderr
    done = run_export(ExportOptions(files, out, overwrite, channel_names, symbols or (),
                                    start, end, fmt, private, tardis_exchange), warn=warn,
                      progress_to=stderr if stderr.isatty() else None)
    rows = sum(file.rows for file in done)
    warn(f"exported {len(done)} file{'s' if len(done) != 1 else ''}, {rows:,} rows, into "
         f"{out}")


@click.command()
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
              callback=checked(lazy("..recordings.replay", "expand")),
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
    from ..sandbox.run import serve
    from ..sandbox.server import SandboxConfig

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


@click.command("completion")
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


@click.command("config")
@connection_options
@click.pass_context
def config_command(ctx, **options):
    """Print the settings a streaming command would use and where each came from
    (command line, environment, profile, config file, default), secrets masked. Takes
    the streaming commands' options, so `coinsuper config --profile prod` shows what
    `coinsuper trades BTC_USD --profile prod` would use."""
    from ..net.proxy import explain_proxy
    from . import config_display

    rows = config_display.rows(ctx, ctx.meta.get("coinsuper.settings", {}))
    url = ctx.params.get("url")
    if url:  # the proxy the connection would really take, from the environment too
        rows = [(key, *explain_proxy(url, value, source, os.environ)) if key == "proxy"
                else (key, value, source) for key, value, source in rows]
    for line in config_display.describe(rows):
        click.echo(line)
