"""SIGTERM and SIGHUP stop every command as q and Ctrl-C do (PRODUCT.md, "Stopping"):
the rule of signals.py in this process, then the installed command end to end: a
recording closed whole, the relay's queue drained into a real mosquitto and its summary
printed, the sandbox stopped cleanly, a live view's terminal given back; exit 143 or 129.
Each waits for the process to be ready by reading what it prints, with a deadline."""
from __future__ import annotations

import gzip
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest
from conftest import clean_env, coinsuper_command, read_until, run_coinsuper
from test_live_terminal import LADDER_ROW, ShellPane
from test_relay_e2e import ENV, PahoSubscribers, broker  # noqa: F401 (a fixture)

from coinsuper_cli import signals
from coinsuper_cli.errors import (ExitStatus, HungUp, StopSignal, Terminated, WriteFailed,
                                  exit_status)
from coinsuper_cli.recordings.reader import read_lines


@pytest.fixture
def handlers():
    """signals.py's handlers in this process, for one test."""
    previous = {signum: signal.getsignal(signum) for signum in signals.KINDS}
    signals.reset()
    signals.install()
    yield
    for signum, handler in previous.items():
        signal.signal(signum, handler)
    signals.reset()


def test_each_stop_has_its_exit_code():
    assert exit_status(Terminated()) == ExitStatus.TERMINATED == 143
    assert exit_status(HungUp()) == ExitStatus.HUNG_UP == 129
    assert exit_status(WriteFailed("x")) == ExitStatus.WRITE_FAILED == 7
    assert not isinstance(Terminated(), Exception)  # no `except Exception` swallows it


def test_a_signal_raises_at_once_outside_a_deferred_step(handlers):
    with pytest.raises(Terminated):
        signal.raise_signal(signal.SIGTERM)
        time.sleep(5)  # not reached: the handler raises before
    signals.reset()
    with pytest.raises(HungUp):
        signal.raise_signal(signal.SIGHUP)
        time.sleep(5)


def test_a_deferred_step_runs_whole_and_the_signal_is_raised_after_it(handlers):
    done, hastened = [], []
    with pytest.raises(Terminated):
        with signals.deferred(hasten=lambda: hastened.append(1)):
            with signals.deferred():  # nested: only the outermost raises
                signal.raise_signal(signal.SIGTERM)
                time.sleep(0.01)
                done.append("inner")
            done.append("outer")
    assert done == ["inner", "outer"] and hastened == [1]


def test_more_sighups_during_the_stop_are_ignored(handlers):
    with pytest.raises(HungUp):
        with signals.deferred():
            for _ in range(3):  # a closing terminal may send several
                signal.raise_signal(signal.SIGHUP)
            time.sleep(0.01)


def test_a_step_in_another_thread_is_not_deferred(handlers):
    # Python runs handlers in the main thread only: another thread's step cannot be
    # cut, and must not hold the main thread's signal.
    entered, release = threading.Event(), threading.Event()

    def step():
        with signals.deferred():
            entered.set()
            release.wait(5)
    worker = threading.Thread(target=step)
    worker.start()
    entered.wait(5)
    try:
        with pytest.raises(Terminated):
            signal.raise_signal(signal.SIGTERM)
            time.sleep(5)
    finally:
        release.set()
        worker.join(5)


def test_a_signal_the_process_was_started_ignoring_stays_ignored():
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as nohup starts it
    try:
        signals.install()
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    finally:
        signal.signal(signal.SIGHUP, previous)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signals.reset()


def test_under_nohup_a_sighup_does_not_stop_the_stream(tmp_path):
    process = subprocess.Popen(
        ["nohup"] + coinsuper_command() + ["depth", "BTC_USD", "--sandbox", "--format",
                                           "jsonl"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=clean_env())
    try:
        read_until(process, process.stdout, b"\n")
        process.send_signal(signal.SIGHUP)
        sent_ms = time.time() * 1000
        # It goes on: a push received a second after the SIGHUP is printed.
        deadline = time.monotonic() + 20
        while json.loads(read_until(process, process.stdout, b"\n")[-1])["recv"] < \
                sent_ms + 1000:
            assert time.monotonic() < deadline
        assert process.poll() is None
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=20)
    assert code == 143


def test_a_second_sigterm_during_the_orderly_stop_ends_at_once():
    script = ("import signal, time\n"
              "from coinsuper_cli import signals\n"
              "signals.install()\n"
              "with signals.deferred():\n"
              "    signal.raise_signal(signal.SIGTERM)\n"
              "    time.sleep(0.01)\n"
              "    signal.raise_signal(signal.SIGTERM)\n"
              "    time.sleep(30)\n")
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=20)
    assert time.monotonic() - started < 10
    assert done.returncode == 143
    assert done.stderr == "coinsuper: a second SIGTERM: stopping at once\n"


