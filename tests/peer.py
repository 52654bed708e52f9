"""A scripted MQTT server for tests: it accepts one TCP connection at a time and runs a
script against it, so a test can send exactly the packets a real broker would only send
by accident (refusals, DUP re-sends, malformed bytes)."""
from __future__ import annotations

import socket
import threading
from collections.abc import Callable

from coinsuper_cli.mqtt.codec import Decoder, encode


class PeerConnection:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.decoder = Decoder.for_server()
        self.sock.settimeout(10)

    def expect(self, kind):
        """The next packet from the client, which must be of type `kind`."""
        while True:
            packet = self.decoder.next_packet()
            if packet is not None:
                assert isinstance(packet, kind), f"expected {kind.__name__}, got {packet}"
                return packet
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("client closed the connection")
            self.decoder.feed(data)

    def send(self, *packets) -> None:
        self.sock.sendall(b"".join(encode(p) for p in packets))

    def send_bytes(self, data: bytes) -> None:
        self.sock.sendall(data)


class ScriptedPeer:
    def __init__(self, script: Callable[[PeerConnection], None]) -> None:
        self.script = script
        self.errors: list[BaseException] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self.url = f"mqtt://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            sock, _ = self._server.accept()
        except OSError:
            return
        with sock:
            try:
                self.script(PeerConnection(sock))
            except BaseException as error:  # reported by close()
                self.errors.append(error)

    def close(self) -> None:
        self._server.close()
        self._thread.join(timeout=10)
        if self.errors:
            raise self.errors[0]
