# The benchmark's fixed parts: a mosquitto broker on free loopback ports, a publisher
# that writes pre-encoded PUBLISH packets straight to its TCP socket (faster than any
# subscriber, so the subscriber is always the bottleneck), and the subscribers compared.
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from loopback import Mosquitto, maybe_coinsuper_path, process_cpu_seconds, stop_process

from coinsuper_cli.mqtt.codec import encode
from coinsuper_cli.mqtt.packets import Connect, Disconnect, Publish

BENCH = Path(__file__).resolve().parent
PYTHON = sys.executable


def coinsuper_command() -> str:
    found = maybe_coinsuper_path()
    if not found:
        raise SystemExit("the coinsuper command is not installed (pip install -e .)")
    return found


class Broker:
    """mosquitto (loopback.Mosquitto) and ws_bridge.py in front of its TCP listener (see
    there why): `url("ws")` is the bridge, `url("mosquitto-ws")` mosquitto's own
    websockets listener.

    QoS 0 messages to a slow subscriber queue (nearly) without limit, so
    a fast publisher loses nothing; the runs are sized so that the queue stays small.
    """

    def __init__(self, directory: Path) -> None:
        if not shutil.which("mosquitto"):
            raise SystemExit("mosquitto is not installed (apt-get install mosquitto "
                             "mosquitto-clients)")
        self.mosquitto = Mosquitto(directory, conf=[
            "max_queued_messages 10000000", "max_queued_bytes 4000000000",
            "log_type error", "log_type warning", "log_type notice"])
        self.tcp_port, self.native_ws_port = self.mosquitto.tcp_port, self.mosquitto.ws_port
        self.bridge = None
        try:
            self.bridge = subprocess.Popen(
                [PYTHON, str(BENCH / "ws_bridge.py"), str(self.tcp_port)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            self.ws_port = int(self.bridge.stdout.readline())
        except BaseException:
            self.stop()
            raise

    def url(self, transport: str) -> str:
        if transport == "ws":
            return f"ws://127.0.0.1:{self.ws_port}/mqtt"
        if transport == "mosquitto-ws":
            return self.mosquitto.ws_url
        return self.mosquitto.tcp_url

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.mosquitto.process.pid)

    def stop(self) -> None:
        if self.bridge is not None:
            stop_process(self.bridge)
        self.mosquitto.stop()


class Publisher:
    """A raw MQTT connection that publishes pre-encoded QoS 0 packets."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(encode(Connect(f"bench-pub-{os.getpid()}", keepalive=0)))
        connack = b""
        while len(connack) < 4:
            chunk = self.sock.recv(4 - len(connack))
            if not chunk:
                raise RuntimeError("the broker closed the publisher's connection")
            connack += chunk
        if connack[3]:
            raise RuntimeError(f"the broker refused the publisher: code {connack[3]}")

    @staticmethod
    def packet(topic: str, payload: bytes, *, retain: bool = False) -> bytes:
        return encode(Publish(topic, payload, retain=retain))

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close(self) -> None:
        try:
            self.sock.sendall(encode(Disconnect()))
        except OSError:
            pass
        self.sock.close()


@dataclass(frozen=True)
class Subject:
    """One subscriber under test.

    Args:
        name: its row label.
        kind: "coinsuper", "mosquitto_sub" or "paho".
        transport: "ws" (through the bridge), "mosquitto-ws" or "mqtt" (TCP).
        fmt: coinsuper's --format: "raw" or "jsonl"; the others print payloads (raw).
    """

    name: str
    kind: str
    transport: str
    fmt: str = "raw"

    @property
    def counts_records(self) -> bool:
        return self.fmt == "jsonl"

    def command(self, broker: Broker, workload, env: str, count: int | None) -> list[str]:
        topic = workload.topic(env)
        if self.kind == "coinsuper":
            cmd = [coinsuper_command(), workload.command, "BTC_USD", "--url",
                   broker.url(self.transport), "--env", env, "--format", self.fmt]
            return cmd + (["--count", str(count)] if count else [])
        if self.kind == "mosquitto_sub":
            assert self.transport == "mqtt", "mosquitto_sub speaks MQTT over TCP only"
            cmd = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.tcp_port),
                   "-t", topic, "-q", "0"]
            return cmd + (["-C", str(count)] if count else [])
        port = {"ws": broker.ws_port, "mosquitto-ws": broker.native_ws_port,
                "mqtt": broker.tcp_port}[self.transport]
        cmd = [PYTHON, str(BENCH / "paho_sub.py"), "--transport",
               "tcp" if self.transport == "mqtt" else "websockets", "--port", str(port),
               "--topic", topic]
        return cmd + (["--count", str(count)] if count else [])
