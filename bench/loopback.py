# Local servers and child processes, shared by the benchmark and the tests: free loopback
# ports, waiting for a listener, mosquitto on free ports, finding the installed
# `coinsuper`, stopping a child we started, and reading a child's CPU time and memory.
#
# It lives here because bench/ is where `python bench/run.py` looks first (a script's own
# directory heads sys.path); the tests reach it through pyproject's pytest `pythonpath`.
# Neither side needs a sys.path insertion. Kept free of pytest and of bench-only code.
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10.0, *,
                  alive: Callable[[], bool] = lambda: True) -> None:
    """Until something accepts on the port; RuntimeError after `timeout`, or at once
    when `alive` says the server that should listen there has died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on port {port}")


def maybe_coinsuper_path() -> str | None:
    """The installed console script, beside this Python if not on PATH."""
    beside = Path(sys.executable).parent / "coinsuper"
    return str(beside) if beside.exists() else shutil.which("coinsuper")


def stop_process(process: subprocess.Popen, sig: int = signal.SIGTERM,
                 timeout: float = 5.0) -> None:
    """Signal a child we started (and only it), killing it if it will not go."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a running process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_memory(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a running process, in bytes."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) * 1024
    return values["VmRSS"], values["VmHWM"]


class Mosquitto:
    """mosquitto with a TCP and a websockets listener on free loopback ports.

    `stop` then `start` restarts it on the same ports.

    Args:
        directory: where its configuration and log go.
        password_file: sign in only the users in it; else anyone may.
        conf: more configuration lines (queue limits, log types, ...).
    """

    def __init__(self, directory: Path, *, password_file: Path | None = None,
                 conf: Sequence[str] = ()) -> None:
        self.tcp_port, self.ws_port = free_port(), free_port()
        lines = [f"listener {self.tcp_port} 127.0.0.1", f"listener {self.ws_port} 127.0.0.1",
                 "protocol websockets", "per_listener_settings false", "persistence false",
                 # mosquitto leaves Nagle's algorithm on by default: every message's last
                 # segment would wait for an ACK, adding milliseconds to every subscriber.
                 "set_tcp_nodelay true",
                 # As root, mosquitto would switch to its own user, who cannot read a
                 # private temporary directory; as anyone else this line has no effect.
                 "user root"]
        if password_file:
            lines += ["allow_anonymous false", f"password_file {password_file}"]
        else:
            lines += ["allow_anonymous true"]
        self.conf = directory / f"mosquitto-{self.tcp_port}.conf"
        self.conf.write_text("\n".join([*lines, *conf]) + "\n")
        self.log = directory / f"mosquitto-{self.tcp_port}.log"
        self.start()

    def start(self) -> None:
        # A restart on the same ports can find one still held for a moment by the
        # stopped broker's sockets; mosquitto then exits at once, and is started again.
        for attempt in range(20):
            with self.log.open("ab") as log:
                self.process = subprocess.Popen(["mosquitto", "-c", str(self.conf)],
                                                stdout=log, stderr=subprocess.STDOUT)
            try:
                for port in (self.tcp_port, self.ws_port):
                    wait_for_port(port, alive=lambda: self.process.poll() is None)
                return
            except BaseException:
                self.stop()
                if self.process.returncode is None or attempt == 19:
                    raise
                time.sleep(0.25)

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}/mqtt"

    @property
    def tcp_url(self) -> str:
        return f"mqtt://127.0.0.1:{self.tcp_port}"

    def stop(self) -> None:
        stop_process(self.process)


RABBITMQ_SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")


class RabbitMQ:
    """A private RabbitMQ node with its MQTT and Web MQTT plugins, as the current user,
    on free loopback ports: its own node name, Erlang distribution port and epmd, its
    data, logs, plugins file and configuration in `directory`, so that it clashes with
    no other node (nor with a system one). guest/guest may sign in from loopback.

    `started_in` says how long it took to accept MQTT connections (about 10 s here).

    Args:
        directory: where everything of the node goes.
        timeout: how long it may take to start.
    """

    def __init__(self, directory: Path, *, timeout: float = 60.0) -> None:
        if not self.available():
            raise RuntimeError(f"{RABBITMQ_SERVER} is not installed")
        self.node_port, self.dist_port, self.epmd_port = free_port(), free_port(), free_port()
        self.tcp_port, self.ws_port = free_port(), free_port()
        base = directory / f"rabbitmq-{self.node_port}"
        base.mkdir()
        (base / "rabbitmq.conf").write_text("\n".join([
            f"listeners.tcp.default = 127.0.0.1:{self.node_port}",
            "loopback_users = none",
            f"mqtt.listeners.tcp.default = 127.0.0.1:{self.tcp_port}",
            f"web_mqtt.tcp.port = {self.ws_port}",
            "web_mqtt.tcp.ip = 127.0.0.1",
        ]) + "\n")
        (base / "enabled_plugins").write_text("[rabbitmq_mqtt,rabbitmq_web_mqtt].\n")
        self.log = base / "server.log"
        env = dict(os.environ,
                   HOME=str(base),  # its Erlang cookie goes there, not in ~
                   RABBITMQ_NODE_PORT=str(self.node_port),
                   RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
                   RABBITMQ_NODENAME=f"coinsuper-test-{self.node_port}@localhost",
                   RABBITMQ_DIST_PORT=str(self.dist_port),
                   ERL_EPMD_PORT=str(self.epmd_port),
                   ERL_EPMD_ADDRESS="127.0.0.1",
                   RABBITMQ_MNESIA_BASE=str(base / "mnesia"),
                   RABBITMQ_LOG_BASE=str(base / "log"),
                   RABBITMQ_ENABLED_PLUGINS_FILE=str(base / "enabled_plugins"),
                   RABBITMQ_CONFIG_FILE=str(base / "rabbitmq"),
                   RABBITMQ_PID_FILE=str(base / "pid"))
        started = time.monotonic()
        with self.log.open("ab") as log:
            # epmd first, ours (a node would start one as a daemon we could not stop),
            # each in a process group of its own, which `stop` ends whole.
            self.epmd = subprocess.Popen(["epmd", "-port", str(self.epmd_port)], env=env,
                                         stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
            self.process = None
            try:
                wait_for_port(self.epmd_port, alive=lambda: self.epmd.poll() is None)
                self.process = subprocess.Popen([str(RABBITMQ_SERVER)], env=env, stdout=log,
                                                stderr=subprocess.STDOUT,
                                                start_new_session=True)
                for port in (self.tcp_port, self.ws_port):
                    wait_for_port(port, timeout - (time.monotonic() - started),
                                  alive=lambda: self.process.poll() is None)
            except BaseException:
                self.stop()
                raise
        self.started_in = time.monotonic() - started

    @staticmethod
    def available() -> bool:
        return RABBITMQ_SERVER.exists() and shutil.which("epmd") is not None

    @property
    def tcp_url(self) -> str:
        return f"mqtt://guest:guest@127.0.0.1:{self.tcp_port}"

    @property
    def ws_url(self) -> str:
        return f"ws://guest:guest@127.0.0.1:{self.ws_port}/ws"

    def stop(self) -> None:
        for process in (self.process, self.epmd):
            if process is None or process.poll() is not None:
                continue
            for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
                try:
                    os.killpg(process.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    process.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
            try:  # what the group's leader left behind (the node's beam.smp)
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