def _stop_after(process: subprocess.Popen, lines: int, sig: int,
                timeout: float = 30) -> tuple[list[bytes], bytes, bytes, float]:
    """Reads `lines` lines of stdout, sends `sig`, and returns what was read, the rest
    of stdout, stderr and how long the stop took."""
    first = []
    for _ in range(lines):
        first += read_until(process, process.stdout, b"\n", timeout)
    sent = time.monotonic()
    process.send_signal(sig)
    # Read through the pipes' buffered readers: communicate() reads the file descriptors
    # and would miss what readline() had already read ahead.
    got: dict[str, bytes] = {}
    readers = [threading.Thread(target=lambda name=name, stream=stream:
                                got.__setitem__(name, stream.read()), daemon=True)
               for name, stream in (("out", process.stdout), ("err", process.stderr))]
    for reader in readers:
        reader.start()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise AssertionError(f"no orderly stop within {timeout} s") from None
    took = time.monotonic() - sent
    for reader in readers:
        reader.join(10)
    return first, got["out"], got["err"], took


@pytest.mark.parametrize("fmt, suffix, sig, code", [
    ("jsonl", "jsonl.gz", signal.SIGTERM, 143),
    ("csv", "jsonl.zst", signal.SIGTERM, 143),
    ("raw", "jsonl", signal.SIGHUP, 129),
])
def test_a_signal_stops_a_recording_stream_in_order(tmp_path, fmt, suffix, sig, code):
    path = tmp_path / f"trades.{suffix}"
    process = subprocess.Popen(
        coinsuper_command() + ["trades", "BTC_USD", "--sandbox", "--record", str(path),
                               "--format", fmt],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env())
    first, rest, err, took = _stop_after(process, 5, sig)
    assert process.returncode == code, err
    assert err == b""  # no traceback, no warning
    assert took < 10  # an orderly stop, not a kill after a wait
    printed = b"".join(first) + rest
    assert printed.endswith(b"\n")  # the output's last line is whole
    data = path.read_bytes()
    if suffix.endswith(".gz"):
        data = gzip.decompress(data)  # the gzip stream is whole: trailer and all
    elif suffix.endswith(".zst"):
        import zstandard

        data = zstandard.ZstdDecompressor().decompressobj().decompress(data)
    assert data.endswith(b"\n")  # the recording's last line is complete
    lines = [json.loads(line) for line in read_lines(str(path))]  # no Truncated
    assert lines[0]["event"] == "start"
    assert sum("topic" in line for line in lines) >= 1
    replayed = run_coinsuper(["replay", str(path), "--format", "jsonl"])
    assert replayed.returncode == 0 and replayed.stderr == b""
    if fmt == "jsonl":  # every record it printed is in the recording
        assert set(printed.splitlines()) <= set(replayed.stdout.splitlines())


def _relayed(subscriber: PahoSubscribers) -> int:
    """The exchange's messages the subscriber got (not the relay's topic check)."""
    return sum(topic.startswith(ENV + "/") for topic, _ in subscriber.received[0])


def _stopped_broker(broker):  # noqa: F811 (the fixture)
    """SIGSTOP: the broker neither reads nor acknowledges until SIGCONT."""
    broker.process.send_signal(signal.SIGSTOP)
    return lambda: broker.process.send_signal(signal.SIGCONT)


