"""Scripted MQTT servers for tests, over TCP and over WebSocket: each accepted connection
runs the next script, so a test can send exactly the packets a real broker would only
send by accident (refusals, DUP re-sends, malformed bytes, silence)."""
from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

from coinsuper_cli.mqtt.codec import Decoder, encode
from coinsuper_cli.mqtt.packets import ConnAck, Connect, SubAck, Subscribe


SEND_TIMEOUT = 120.0  # a client that reads nothing for this long has failed the test


class PeerConnection:
    """One client connection seen from the server; `recv` returns b"" once closed."""

    def __init__(self, recv: Callable[[], bytes], send: Callable[[bytes], None]) -> None:
        self._recv = recv
        self._send = send
        self.decoder = Decoder.for_server()

    def expect(self, kind, timeout: float = 15.0):
        """The next packet from the client, which must be of type `kind`."""
        deadline = time.monotonic() + timeout
        while True:
            packet = self.decoder.next_packet()
            if packet is not None:
                assert isinstance(packet, kind), f"expected {kind.__name__}, got {packet}"
                return packet
            try:
                data = self._recv()
            except TimeoutError:
                if time.monotonic() > deadline:
                    raise
                continue
            if not data:
                raise ConnectionError("client closed the connection")
            self.decoder.feed(data)

    def sign_in(self) -> str:
        """Accept CONNECT and SUBSCRIBE; return the (first) subscribed topic."""
        self.expect(Connect)
        self.send(ConnAck(0))
        sub = self.expect(Subscribe)
        self.send(SubAck(sub.packet_id, tuple(q for _, q in sub.topics)))
        return sub.topics[0][0]

    def send(self, *packets) -> None:
        self._send(b"".join(encode(p) for p in packets))

    def send_bytes(self, data: bytes) -> None:
        self._send(data)

    def wait_closed(self, timeout: float = 15.0) -> list:
        """Read until the client closes the connection; return what it sent."""
        deadline = time.monotonic() + timeout
        packets = []
        while time.monotonic() < deadline:
            try:
                data = self._recv()
            except TimeoutError:
                continue
            if not data:
                return packets
            self.decoder.feed(data)
            packets.extend(self.decoder.packets())
        raise AssertionError("the client did not close the connection")


class ScriptedPeer:
    """MQTT over TCP: runs the scripts one per accepted connection, then stops."""

    def __init__(self, *scripts: Callable[[PeerConnection], None]) -> None:
        self.scripts = scripts
        self.errors: list[BaseException] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self.url = f"mqtt://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        for script in self.scripts:
            try:
                sock, _ = self._server.accept()
            except OSError:
                return
            sock.settimeout(1.0)

            def recv(sock=sock) -> bytes:
                try:
                    return sock.recv(65536)
                except ConnectionResetError:
                    return b""

            def send(data: bytes, sock=sock) -> None:
                # The short timeout is for reads (a script polls its deadline); a send
                # blocks while the client's buffers are full, which on a busy machine
                # can last seconds: that is back-pressure, not a failure.
                sock.settimeout(SEND_TIMEOUT)
                try:
                    sock.sendall(data)
                finally:
                    sock.settimeout(1.0)

            with sock:
                if not self._run(script, PeerConnection(recv, send)):
                    return
        self._server.close()

    def _run(self, script, connection: PeerConnection) -> bool:
        try:
            script(connection)
            return True
        except BaseException as error:  # reported by close()
            self.errors.append(error)
            return False

    def close(self) -> None:
        self._server.close()
        self._thread.join(timeout=10)
        if self.errors:
            raise self.errors[0]


class ScriptedWebSocketPeer(ScriptedPeer):
    """The same over WebSocket (subprotocol mqtt), served by the websockets library."""

    def __init__(self, *scripts: Callable[[PeerConnection], None]) -> None:
        from websockets.sync.server import serve

        self.scripts = list(scripts)
        self.errors = []
        self._server = serve(self._handle, "127.0.0.1", 0, subprotocols=["mqtt"])
        self.port = self._server.socket.getsockname()[1]
        self.url = f"ws://127.0.0.1:{self.port}/mqtt"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _handle(self, ws) -> None:
        from websockets.exceptions import ConnectionClosed

        if not self.scripts:
            return

        def recv() -> bytes:
            try:
                return ws.recv(timeout=1.0)
            except ConnectionClosed:
                return b""

        self.ws = ws
        self._run(self.scripts.pop(0), PeerConnection(recv, ws.send))

    def close(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)
        if self.errors:
            raise self.errors[0]
