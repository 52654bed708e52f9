"""A paced replay across a gap of hours says so and can be cut short (--max-gap, the live
view's n); a topic holding ESC sequences never reaches the terminal (replay's live view,
sandbox --replay's banner); --record to a FIFO nobody reads fails at once."""
from __future__ import annotations

import json
import os
import subprocess
import time

import pytest
from conftest import clean_env, coinsuper_command, run_coinsuper
from fakes import FakeClock
from loopback import free_port, stop_process
from test_live_terminal import Pane

from coinsuper_cli.recordings.replay import Recording

T0 = 1_795_730_093_000_000_000
HOURS = 3600 * 10**9
TOPIC = "exchange_ha_prod_hk/api/ws/v1/market/tickers/"


def trade_line(symbol: str, recv_ns: int, ts_ms: int) -> str:
    payload = ('[{"symbol":"%s","price":"100.5","quantity":"0.1","action":"BUY",'
               '"timestamp":%d}]' % (symbol.replace("_", "/"), ts_ms))
    return json.dumps({"recv_ns": recv_ns, "topic": TOPIC + symbol, "payload": payload},
                      separators=(",", ":"), ensure_ascii=False) + "\n"


def write(path, *lines: str):
    start = json.dumps({"recv_ns": T0, "event": "start", "format": 1, "command": []})
    path.write_text(start + "\n" + "".join(lines))
    return path


