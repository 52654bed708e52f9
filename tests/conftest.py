"""Shared fixtures: a real mosquitto broker on free loopback ports, and the installed
`coinsuper` command run as a subprocess."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

SAMPLES = Path(__file__).parent / "samples"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on port {port}")


def coinsuper_command() -> list[str]:
    """The installed console script, beside this Python if not on PATH."""
    beside = Path(sys.executable).parent / "coinsuper"
    found = str(beside) if beside.exists() else shutil.which("coinsuper")
    if not found:
        pytest.fail("the coinsuper command is not installed (pip install -e .)")
    return [found]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COINSUPER_")}
    env.update(extra)
    return env


class Mosquitto:
    def __init__(self, directory: Path, *, password_file: Path | None = None) -> None:
        self.tcp_port, self.ws_port = free_port(), free_port()
        lines = [f"listener {self.tcp_port} 127.0.0.1", f"listener {self.ws_port} 127.0.0.1",
                 "protocol websockets"]
        if password_file:
            lines += ["allow_anonymous false", f"password_file {password_file}"]
        else:
            lines += ["allow_anonymous true"]
        # As root, mosquitto would switch to its own user, who cannot read the test's
        # private temporary directory; as anyone else this line has no effect.
        lines += ["per_listener_settings false", "persistence false", "user root"]
        self.conf = directory / f"mosquitto-{self.tcp_port}.conf"
        self.conf.write_text("\n".join(lines) + "\n")
        self.log = directory / f"mosquitto-{self.tcp_port}.log"
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(["mosquitto", "-c", str(self.conf)],
                                        stdout=self.log.open("ab"), stderr=subprocess.STDOUT)
        wait_for_port(self.tcp_port)
        wait_for_port(self.ws_port)

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}/mqtt"

    @property
    def tcp_url(self) -> str:
        return f"mqtt://127.0.0.1:{self.tcp_port}"

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

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()


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
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.process.stderr.readline().decode()
            if not line:
                break
            self.log.append(line)
            if "subscribed (granted" in line:
                return
        self.process.kill()
        raise AssertionError("coinsuper did not subscribe: " + "".join(self.log)
                             + self.process.stderr.read().decode())

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
