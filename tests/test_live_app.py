"""The live app without a network: a stand-in runner feeds it, a pseudo-terminal types
into it. Errors of the network thread come out of run_live after the screen is restored;
`q` returns; --count ends it with Finished."""
import io
import os
import sys
import termios
import threading
import time
from pathlib import Path

import pytest
from rich.console import Console

from coinsuper_cli.errors import Finished, SignInRefused
from coinsuper_cli.live import app
from coinsuper_cli.plans import Target, public_plan
from coinsuper_cli.runner import RunOptions

SAMPLES = Path(__file__).parent / "samples"
ALT_SCREEN_ON, ALT_SCREEN_OFF = "\x1b[?1049h", "\x1b[?1049l"


def terminal_console():
    return Console(file=io.StringIO(), width=80, height=24, force_terminal=True,
                   color_system=None)


def trade_plan():
    return public_plan(Target("ws://127.0.0.1:1/mqtt"), "trade", "BTC_USD")


def fake_runner(script):
    """A run_connections that runs `script(plans, options, deliver, flush)` instead."""
    def run_connections(plans, options, deliver, flush, timeout=None):
        script(plans, options, deliver, flush)
    return run_connections


def test_an_error_of_the_network_thread_is_raised_after_the_screen_is_restored(monkeypatch):
    def script(plans, options, deliver, flush):
        options.on_state(plans[0], "subscribed")
        deliver(plans[0].feeds[0], (SAMPLES / "tickers.json").read_bytes())
        raise SignInRefused("the broker refused the sign-in: bad user name or password")

    monkeypatch.setattr(app, "run_connections", fake_runner(script))
    console = terminal_console()
    with pytest.raises(SignInRefused):
        app.run_live([trade_plan()], RunOptions(), sandbox=False, console=console)
    screen = console.file.getvalue()
    # the last frame (with the trades) came before leaving the alternate screen
    assert screen.index(ALT_SCREEN_ON) < screen.rindex("Trades BTC_USD") < screen.rindex(
        ALT_SCREEN_OFF)


def test_count_counts_records_and_ends_with_finished(monkeypatch):
    seen = {}

    def script(plans, options, deliver, flush):
        feed = plans[0].feeds[0]
        try:
            deliver(feed, (SAMPLES / "tickers.json").read_bytes())  # 20 trades
        except Finished:
            seen["after"] = "first push"
            raise

    monkeypatch.setattr(app, "run_connections", fake_runner(script))
    with pytest.raises(Finished):
        app.run_live([trade_plan()], RunOptions(), sandbox=True, count=5,
                     console=terminal_console())
    assert seen == {"after": "first push"}


def test_count_or_timeout_leaves_the_last_frame_on_the_normal_screen(monkeypatch):
    def script(plans, options, deliver, flush):
        deliver(plans[0].feeds[0], (SAMPLES / "tickers.json").read_bytes())

    monkeypatch.setattr(app, "run_connections", fake_runner(script))
    console = terminal_console()
    with pytest.raises(Finished):
        app.run_live([trade_plan()], RunOptions(), sandbox=False, count=3, console=console)
    screen = console.file.getvalue()
    after = screen[screen.rindex(ALT_SCREEN_OFF):]
    assert "Trades BTC_USD" in after and "6674.49" in after


def test_a_bad_payload_is_counted_on_the_status_line_not_printed(monkeypatch):
    def script(plans, options, deliver, flush):
        deliver(plans[0].feeds[0], b"{oops")
        time.sleep(0.3)  # let a frame show it
        raise Finished("timeout")

    monkeypatch.setattr(app, "run_connections", fake_runner(script))
    console = terminal_console()
    with pytest.raises(Finished):
        app.run_live([trade_plan()], RunOptions(), sandbox=False, console=console)
    assert "1 skipped" in console.file.getvalue()


def test_q_quits_and_the_terminal_mode_is_restored(monkeypatch):
    main_fd, typed_fd = os.openpty()
    stdin = os.fdopen(typed_fd, "r")
    before = termios.tcgetattr(typed_fd)
    stopped = threading.Event()

    def script(plans, options, deliver, flush):
        feed = plans[0].feeds[0]
        payload = (SAMPLES / "tickers.json").read_bytes()
        try:
            while True:  # a link that pushes until the app stops listening
                deliver(feed, payload)
                time.sleep(0.05)
        finally:
            stopped.set()

    monkeypatch.setattr(app, "run_connections", fake_runner(script))
    monkeypatch.setattr(sys, "stdin", stdin)
    threading.Timer(0.5, os.write, (main_fd, b"q")).start()
    started = time.monotonic()
    try:
        app.run_live([trade_plan()], RunOptions(), sandbox=False, console=terminal_console())
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
        "coinsuper: --format live needs a terminal on stdout; use jsonl or raw in a pipe"]
