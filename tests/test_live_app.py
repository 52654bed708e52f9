"""The live app without a network: a scripted source feeds it, a pseudo-terminal types
into it. Errors of the network thread come out of run_live after the screen is restored;
`q` returns; --count ends it with Finished."""
import dataclasses
import io
import os
import termios
import threading
import time
from pathlib import Path

import pytest
from rich.console import Console

from coinsuper_cli.api.stream import Limits, Message
from coinsuper_cli.errors import Finished, SignInRefused
from coinsuper_cli.live import app
from coinsuper_cli.net.plans import Target, public_plan
from coinsuper_cli.net.runner import RunOptions

SAMPLES = Path(__file__).parent / "samples"
ALT_SCREEN_ON, ALT_SCREEN_OFF = "\x1b[?1049h", "\x1b[?1049l"


def terminal_console():
    return Console(file=io.StringIO(), width=80, height=24, force_terminal=True,
                   color_system=None)


TICKERS = (SAMPLES / "tickers.json").read_bytes()
PLAN = None  # each test's own: the trade parser remembers what it has seen


@pytest.fixture(autouse=True)
def fresh_plan():
    global PLAN
    PLAN = public_plan(Target("ws://127.0.0.1:1/mqtt"), "trade", "BTC_USD")


def message(payload: bytes) -> Message:
    return Message(PLAN.feeds[0], payload, time.time_ns())


def scripted(script):
    """A source_for whose source yields the batches of `script(options)`, the options
    being the run options with the view's callbacks hooked in."""
    class Scripted:
        def __init__(self, **hooks) -> None:
            self.options = dataclasses.replace(RunOptions(), **hooks)

        def batches(self):
            yield from script(self.options)
    return Scripted


def run_live(script, **kwargs):
    kwargs.setdefault("sandbox", False)
    kwargs.setdefault("console", terminal_console())
    app.run_live([PLAN], scripted(script), **kwargs)


def test_an_error_of_the_network_thread_is_raised_after_the_screen_is_restored():
    def script(options):
        options.on_state(PLAN, "subscribed")
        yield [message(TICKERS)]
        raise SignInRefused("the broker refused the sign-in: bad user name or password")

    console = terminal_console()
    with pytest.raises(SignInRefused):
        run_live(script, console=console)
    screen = console.file.getvalue()
    # the last frame (with the trades) came before leaving the alternate screen
    assert screen.index(ALT_SCREEN_ON) < screen.rindex("Trades BTC_USD") < screen.rindex(
        ALT_SCREEN_OFF)


def test_count_counts_records_and_ends_with_finished():
    asked = []

    def script(options):
        yield [message(TICKERS)]  # 20 trades
        asked.append("a second batch")
        yield [message(TICKERS)]

    with pytest.raises(Finished):
        run_live(script, sandbox=True, limits=Limits(count=5))
    assert asked == []


def test_count_or_timeout_leaves_the_last_frame_on_the_normal_screen():
    def script(options):
        yield [message(TICKERS)]

    console = terminal_console()
    with pytest.raises(Finished):
        run_live(script, limits=Limits(count=3), console=console)
    screen = console.file.getvalue()
    after = screen[screen.rindex(ALT_SCREEN_OFF):]
    assert "Trades BTC_USD" in after and "6674.49" in after


def test_a_bad_payload_is_counted_on_the_status_line_not_printed():
    drawn = threading.Event()

    def script(options):
        yield [message(b"{oops")]
        drawn.wait(0.3)  # let a frame show it
        raise Finished("timeout")

    console = terminal_console()
    with pytest.raises(Finished):
        run_live(script, console=console)
    assert "1 skipped" in console.file.getvalue()


def test_q_quits_and_the_terminal_mode_is_restored():
    main_fd, typed_fd = os.openpty()
    stdin = os.fdopen(typed_fd, "r")
    before = termios.tcgetattr(typed_fd)
    stopped = threading.Event()

    def script(options):
        try:
            while not options.stop.is_set():  # a link that pushes until told to stop
                yield [message(TICKERS)]
                options.stop.wait(0.05)
        finally:
            stopped.set()

    threading.Timer(0.5, os.write, (main_fd, b"q")).start()
    started = time.monotonic()
    try:
        run_live(script, stdin=stdin)
        assert time.monotonic() - started < 3
        assert termios.tcgetattr(typed_fd) == before
        assert stopped.wait(2)
    finally:
        stdin.close()
        os.close(main_fd)


def test_format_live_in_a_pipe_is_a_one_line_usage_error():
    from conftest import run_coinsuper

    result = run_coinsuper(["trades", "BTC_USD", "--format", "live"], timeout=10)
    assert result.returncode == 2 and result.stdout == b""
    assert result.stderr.decode().splitlines() == [
        "coinsuper: --format live needs a terminal on stdout; use jsonl, csv, tsv or raw in "
        "a pipe"]
