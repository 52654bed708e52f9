# Shell completion: what TAB offers for symbols, intervals, book steps and channel names,
# and the script `coinsuper completion bash|zsh|fish` prints. The values come from the
# tables that also check them (exchange.py, channels.py), so completion offers exactly
# what the command line accepts. Click does the rest: the script calls the command back
# with _COINSUPER_COMPLETE set, and Click answers with these items.
from __future__ import annotations

import re
from collections.abc import Callable, Iterable

import click
from click.shell_completion import (BashComplete, CompletionItem, FishComplete,
                                    ShellComplete, ZshComplete)

from ..api import exchange

COMPLETE_VAR = "_COINSUPER_COMPLETE"
SHELLS: dict[str, type[ShellComplete]] = {
    "bash": BashComplete, "zsh": ZshComplete, "fish": FishComplete}

Completer = Callable[[click.Context, click.Parameter, str], list[CompletionItem]]


def _symbol_prefix(text: str) -> str:
    """What the user typed, in topic form: `btc/u` and `BTC-u` become `BTC_U`."""
    return re.sub(r"[/-]", "_", text.strip().upper())


def _items(values: Iterable[str], help: Callable[[str], str | None] = lambda v: None
           ) -> list[CompletionItem]:
    return [CompletionItem(v, help=help(v)) for v in dict.fromkeys(values)]


def complete_symbols(ctx: click.Context, param: click.Parameter, incomplete: str
                     ) -> list[CompletionItem]:
    """The known markets whose topic form starts with what was typed, in any case and
    with `/` or `-` between base and quote; completed to topic form (BTC_USD). Those
    already on the command line are not offered again."""
    prefix = _symbol_prefix(incomplete)
    typed = set(_typed_symbols(ctx))
    return _items(m for m in exchange.MARKETS if m.startswith(prefix) and m not in typed)


def _complete_list(incomplete: str, complete_one: Callable[[str], Iterable[str]]
                   ) -> list[CompletionItem]:
    """Completion of the last element of a comma-separated list (`--symbols
    BTC_USD,ET`): each item is the whole word, so the shell replaces it as typed."""
    done, comma, last = incomplete.rpartition(",")
    head = done + comma
    already = set(done.split(",")) if comma else set()
    return _items(head + value for value in complete_one(last) if value not in already)


def complete_symbol_list(ctx: click.Context, param: click.Parameter, incomplete: str
                         ) -> list[CompletionItem]:
    """complete_symbols for a comma-separated option (`--symbols`, replay's `--symbol`)."""
    return _complete_list(incomplete, lambda last: (
        m for m in exchange.MARKETS if m.startswith(_symbol_prefix(last))))


def complete_intervals(ctx: click.Context, param: click.Parameter, incomplete: str
                       ) -> list[CompletionItem]:
    """The named kline intervals (1m .. 1w), each with its length in milliseconds, which
    is also accepted."""
    text = incomplete.strip().lower()
    return _items((n for n in exchange.INTERVALS if n.startswith(text)),
                  lambda n: f"{exchange.INTERVALS[n]} ms")


def complete_steps(ctx: click.Context, param: click.Parameter, incomplete: str
                   ) -> list[CompletionItem]:
    """The documented order-book steps: those of the symbols already typed when there are
    any (fiat quotes 1.0 0.1 0.01, crypto quotes 0.0001 0.000001 0.00000001), else all."""
    symbols = _typed_symbols(ctx)
    steps: Iterable[str]
    if symbols:
        steps = (s for symbol in symbols for s in exchange.documented_steps(symbol))
    else:
        steps = exchange.FIAT_STEPS + exchange.CRYPTO_STEPS
    return _items(s for s in steps if s.startswith(incomplete.strip()))


def _typed_symbols(ctx: click.Context) -> tuple[str, ...]:
    """The symbols on the command line so far: as the command parsed them (`symbols` of
    depth, book, ... or `symbol` of watch), or, when the option being completed stopped
    the parse (`book BTC_USD --step <TAB>`), the words Click left unparsed. Words that
    are not symbols are skipped."""
    found = ctx.params.get("symbols") or ctx.params.get("symbol")
    if isinstance(found, str):
        found = (found,)
    if not isinstance(found, (tuple, list)):  # nothing yet, or Click's "unset" marker
        found = ()
    symbols = []
    for text in (*found, *ctx.args):
        if not isinstance(text, str) or text.startswith("-"):
            continue
        try:
            symbols.append(exchange.normalise_symbol(text))
        except exchange.InvalidArgument:
            continue
    return tuple(dict.fromkeys(symbols))


def channel_completer(names: Iterable[str]) -> Completer:
    """A completer of comma-separated channel names among `names`."""
    names = tuple(names)

    def complete(ctx: click.Context, param: click.Parameter, incomplete: str
                 ) -> list[CompletionItem]:
        return _complete_list(incomplete, lambda last: (
            n for n in names if n.startswith(last.strip().lower())))
    return complete


def complete_channels(ctx: click.Context, param: click.Parameter, incomplete: str
                      ) -> list[CompletionItem]:
    """Every channel name (replay's `--channel depth,trade`)."""
    from ..api.channels import CHANNELS

    return channel_completer(CHANNELS)(ctx, param, incomplete)


def complete_public_channels(ctx: click.Context, param: click.Parameter, incomplete: str
                             ) -> list[CompletionItem]:
    """The market channels only (relay's `--channels`)."""
    from ..api.channels import PUBLIC

    return channel_completer(PUBLIC)(ctx, param, incomplete)


def is_streaming(command: click.Command) -> bool:
    """Whether a command streams from a broker (what `topics COMMAND` can plan): it
    takes the connection options and the output options both."""
    return {"url", "count"} <= {param.name for param in command.params}


def complete_streaming_commands(ctx: click.Context, param: click.Parameter,
                                incomplete: str) -> list[CompletionItem]:
    """The streaming commands of the group above (`topics COMMAND`), with their help."""
    parent = ctx.parent
    group = parent.command if parent is not None else None
    if not isinstance(group, click.Group):
        return []
    items = []
    for name in group.list_commands(parent):
        command = group.get_command(parent, name)
        if command is None or command.hidden or not is_streaming(command):
            continue
        if name.startswith(incomplete):
            items.append(CompletionItem(name, help=command.get_short_help_str()))
    return items


# Click's bash script registers with `complete -o nosort`, an option bash has had since
# 4.4; older bash (macOS ships 3.2) refuses the whole line and nothing completes. Fall
# back to sorted completion there rather than to none.
BASH_SETUP = "complete -o nosort -F %(complete_func)s %(prog_name)s"
BASH_FALLBACK = (BASH_SETUP + " 2>/dev/null \\\n"
                  "        || complete -F %(complete_func)s %(prog_name)s")


def script(shell: str, prog_name: str = "coinsuper") -> str:
    """The completion script for bash, zsh or fish, to be sourced by that shell. It calls
    `prog_name` back with _COINSUPER_COMPLETE set.

    Made without running anything: Click's BashComplete.source() first runs bash to check
    its version and writes a warning when there is none, but the script is meant for
    whichever bash sources it later, perhaps on another machine.
    """
    try:
        kind = SHELLS[shell]
    except KeyError:
        raise exchange.InvalidArgument(
            f"no completion for shell {shell!r}: use {', '.join(SHELLS)}") from None
    complete = kind(click.Command(prog_name), {}, prog_name, COMPLETE_VAR)
    template = kind.source_template
    if kind is BashComplete:
        template = template.replace(BASH_SETUP, BASH_FALLBACK)
    return template % complete.source_vars()
