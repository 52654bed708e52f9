# MQTT over WebSocket in front of mosquitto's TCP listener, one MQTT packet per binary
# frame (as brokers send them). Why: mosquitto 2.0.11's own websockets listener (Debian's
# build, libwebsockets 4) delivers 5 kB payloads at a handful of messages per second, a
# known problem (eclipse-mosquitto/mosquitto#1390), so every client measured through it
# would only measure it. This bridge moves hundreds of thousands of packets a second:
# one recv of up to 256 kB, a header per packet, one sendall.
#
# Run: python bench/ws_bridge.py UPSTREAM_TCP_PORT  (prints its own port, then serves
# until its stdin closes, so it never outlives the benchmark that started it).
from __future__ import annotations

import base64
import hashlib
import socket
import struct
import sys
import threading

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3


def _frame_header(size: int) -> bytes:
    if size < 126:
        return bytes((0x82, size))
    if size < 65536:
        return struct.pack("!BBH", 0x82, 126, size)
    return struct.pack("!BBQ", 0x82, 127, size)


def _handshake(client: socket.socket) -> bytes:
    """Answers the HTTP upgrade; returns any bytes the client sent after it."""
    request = b""
    while b"\r\n\r\n" not in request:
        chunk = client.recv(4096)
        if not chunk:
            raise ConnectionError("client left during the handshake")
        request += chunk
    head, _, rest = request.partition(b"\r\n\r\n")
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    accept = base64.b64encode(hashlib.sha1(headers[b"sec-websocket-key"] + _GUID).digest())
    client.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                   b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept +
                   b"\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n")
    return rest


def _client_to_broker(client: socket.socket, broker: socket.socket, pending: bytes) -> None:
    """Unmasks the client's frames and forwards their payloads (small: CONNECT, ...)."""
    buf = bytearray(pending)
    try:
        while True:
            while len(buf) >= 2:
                opcode, size = buf[0] & 0x0F, buf[1] & 0x7F
                pos = 2
                if size == 126:
                    if len(buf) < 4:
                        break
                    size, pos = struct.unpack_from("!H", buf, 2)[0], 4
                elif size == 127:
                    if len(buf) < 10:
                        break
                    size, pos = struct.unpack_from("!Q", buf, 2)[0], 10
                masked = buf[1] & 0x80
                end = pos + (4 if masked else 0) + size
                if len(buf) < end:
                    break
                data = bytes(buf[end - size:end])
                if masked:
                    mask = (bytes(buf[pos:pos + 4]) * (size // 4 + 1))[:size]
                    data = (int.from_bytes(data, "big") ^ int.from_bytes(mask, "big")
                            ).to_bytes(size, "big")
                del buf[:end]
                if opcode == 0x8:  # close
                    return
                if opcode in (0x0, 0x2):
                    broker.sendall(data)
            chunk = client.recv(65536)
            if not chunk:
                return
            buf += chunk
    except OSError:
        return
    finally:
        _shut(client, broker)


def _shut(*socks: socket.socket) -> None:
    """Ends both directions, so that the other pump's blocking recv returns too."""
    for sock in socks:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _broker_to_client(broker: socket.socket, client: socket.socket) -> None:
    """Splits the broker's byte stream into MQTT packets, one binary frame each."""
    buf = bytearray()
    try:
        while True:
            chunk = broker.recv(1 << 18)
            if not chunk:
                return
            buf += chunk
            out = []
            pos, size = 0, len(buf)
            while pos + 2 <= size:
                i, length, shift = pos + 1, 0, 0
                while i < size:  # MQTT 3.1.1 §2.2.3: the remaining length
                    digit = buf[i]
                    i += 1
                    length |= (digit & 0x7F) << shift
                    if digit < 0x80:
                        break
                    shift += 7
                else:
                    break
                end = i + length
                if end > size:
                    break
                out.append(_frame_header(end - pos))
                out.append(buf[pos:end])
                pos = end
            if out:
                client.sendall(b"".join(out))
                del buf[:pos]
    except OSError:
        return
    finally:
        _shut(client, broker)


def _serve(client: socket.socket, upstream_port: int) -> None:
    try:
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pending = _handshake(client)
        broker = socket.create_connection(("127.0.0.1", upstream_port))
        broker.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, KeyError, ConnectionError):
        client.close()
        return
    threading.Thread(target=_client_to_broker, args=(client, broker, pending),
                     daemon=True).start()
    _broker_to_client(broker, client)
    client.close()
    broker.close()


def main() -> None:
    upstream_port = int(sys.argv[1])
    listener = socket.create_server(("127.0.0.1", 0))
    print(listener.getsockname()[1], flush=True)

    def accept() -> None:
        while True:
            client, _ = listener.accept()
            threading.Thread(target=_serve, args=(client, upstream_port),
                             daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    sys.stdin.read()  # until the benchmark closes our stdin or goes away


if __name__ == "__main__":
    main()
