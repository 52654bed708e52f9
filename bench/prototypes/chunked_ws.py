# Prototype for issue 6 (not used by coinsuper): a WebSocket transport that reads the
# socket in 256 kB chunks and splits frames itself, returning every whole binary frame's
# payload joined, instead of websocket-client's 2-3 recv calls and Python objects per
# frame. Run coinsuper with it: python bench/prototypes/chunked_ws.py trades BTC_USD ...
# The handshake stays websocket-client's; only the receive path changes. Server frames
# are unmasked (RFC 6455 §5.1); ping is answered, close ends the link.
from __future__ import annotations

import socket
import struct
import sys

from coinsuper_cli import runner, transport
from coinsuper_cli.mqtt.errors import ProtocolViolation


class ChunkedWebSocketTransport(transport.WebSocketTransport):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._buf = bytearray()

    def recv(self, timeout: float) -> bytes | None:
        sock = self._ws.sock
        if timeout != self._timeout:
            sock.settimeout(timeout)
            self._timeout = timeout
        try:
            chunk = sock.recv(1 << 18)
        except socket.timeout:
            return None
        except OSError as error:
            raise transport.ConnectionClosed(f"connection lost: {error}") from None
        if not chunk:
            raise transport.ConnectionClosed("the broker closed the connection")
        buf = self._buf
        buf += chunk
        out = []
        pos, size = 0, len(buf)
        while pos + 2 <= size:
            opcode, length = buf[pos] & 0x0F, buf[pos + 1] & 0x7F
            head = 2
            if length == 126:
                if pos + 4 > size:
                    break
                length, head = struct.unpack_from("!H", buf, pos + 2)[0], 4
            elif length == 127:
                if pos + 10 > size:
                    break
                length, head = struct.unpack_from("!Q", buf, pos + 2)[0], 10
            end = pos + head + length
            if end > size:
                break
            if opcode in (0x0, 0x2):
                out.append(buf[pos + head:end])
            elif opcode == 0x1:
                raise ProtocolViolation("the broker sent a text WebSocket frame")
            elif opcode == 0x8:
                raise transport.ConnectionClosed("the broker closed the WebSocket")
            elif opcode == 0x9:
                self._ws.pong(bytes(buf[pos + head:end]))
            pos = end
        del buf[:pos]
        return b"".join(out)


def open_transport(url, **kwargs):
    if url.startswith(("ws:", "wss:")):
        return ChunkedWebSocketTransport(url, **kwargs)
    return transport.TCPTransport(url, **{k: v for k, v in kwargs.items()
                                          if k != "max_frame"})


if __name__ == "__main__":
    runner.open_transport = open_transport
    from coinsuper_cli.cli import main

    sys.exit(main())
