# Shell completion: the items each completer gives, and the bash script run through a real
# bash against a throwaway command wired the way cli/ wires the real one.
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import click
import pytest
from click.shell_completion import BashComplete, ShellComplete

from coinsuper_cli.api import exchange
from coinsuper_cli.api.channels import CHANNELS, PUBLIC
from coinsuper_cli.cli import completion
from coinsuper_cli.cli.completion import (complete_channels, complete_intervals,
                                          complete_public_channels, complete_steps,
                                          complete_symbol_list, complete_symbols, script)


def symbols_callback(ctx, param, values):
    return tuple(exchange.normalise_symbol(v) for v in values)


@click.group()
def toy():
    pass


def streaming(command):
    """What makes a command a streaming one: the connection and output options."""
    return click.option("--url")(click.option("--count")(command))


@toy.command()
@click.argument("symbols", nargs=-1, callback=symbols_callback,
                shell_complete=complete_symbols)
@click.option("--step", shell_complete=complete_steps)
@streaming
def book(symbols, step, url, count):
    pass


@toy.command()
@click.argument("symbols", nargs=-1, callback=symbols_callback,
                shell_complete=complete_symbols)
@click.option("--interval", shell_complete=complete_intervals)
@streaming
def kline(symbols, interval, url, count):
    pass


@toy.command()
@click.argument("symbol", shell_complete=complete_symbols)
@click.option("--step", shell_complete=complete_steps)
@streaming
def watch(symbol, step, url, count):
    pass


@toy.command()
@click.option("--channel", shell_complete=complete_channels)
@click.option("--symbol", shell_complete=complete_symbol_list)
@click.option("--channels", shell_complete=complete_public_channels)
@click.option("--count")
def replay(channel, symbol, channels, count):
    pass


@toy.command()
@click.argument("command", shell_complete=completion.complete_streaming_commands)
def topics(command):
    pass


def complete(args: list[str], incomplete: str) -> list[str]:
    """What Click answers the shell for `coinsuper ARGS... INCOMPLETE<TAB>`."""
    items = BashComplete(toy, {}, "coinsuper", completion.COMPLETE_VAR).get_completions(
        args, incomplete)
    return [item.value for item in items]


# --- the completers ---

def test_symbols_complete_by_prefix_in_any_case_and_any_separator():
    assert complete(["book"], "") == list(exchange.MARKETS)
    assert complete(["book"], "bt") == ["BTC_USD"]
    assert complete(["book"], "eth") == ["ETH_USD", "ETH_BTC"]
    for typed in ("eth/b", "ETH-B", "eth_b", "Eth/B"):
        assert complete(["book"], typed) == ["ETH_BTC"]
    assert complete(["book"], "doge") == []
    assert complete(["watch"], "xrp/") == ["XRP_BTC"]


def test_symbols_already_given_are_not_offered_again():
    assert complete(["book", "eth/usd"], "eth") == ["ETH_BTC"]


def test_intervals_complete_from_the_interval_table_with_their_length():
    assert complete(["kline", "BTC_USD", "--interval"], "") == list(exchange.INTERVALS)
    assert complete(["kline", "BTC_USD", "--interval"], "1") == [
        "1m", "15m", "1h", "12h", "1d", "1w"]
    items = complete_intervals(None, None, "1H")
    assert [(i.value, i.help) for i in items] == [("1h", "3600000 ms")]


def test_steps_follow_the_quote_of_the_symbols_typed():
    assert complete(["book", "BTC_USD", "--step"], "") == list(exchange.FIAT_STEPS)
    assert complete(["book", "eth/btc", "--step"], "") == list(exchange.CRYPTO_STEPS)
    assert complete(["book", "BTC_USD", "ETH_BTC", "--step"], "") == [
        *exchange.FIAT_STEPS, *exchange.CRYPTO_STEPS]
    assert complete(["watch", "ltc-btc", "--step"], "0.00") == ["0.0001", "0.000001",
                                                                 "0.00000001"]
    # No symbol yet, or only a malformed one: every documented step.
    assert complete(["book", "--step"], "") == [*exchange.FIAT_STEPS,
                                                *exchange.CRYPTO_STEPS]
    assert complete(["book", "a/b/c", "--step"], "1") == ["1.0"]


def test_channel_names_complete_in_a_comma_separated_list():
    assert complete(["replay", "--channel"], "") == list(CHANNELS)
    assert complete(["replay", "--channel"], "d") == ["depth"]
    assert complete(["replay", "--channel"], "depth,") == [
        f"depth,{name}" for name in CHANNELS if name != "depth"]
    assert complete(["replay", "--channel"], "depth,tr") == ["depth,trade"]
    assert complete(["replay", "--channels"], "") == list(PUBLIC)
    assert "asset" not in complete(["replay", "--channels"], "a")


def test_topics_completes_the_streaming_commands_with_their_help():
    assert complete(["topics"], "") == ["book", "kline", "watch"]  # not replay, topics
    items = BashComplete(toy, {}, "coinsuper", "_X").get_completions(["topics"], "w")
    assert [(i.value, i.help) for i in items] == [("watch", "")]


