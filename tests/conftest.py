"""Shared fixtures: a real mosquitto broker on free loopback ports, the sandbox as its own
process, and the installed `coinsuper` command run as a subprocess. The helpers the
benchmark needs too live in bench/loopback.py (on the path through pyproject's pytest
`pythonpath`)."""
from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import loopback
import pytest
from hypothesis import HealthCheck, settings
from loopback import maybe_coinsuper_path, stop_process

SAMPLES = Path(__file__).parent / "samples"

# Property tests judge the code, not the machine: on a busy CI box (four workers on two
# cores) an example can take longer than hypothesis's 200 ms deadline, or its data longer
# to generate than its health check allows, with nothing wrong. Examples stay as many.
settings.register_profile("coinsuper", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("coinsuper")


def coinsuper_command() -> list[str]:
    """The installed console script, beside this Python if not on PATH."""
    found = maybe_coinsuper_path()
    if not found:
        pytest.fail("the coinsuper command is not installed (pip install -e .)")
    return [found]


# The tests must never read the developer's own ~/.config/coinsuper/config.toml: every
# environment a test runs coinsuper in points XDG_CONFIG_HOME at this empty folder (the
# config falls back to HOME only when XDG_CONFIG_HOME is unset, empty or relative).
EMPTY_CONFIG_HOME = tempfile.mkdtemp(prefix="coinsuper-tests-xdg-")
atexit.register(shutil.rmtree, EMPTY_CONFIG_HOME, ignore_errors=True)


def clean_env(**extra: str) -> dict[str, str]:
    """os.environ without COINSUPER_* and with an empty XDG_CONFIG_HOME, for a subprocess."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COINSUPER_")}
    env["XDG_CONFIG_HOME"] = EMPTY_CONFIG_HOME
    env.update(extra)
    return env


@pytest.fixture(autouse=True)
def no_user_config(monkeypatch):
    """The same for in-process tests (main(), CliRunner): no COINSUPER_* setting and no
    config file but the ones a test writes itself."""
    for name in list(os.environ):
        if name.startswith("COINSUPER_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", EMPTY_CONFIG_HOME)


def wait_until(condition, timeout: float, what: str) -> None:
    """Polls `condition` until it holds; fails the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def read_until(process: subprocess.Popen, stream, needle, timeout: float = 20.0) -> list:
    """Reads `stream` (one of `process`'s pipes) line by line until a line holds `needle`,
    and returns the lines read. A child that exits, or stays silent past `timeout`, fails
    the test with what it said instead of blocking it: a plain readline() loop spins
    forever on a dead child's empty reads and hangs on a live, silent one."""
    lines: list = []
    found = threading.Event()

    def read() -> None:
        for line in iter(stream.readline, stream.read(0)):  # "" or b"" at the end
            lines.append(line)
            if needle in line:
                found.set()
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    if not found.is_set():
        process.kill()  # ends a blocked readline, and the reader with it
        reader.join(5)
        said = (b"" if isinstance(needle, bytes) else "").join(lines)
        raise AssertionError(f"no line holding {needle!r} within {timeout:g} s "
                             f"(exit code {process.wait()}): {said!r}")
    return lines


class Mosquitto(loopback.Mosquitto):
    """The shared broker, with a paho-mqtt publisher for the tests."""

    def publish(self, topic: str, payload: bytes, qos: int = 0) -> None:
        import paho.mqtt.client as mqtt

        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        client.connect("127.0.0.1", self.tcp_port)
        client.loop_start()
        try:
            client.publish(topic, payload, qos=qos).wait_for_publish(timeout=5)
        finally:
            client.disconnect()
            client.loop_stop()


def start_sandbox(*args: str) -> tuple[subprocess.Popen, dict[str, str]]:
    """`coinsuper sandbox ARGS` as its own process, and the exports its banner prints,
    plus `tcp_url` (its mqtt:// or mqtts:// address)."""
    process = subprocess.Popen(coinsuper_command() + ["sandbox", *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=clean_env())
    # The banner's last export is COINSUPER_SECRET_KEY.
    banner = "".join(read_until(process, process.stdout, "export COINSUPER_SECRET_KEY="))
    exports = dict(re.findall(r"^export (COINSUPER_\w+)=(\S+)$", banner, re.MULTILINE))
    assert len(exports) == 4, banner
    exports["tcp_url"] = re.search(r"mqtts?://127\.0\.0\.1:\d+", banner)[0]
    return process, exports


def stop_sandbox(process: subprocess.Popen) -> None:
    """Ctrl-C, as a user would; then nothing it printed may be a traceback."""
    stop_process(process, signal.SIGINT, timeout=10)
    assert "Traceback" not in process.stderr.read()


def sandbox_env(exports: dict[str, str]) -> dict[str, str]:
    """A clean environment with the sandbox's COINSUPER_* exports."""
    return clean_env(**{k: v for k, v in exports.items() if k.startswith("COINSUPER_")})


def _need_mosquitto() -> None:
    if not shutil.which("mosquitto"):
        pytest.fail("mosquitto is not installed (.ci/run installs it with apt-get)")


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory):
    _need_mosquitto()
    broker = Mosquitto(tmp_path_factory.mktemp("mosquitto"))
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def locked_mosquitto(tmp_path_factory):
    """A broker that signs in only user `alice` with password `wonderland`."""
    _need_mosquitto()
    directory = tmp_path_factory.mktemp("mosquitto-locked")
    password_file = directory / "passwords"
    password_file.write_text("")
    subprocess.run(["mosquitto_passwd", "-b", str(password_file), "alice", "wonderland"],
                   check=True)
    broker = Mosquitto(directory, password_file=password_file)
    yield broker
    broker.stop()


class Streamer:
    """A running `coinsuper` subprocess with -v, ready once it has subscribed."""

    def __init__(self, args: list[str], *, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            coinsuper_command() + args + ["-v"], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=env or clean_env())
        self.log: list[str] = []

    def wait_subscribed(self, timeout: float = 10.0) -> None:
        lines = read_until(self.process, self.process.stderr, b"subscribed (granted",
                           timeout)
        self.log += [line.decode() for line in lines]

    def finish(self, timeout: float = 10.0) -> tuple[int, bytes, str]:
        try:
            out, err = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, err = self.process.communicate()
            raise AssertionError(f"coinsuper did not stop; stdout={out!r} stderr={err!r}")
        return self.process.returncode, out, "".join(self.log) + err.decode()


def run_coinsuper(args: list[str], *, timeout: float = 20.0, env=None,
                  input: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(coinsuper_command() + args, capture_output=True, timeout=timeout,
                          env=env or clean_env(), input=input)
