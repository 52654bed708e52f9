#!/usr/bin/env python
# The benchmark's WebSocket front (ws_bridge.py) measured alone: a client that does the
# WebSocket handshake, subscribes, and then only counts the bytes that come (no frame is
# parsed), so that what is measured is mosquitto and the bridge, not a subscriber.
# `python bench/bridge_alone.py` prints msg/s for the trades and depth workloads, 3 each.
from __future__ import annotations

import base64
import os
import socket
import struct
import sys
import tempfile
import time
from pathlib import Path

import workloads
from harness import Broker, Publisher

from coinsuper_cli.mqtt.codec import encode
from coinsuper_cli.mqtt.packets import Connect, Subscribe


def client_frame(data: bytes) -> bytes:
    """A masked binary frame, as a client sends (RFC 6455 §5.3)."""
    mask = os.urandom(4)
    n = len(data)
    head = (bytes((0x82, 0x80 | n)) if n < 126
            else struct.pack("!BBH", 0x82, 0xFE, n))
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def server_frame_size(n: int) -> int:
    return n + (2 if n < 126 else 4 if n < 65536 else 10)


def rate(broker: Broker, publisher: Publisher, workload, n: int, env: str) -> float:
    topic = workload.topic(env)
    retained = Publisher.packet(topic, workload.payload(0), retain=True)
    publisher.send(retained)
    sock = socket.create_connection(("127.0.0.1", broker.ws_port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(f"GET /mqtt HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\n"
                 f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                 "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(4096)
    got = len(data.split(b"\r\n\r\n", 1)[1])
    sock.sendall(client_frame(encode(Connect(f"alone-{env}", keepalive=0)))
                 + client_frame(encode(Subscribe(1, ((topic, 0),)))))
    # CONNACK (2 bytes of body), SUBACK (3) and the retained message: subscribed.
    first = server_frame_size(4) + server_frame_size(5) + server_frame_size(len(retained))
    while got < first:
        got += len(sock.recv(1 << 18))
    packets = [Publisher.packet(topic, workload.payload(i)) for i in range(1, n + 1)]
    expected = sum(server_frame_size(len(p)) for p in packets)
    got -= first
    start = time.perf_counter()
    publisher.send(b"".join(packets))
    while got < expected:
        got += len(sock.recv(1 << 18))
    seconds = time.perf_counter() - start
    sock.close()
    return n / seconds


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="coinsuper-bridge-") as tmp:
        broker = Broker(Path(tmp))
        try:
            publisher = Publisher(broker.tcp_port)
            for workload in (workloads.trades(), workloads.depth()):
                rates = [rate(broker, publisher, workload, 20_000, f"alone_{workload.name}_{i}")
                         for i in range(3)]
                print(f"{workload.name}: the bridge alone, "
                      + ", ".join(f"{r:.0f}" for r in rates) + " msg/s")
        finally:
            broker.stop()


if __name__ == "__main__":
    sys.exit(main())