def test_symbol_lists_complete_their_last_element():
    assert complete(["replay", "--symbol"], "btc_usd,eth/") == [
        "btc_usd,ETH_USD", "btc_usd,ETH_BTC"]
    assert complete(["replay", "--symbol"], "BTC_USD,BT") == []


def test_the_sandbox_default_markets_are_known_markets():
    from coinsuper_cli.sandbox.market import DEFAULT_SYMBOLS

    assert exchange.SANDBOX_MARKETS == DEFAULT_SYMBOLS
    assert set(exchange.SANDBOX_MARKETS) <= set(exchange.MARKETS)
    for symbol in exchange.MARKETS:
        assert exchange.normalise_symbol(symbol) == symbol
    assert {"BTC_USD", "ETC_BTC"} <= set(exchange.MARKETS)  # the documents' symbols


# --- the scripts ---

@pytest.mark.parametrize("shell, marker", [
    ("bash", "complete -o nosort -F _coinsuper_completion coinsuper"),
    ("zsh", "compdef _coinsuper_completion coinsuper"),
    ("fish", "complete --no-files --command coinsuper"),
])
def test_each_script_calls_the_command_back_with_the_complete_var(shell, marker):
    text = script(shell)
    assert marker in text
    assert f"_COINSUPER_COMPLETE={shell}_complete" in text
    assert "%(" not in text


def test_an_unknown_shell_is_a_usage_error():
    with pytest.raises(exchange.InvalidArgument, match="use bash, zsh, fish"):
        script("powershell")


def test_the_bash_script_is_made_without_running_bash(monkeypatch):
    def no_bash():
        raise AssertionError("BashComplete checked the bash version")
    monkeypatch.setattr(BashComplete, "_check_version", staticmethod(no_bash))
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: no_bash())
    assert "_coinsuper_completion()" in script("bash")


def test_the_bash_script_falls_back_when_bash_has_no_nosort():
    # Click's template line is what the fallback replaces; if Click changes it, the
    # replacement would silently do nothing.
    assert completion.BASH_SETUP in BashComplete.source_template
    assert "|| complete -F _coinsuper_completion coinsuper" in script("bash")


def test_the_script_names_other_programs_as_asked():
    assert "complete -F _coinsuper_dev_completion coinsuper-dev" in script(
        "bash", "coinsuper-dev")


def test_script_generation_matches_clicks_own_apart_from_the_fallback():
    ours = script("zsh")
    theirs = ShellComplete.source(
        completion.SHELLS["zsh"](toy, {}, "coinsuper", "_COINSUPER_COMPLETE"))
    assert ours == theirs


@pytest.fixture
def toy_program(tmp_path):
    """The throwaway command as an executable named `coinsuper` on a PATH of its own."""
    here = os.path.dirname(os.path.abspath(__file__))
    program = tmp_path / "bin" / "coinsuper"
    program.parent.mkdir()
    program.write_text(textwrap.dedent(f"""\
        #!{sys.executable}
        import sys
        sys.path.insert(0, {here!r})
        from test_completion import toy
        toy.main(prog_name="coinsuper")
    """))
    program.chmod(0o755)
    return program


def bash_complete(program, words: list[str]) -> list[str]:
    """Sources the script in a real bash and runs its completion function as bash would
    for `words` (the last one being completed); returns COMPREPLY."""
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash")
    quoted = " ".join("'" + w.replace("'", "'\\''") + "'" for w in words)
    driver = textwrap.dedent(f"""\
        source <(cat)
        COMP_WORDS=({quoted})
        COMP_CWORD={len(words) - 1}
        _coinsuper_completion coinsuper
        printf '%s\\n' "${{COMPREPLY[@]}}"
    """)
    env = {**os.environ, "PATH": f"{program.parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("_COINSUPER_COMPLETE", None)
    done = subprocess.run([bash, "--norc", "--noprofile", "-c", driver],
                          input=script("bash"), capture_output=True, text=True,
                          env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return [line for line in done.stdout.splitlines() if line]


def test_bash_completes_symbols_through_the_command(toy_program):
    assert bash_complete(toy_program, ["coinsuper", "book", "BT"]) == ["BTC_USD"]
    assert bash_complete(toy_program, ["coinsuper", "book", "eth/"]) == ["ETH_USD",
                                                                         "ETH_BTC"]


def test_bash_completes_commands_options_steps_and_intervals(toy_program):
    assert bash_complete(toy_program, ["coinsuper", "wa"]) == ["watch"]
    assert bash_complete(toy_program, ["coinsuper", "book", "ETH_BTC", "--step", ""]
                         ) == list(exchange.CRYPTO_STEPS)
    assert bash_complete(toy_program, ["coinsuper", "kline", "BTC_USD", "--interval",
                                       "1"]) == ["1m", "15m", "1h", "12h", "1d", "1w"]
    assert "--interval" in bash_complete(toy_program, ["coinsuper", "kline", "--"])