def test_sigterm_to_the_relay_drains_its_queue_and_prints_its_summary(broker, tmp_path):  # noqa: F811
    subscriber = PahoSubscribers(broker.tcp_port, 1, qos=1)
    subscriber.wait_subscribed()
    errors = tmp_path / "relay.err"
    with errors.open("wb") as err:
        relay = subprocess.Popen(
            coinsuper_command() + ["relay", "BTC_USD", "--sandbox", "--to", broker.tcp_url,
                                   "--to-qos", "1", "-v"],
            stdout=subprocess.DEVNULL, stderr=err, env=clean_env())
    try:
        deadline = time.monotonic() + 30
        while errors.read_text().count("subscribed (granted") < 4:
            assert relay.poll() is None and time.monotonic() < deadline, errors.read_text()
            time.sleep(0.05)
        resume = _stopped_broker(broker)
        try:
            # With the broker stopped, what comes in waits in the relay's queue and
            # window: the sandbox pushes several messages a second. Not a wait for an
            # event: time for a backlog to build up.
            time.sleep(2.0)
            before = _relayed(subscriber)  # what went out before the SIGTERM
            relay.send_signal(signal.SIGTERM)
            time.sleep(0.3)  # the relay is in its drain now, the broker still stopped
            relay.send_signal(signal.SIGHUP)  # neither cuts the drain nor the summary
            time.sleep(0.2)
        finally:
            resume()
        code = relay.wait(timeout=20)
    finally:
        if relay.poll() is None:
            relay.kill()
            relay.wait()
    log = errors.read_text()
    assert code == 143, log
    assert "Traceback" not in log
    summary = [line for line in log.splitlines() if line.startswith("coinsuper: relay: in ")]
    assert summary, log
    numbers = {k: int(v.replace(",", "")) for k, v in
               re.findall(r"(in|out|queue|dropped) ([\d,]+)", summary[-1])}
    assert numbers["queue"] == 0 and numbers["dropped"] == 0, summary[-1]
    assert numbers["in"] == numbers["out"] > 0, summary[-1]
    wait_for = time.monotonic() + 10
    while True:  # every message reached the subscriber through the broker
        if _relayed(subscriber) >= numbers["out"] or time.monotonic() > wait_for:
            break
        time.sleep(0.05)
    subscriber.stop()
    assert _relayed(subscriber) == numbers["out"]
    assert numbers["out"] > before  # some of it went out in the drain, after the SIGTERM


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
@pytest.mark.parametrize("replay", [False, True])
def test_a_signal_stops_the_sandbox_cleanly(tmp_path, sig, code, replay):
    args = ["sandbox", "--ws-port", "0", "--tcp-port", "0"]
    if replay:
        path = tmp_path / "r.jsonl"
        # One message: a lap of no time, which --loop starts again at once.
        made = run_coinsuper(["trades", "BTC_USD", "--sandbox", "--count", "1",
                              "--record", str(path)])
        assert made.returncode == 0, made.stderr
        args += ["--replay", str(path), "--loop"]
    process = subprocess.Popen(coinsuper_command() + args, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=clean_env())
    banner = b"".join(read_until(process, process.stdout, b"export COINSUPER_SECRET_KEY="))
    url = re.search(rb"mqtt://127\.0\.0\.1:\d+", banner)[0].decode()
    client = subprocess.Popen(coinsuper_command() + ["trades", "BTC_USD", "--url", url,
                                                     "--format", "raw", "-v"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              env=clean_env())
    try:
        read_until(client, client.stderr, b"subscribed (granted")  # a client connected
        sent = time.monotonic()
        process.send_signal(sig)
        _, err = process.communicate(timeout=20)
        took = time.monotonic() - sent
    finally:
        client.kill()
        client.wait()
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == code and err == b"", err
    assert took < 10  # an orderly stop, not a kill after a wait


def _child_of(pane: ShellPane) -> int:
    """The pid of the command the pane's shell runs."""
    shell = int(pane._tmux("display-message", "-p", "-t", "live", "#{pane_pid}"))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        children = open(f"/proc/{shell}/task/{shell}/children").read().split()
        if children:
            return int(children[0])
        time.sleep(0.05)
    raise AssertionError("the pane's shell runs no command")


def _terminate(pid: int, timeout: float = 15) -> float:
    """SIGTERM to `pid`, and how long it took to end (a shell's job is not our child: its
    /proc entry goes when it has)."""
    sent = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    while os.path.exists(f"/proc/{pid}"):
        assert time.monotonic() - sent < timeout, "no orderly stop"
        time.sleep(0.05)
    return time.monotonic() - sent


def _cooked(pane: ShellPane, tmp_path) -> bool:
    """Whether the terminal has its own settings back (canonical input, echo)."""
    settings = tmp_path / "stty"
    pane.send(f"stty -a > {settings}", "Enter")
    deadline = time.monotonic() + 5
    while not (settings.exists() and "echo" in settings.read_text()):
        assert time.monotonic() < deadline, "the shell did not run stty"
        time.sleep(0.05)
    words = settings.read_text().split()
    return "icanon" in words and "echo" in words


def test_sigterm_quits_a_live_view_and_gives_the_terminal_back(tmp_path):
    shell = ShellPane(tmp_path, ["book", "BTC_USD", "--sandbox"], 80, 24)
    try:
        shell.wait_for(lambda s: sum(bool(LADDER_ROW.match(x)) for x in s) >= 18, 15,
                       "ladder")
        assert _terminate(_child_of(shell)) < 10
        assert not any(LADDER_ROW.match(line) for line in shell.screen())  # normal screen
        assert shell.exit_status() == 143
        assert shell.stderr.read_text() == ""
        assert _cooked(shell, tmp_path)
    finally:
        shell.close()


def test_sigterm_to_the_relay_on_a_terminal_drains_and_prints_its_summary(
        tmp_path, broker):  # noqa: F811
    shell = ShellPane(tmp_path, ["relay", "BTC_USD", "--sandbox", "--channels",
                                 "trade,book", "--to", broker.tcp_url], 100, 20)
    try:
        shell.wait_for(lambda s: "2/2 subscribed" in "\n".join(s)
                       and re.search(r"([1-9]\d*) published", "\n".join(s)), 20,
                       "the relay panel")
        assert _terminate(_child_of(shell)) < 15
        assert shell.exit_status() == 143
        log = shell.stderr.read_text()
        assert "Traceback" not in log
        summary = [line for line in log.splitlines() if "relay: in " in line]
        assert summary and ", queue 0/" in summary[-1], log
        assert _cooked(shell, tmp_path)
    finally:
        shell.close()
