# The command line: a thin Click layer. The group and its commands (streaming.py: those
# that stream from a broker, one per channel among them; offline.py: the rest), their
# shared options (options.py), and `main`, the one place that maps every failure to
# PRODUCT.md's exit codes.
from __future__ import annotations

import sys

import click

from .. import __version__
from ..errors import CoinsuperError, ExitStatus, Finished, StopSignal, exit_status
from ..mqtt.errors import MQTTError
from . import core, offline, streaming
from .core import Environment
from .options import App, warn


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


ALIASES = streaming.aliases()
for command in (*streaming.channel_commands(), streaming.watch, streaming.account,
                streaming.markets, streaming.relay, offline.sandbox, offline.replay,
                offline.export, streaming.topics, offline.completion_command,
                offline.config_command):
    cli.add_command(command)


SECRET_OPTIONS = ("--secret-key",)
MASKED_OPTIONS = ("--access-key",)


def public_command(argv: list[str]) -> tuple[str, ...]:
    """The command line as a recording may keep it: no secret key, the access key
    masked, no credentials in a URL."""
    from ..net.plans import mask
    from ..urls import redact_url

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
    from .. import signals

    signals.install()
    core.guard_stdout()
    sys.exit(main())