@pytest.fixture
def gap(tmp_path):
    """Two trades three hours apart."""
    return write(tmp_path / "gap.jsonl", trade_line("BTC_USD", T0, T0 // 10**6),
                 trade_line("BTC_USD", T0 + 3 * HOURS, T0 // 10**6 + 3 * 3600_000))


def test_a_long_wait_is_said_once_and_max_gap_caps_it(gap):
    clock, warned = FakeClock(), []
    recording = Recording([str(gap)], speed=1, warn=warned.append, max_gap=2.0,
                          now=clock.now, sleep=clock.sleep)
    started = clock.now()
    played = [m for batch in recording.batches() for m in batch]
    assert len(played) == 2
    assert clock.now() - started == pytest.approx(2.0, abs=0.3)
    assert warned == ["the recording is silent for 3.0 h here: waiting 2 s at this pace "
                      "(capped by --max-gap; n skips it in the live view)"]


def test_without_max_gap_the_wait_is_said_and_skip_wait_ends_it(gap):
    clock, warned = FakeClock(), []
    recording = Recording([str(gap)], speed=1, warn=warned.append, now=clock.now,
                          sleep=clock.sleep)
    played, empty = [], 0
    for batch in recording.batches():
        played += batch
        empty += not batch
        if empty == 3:
            recording.skip_wait()  # the live view's n
    assert len(played) == 2 and clock.now() - 1000.0 < 5
    assert warned == ["the recording is silent for 3.0 h here: waiting 3.0 h at this pace "
                      "(--max-gap caps such waits; n skips it in the live view)"]


def test_replay_with_max_gap_ends_quickly_and_says_the_gap(gap):
    started = time.monotonic()
    result = run_coinsuper(["replay", str(gap), "--speed", "1", "--max-gap", "0.5",
                            "--format", "jsonl"], timeout=30)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 2 and time.monotonic() - started < 10
    # without it: the wait is said (one line) and --timeout ends it
    result = run_coinsuper(["replay", str(gap), "--speed", "1", "--timeout", "2",
                            "--format", "jsonl"], timeout=30)
    assert result.returncode == 0 and len(result.stdout.splitlines()) == 1
    lines = result.stderr.decode().splitlines()
    assert lines == ["coinsuper: the recording is silent for 3.0 h here: waiting 3.0 h at "
                     "this pace (--max-gap caps such waits; n skips it in the live view)"]


def test_sandbox_replay_with_max_gap_goes_on_and_says_the_gap(gap):
    process = subprocess.Popen(
        coinsuper_command() + ["sandbox", "--replay", str(gap), "--max-gap", "0.5", "-v",
                               "--ws-port", str(free_port()), "--tcp-port", str(free_port())],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=clean_env())
    lines = []
    try:
        deadline = time.monotonic() + 20
        os.set_blocking(process.stderr.fileno(), False)
        text = b""
        while time.monotonic() < deadline and b"the recording ended" not in text:
            text += process.stderr.read() or b""
            time.sleep(0.05)
        lines = text.decode().splitlines()
    finally:
        stop_process(process)
        process.stderr.close()
    assert any("the recording ended after 2 messages" in line for line in lines), lines
    assert any("silent for 3.0 h here: waiting 0.5 s" in line and "capped by --max-gap" in line
               for line in lines), lines


def test_record_to_a_fifo_without_a_reader_fails_at_once(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    started = time.monotonic()
    result = run_coinsuper(["trades", "BTC_USD", "--sandbox", "--timeout", "3", "--record",
                            str(fifo)], timeout=30)
    assert result.returncode == 2 and b"FIFO" in result.stderr, result.stderr
    assert time.monotonic() - started < 10


# -- the terminal ------------------------------------------------------------------------

ESC_SYMBOL = "BTC_USD\x1b]0;PWNED\x07\x1b[2J"


@pytest.fixture
def hostile(tmp_path):
    # The Recorder writes a topic's ESC raw (JSON allows it in a string only escaped,
    # and the fast path reads it either way): both spellings.
    raw = trade_line(ESC_SYMBOL, T0 + 10**6, T0 // 10**6 + 1)
    escaped = json.dumps(json.loads(raw), separators=(",", ":")) + "\n"
    later = trade_line("BTC_USD", T0 + 60 * 10**9, T0 // 10**6 + 60_000)  # the view stays
    return write(tmp_path / "esc.jsonl", trade_line("BTC_USD", T0, T0 // 10**6), raw,
                 escaped, later)


def pane_title(pane: Pane) -> str:
    return pane._tmux("display-message", "-p", "-t", "live", "#{pane_title}").strip()


def test_replays_live_view_shows_no_topic_with_escapes_raw(tmp_path, hostile):
    pane = Pane(tmp_path, ["replay", str(hostile), "--speed", "1"], 100, 30)
    try:
        pane.wait_for(lambda lines: "Trades BTC_USD" in "\n".join(lines), 20, "the view")
        time.sleep(0.5)  # a frame drawn after the second message (its time is 1 ms later)
        assert "PWNED" not in pane_title(pane)
        assert "PWNED" not in "\n".join(pane.screen())
        pane.send("q")
        assert pane.exit_status() == 0
        assert "\x1b" not in pane.stderr.read_text()
    finally:
        pane.close()


def test_sandbox_replays_banner_shows_no_topic_with_escapes_raw(tmp_path, hostile):
    pane = Pane(tmp_path, ["sandbox", "--replay", str(hostile), "--ws-port",
                           str(free_port()), "--tcp-port", str(free_port())], 160, 30)
    try:
        lines = pane.wait_for(lambda lines: any("symbols" in line for line in lines), 20,
                              "the banner")
        assert "PWNED" not in pane_title(pane)
        assert "PWNED" not in "\n".join(lines)
        assert any(line.split() == ["symbols", "BTC_USD"] for line in lines), lines
    finally:
        pane.send("C-c")
        pane.close()


def test_n_skips_a_long_wait_in_the_live_view(tmp_path, gap):
    with gap.open("a") as file:  # a third, an hour later: the view stays up meanwhile
        file.write(trade_line("BTC_USD", T0 + 4 * HOURS, T0 // 10**6 + 4 * 3600_000))
    pane = Pane(tmp_path, ["replay", str(gap), "--speed", "1"], 100, 30)
    try:
        pane.wait_for(lambda lines: "Trades BTC_USD" in "\n".join(lines), 20, "the view")
        second = time.strftime("%H:%M:%S", time.gmtime(T0 // 10**9 + 3 * 3600))
        assert second not in "\n".join(pane.screen())
        pane.send("n")
        pane.wait_for(lambda lines: second in "\n".join(lines), 10, "the second trade")
        pane.send("q")
        assert pane.exit_status() == 0
    finally:
        pane.close()
