"""The transports over real sockets: the replies the client owes written back, plain
and TLS, writes under back-pressure; and the CA file checks."""
from __future__ import annotations

import base64
import hashlib
import os
import re
import socket
import ssl
import threading
import time

import pytest
import trustme

from coinsuper_cli.errors import UsageError
from coinsuper_cli.mqtt.errors import ProtocolViolation
from coinsuper_cli.net.tls import TLSOptions, check_cafile
from coinsuper_cli.errors import ConnectionClosed
from coinsuper_cli.net.transport import CLOSE_WAIT, TCPTransport, WebSocketTransport, open_transport
from coinsuper_cli.urls import check_url

from test_websocket import close_payload, frame, split_client_frames

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA  # RFC 6455 §5.2


# -- over real sockets --------------------------------------------------------------------

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3


class RawWebSocketServer:
    """Accepts one client, answers its opening handshake (RFC 6455 §4.2.2) by hand,
    then lets the test write and read raw bytes on the connection."""

    def __init__(self, context: ssl.SSLContext | None = None) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        scheme = "wss" if context else "ws"
        self.url = f"{scheme}://127.0.0.1:{self._listener.getsockname()[1]}/mqtt"
        self._context = context
        self.sock: socket.socket | None = None
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        sock, _ = self._listener.accept()
        self._listener.close()
        if self._context:
            sock = self._context.wrap_socket(sock, server_side=True)
        request = b""
        while b"\r\n\r\n" not in request:
            request += sock.recv(4096)
        key = next(line.split(b":", 1)[1].strip() for line in request.split(b"\r\n")
                   if line.lower().startswith(b"sec-websocket-key:"))
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept +
                     b"\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n")
        sock.settimeout(5)
        self.sock = sock

    def connected(self) -> socket.socket:
        self._thread.join(5)
        assert self.sock is not None, "no handshake"
        return self.sock

    def read_frames(self, count: int) -> list[tuple[int, bytes]]:
        """The next `count` frames from the client (and no more: a test asks for all)."""
        data = b""
        while len(frames := split_client_frames(data)[0]) < count:
            chunk = self.sock.recv(65536)
            assert chunk, f"the client closed after {data!r}"
            data += chunk
        return frames


@pytest.fixture
def server():
    return RawWebSocketServer()


def connect(url: str, tls: TLSOptions = TLSOptions(), max_frame: int = 1 << 20):
    return open_transport(url, timeout=5, tls=tls, max_frame=max_frame)


def recv_until(transport, want: int) -> bytes:
    got = b""
    while len(got) < want:
        data = transport.recv(5)
        assert data is not None, "nothing within 5 s"
        got += data
    return got


def test_websocket_transport_sends_frames_and_reads_many_from_each_read(server):
    transport = connect(server.url)
    assert isinstance(transport, WebSocketTransport)
    peer = server.connected()
    transport.send(b"\x10\x02hi")
    assert server.read_frames(1) == [(BINARY, b"\x10\x02hi")]
    peer.sendall(b"".join(frame(BINARY, bytes([i]) * 101) for i in range(200)))
    assert recv_until(transport, 200 * 101) == b"".join(bytes([i]) * 101 for i in range(200))
    assert transport.recv(0.05) is None  # nothing more within the timeout
    transport.close()


def test_pongs_and_close_replies_are_written_to_the_socket(server):
    transport = connect(server.url)
    peer = server.connected()
    peer.sendall(frame(PING, b"ping 1") + frame(BINARY, b"data"))
    assert recv_until(transport, 4) == b"data"
    assert server.read_frames(1) == [(PONG, b"ping 1")]
    peer.sendall(frame(BINARY, b"last") + frame(CLOSE, close_payload(1001)))
    assert recv_until(transport, 4) == b"last"
    with pytest.raises(ConnectionClosed, match=r"\(1001\)"):
        transport.recv(5)
    assert server.read_frames(1) == [(CLOSE, close_payload(1001))]
    with pytest.raises(ConnectionClosed):  # the runner's DISCONNECT: nothing goes out
        transport.send(b"\xe0\x00")
    transport.close()
    assert peer.recv(100) == b""  # no second close frame, just the end of the socket


def test_a_bad_frame_is_answered_with_a_protocol_error_close(server):
    transport = connect(server.url)
    peer = server.connected()
    peer.sendall(frame(BINARY, b"x", rsv=2))
    with pytest.raises(ProtocolViolation, match="^WebSocket: "):
        recv_until(transport, 1)
    [(opcode, payload)] = server.read_frames(1)
    assert (opcode, payload[:2]) == (CLOSE, (1002).to_bytes(2, "big"))
    transport.close()


def test_close_says_goodbye_and_waits_for_the_reply_before_letting_go(server):
    transport = connect(server.url)
    peer = server.connected()
    seen = []

    def reply() -> None:
        seen.extend(server.read_frames(1))
        time.sleep(0.05)
        peer.sendall(frame(BINARY, b"late") + frame(CLOSE, close_payload(1000)))

    replier = threading.Thread(target=reply)
    replier.start()
    started = time.monotonic()
    transport.close()
    waited = time.monotonic() - started
    replier.join(5)
    assert seen == [(CLOSE, close_payload(1000))]
    # RFC 6455 §7.1.1: the server closes TCP first, so the client waits for its close
    # frame, and lets go as soon as it has it rather than when CLOSE_WAIT runs out.
    assert 0.05 <= waited < CLOSE_WAIT
    assert peer.recv(100) == b""


def test_close_waits_no_longer_than_close_wait_for_a_silent_broker(server):
    transport = connect(server.url)
    server.connected()
    started = time.monotonic()
    transport.close()
    assert CLOSE_WAIT - 0.01 <= time.monotonic() - started < CLOSE_WAIT + 1
    assert server.read_frames(1) == [(CLOSE, close_payload(1000))]


def test_a_broker_that_hangs_up_is_connection_closed(server):
    transport = connect(server.url)
    server.connected().close()
    with pytest.raises(ConnectionClosed, match="closed the connection"):
        transport.recv(5)
    transport.close()


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    authority = trustme.CA()
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    authority.cert_pem.write_to_path(str(path))
    return authority, str(path)


def test_an_upper_case_scheme_opens_the_transport_it_names(server):
    transport = connect(check_url("WS" + server.url[2:]))  # the path keeps its case
    assert isinstance(transport, WebSocketTransport)
    transport.close()


def test_wss_with_a_cafile_carries_frames_both_ways(ca):
    authority, ca_path = ca
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    server = RawWebSocketServer(context)
    transport = connect(server.url, TLSOptions(cafile=ca_path))
    peer = server.connected()
    transport.send(b"\x10\x00")
    assert server.read_frames(1) == [(BINARY, b"\x10\x00")]
    peer.sendall(frame(PING, b"tls") + frame(BINARY, b"z" * 50_000))  # many TLS records
    assert recv_until(transport, 50_000) == b"z" * 50_000
    assert server.read_frames(1) == [(PONG, b"tls")]
    transport.close()


def test_tcp_transport_moves_bytes_both_ways():
    listener = socket.create_server(("127.0.0.1", 0))
    url = f"mqtt://127.0.0.1:{listener.getsockname()[1]}"
    transport = open_transport(url, timeout=5, tls=TLSOptions())
    assert isinstance(transport, TCPTransport)
    peer, _ = listener.accept()
    with listener, peer:
        transport.send(b"\x10\x00")
        assert peer.recv(10) == b"\x10\x00"
        assert transport.recv(0.05) is None
        peer.sendall(b"\x20\x02\x00\x00")
        assert transport.recv(5) == b"\x20\x02\x00\x00"
        peer.close()
        with pytest.raises(ConnectionClosed):
            transport.recv(5)
    transport.close()


@pytest.mark.parametrize("scheme", ["mqtt", "ws"])
def test_a_write_under_back_pressure_waits_past_the_read_timeout(scheme):
    """A broker that reads a burst more slowly than it comes is not a lost link: after a
    read with a poll-sized timeout, a large write still waits for the broker to take
    it (the relay publishing a flood), up to WRITE_TIMEOUT."""
    listener = socket.create_server(("127.0.0.1", 0))
    url = f"{scheme}://127.0.0.1:{listener.getsockname()[1]}/mqtt"
    burst = b"x" * (16 * 1024 * 1024)  # more than the socket buffers hold
    got = bytearray()

    def broker():
        peer, _ = listener.accept()
        with peer:
            if scheme == "ws":  # the WebSocket handshake, then frames are only bytes
                request = b""
                while b"\r\n\r\n" not in request:
                    request += peer.recv(4096)
                key = re.search(rb"Sec-WebSocket-Key: (\S+)", request)[1]
                accept = base64.b64encode(hashlib.sha1(
                    key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
                peer.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                             b"Connection: Upgrade\r\nSec-WebSocket-Protocol: mqtt\r\n"
                             b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
            time.sleep(0.5)  # the client's write blocks meanwhile
            while len(got) < len(burst):
                data = peer.recv(1 << 20)
                if not data:
                    break
                got.extend(data)

    thread = threading.Thread(target=broker, daemon=True)
    thread.start()
    transport = open_transport(url, timeout=5, tls=TLSOptions())
    assert transport.recv(0.01) is None  # the socket's timeout is now a poll's
    transport.send(burst)
    thread.join(10)
    transport.close()
    listener.close()
    assert len(got) >= len(burst)


# -- CA files -----------------------------------------------------------------------------

def test_a_good_cafile_passes_and_is_the_only_trust(ca):
    authority, ca_path = ca
    assert check_cafile(ca_path) == ca_path
    context = TLSOptions(cafile=ca_path).context()
    assert context.cert_store_stats()["x509"] == 1  # the system's CAs are not added
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def crl_only(authority: trustme.CA) -> bytes:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    key = serialization.load_pem_private_key(authority.private_key_pem.bytes(), None)
    issuer = x509.load_pem_x509_certificate(authority.cert_pem.bytes()).subject
    now = datetime.datetime.now(datetime.timezone.utc)
    crl = (x509.CertificateRevocationListBuilder().issuer_name(issuer).last_update(now)
           .next_update(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    return crl.public_bytes(serialization.Encoding.PEM)


def bad_cafiles(directory, authority: trustme.CA) -> dict[str, str]:
    pem = authority.cert_pem.bytes()
    contents = {
        "empty": b"",
        "garbage": b"hello, I am not a certificate\n",
        "random bytes": os.urandom(512),
        "DER, not PEM": ssl.PEM_cert_to_DER_cert(pem.decode()),
        "a private key only": authority.private_key_pem.bytes(),
        "a certificate cut short": pem[:200],
        "a certificate with a corrupt body": pem.replace(pem[100:110], b"!!!!!!!!!!"),
        "a CRL only": crl_only(authority),
    }
    paths = {}
    for name, data in contents.items():
        path = directory / (name.replace(" ", "_").replace(",", "") + ".pem")
        path.write_bytes(data)
        paths[name] = str(path)
    paths["missing"] = str(directory / "missing.pem")
    paths["a directory"] = str(directory)
    paths["a path through a file"] = str(directory / "empty.pem" / "ca.pem")
    return paths


BAD_CAFILES = ["empty", "garbage", "random bytes", "DER, not PEM", "a private key only",
               "a certificate cut short", "a certificate with a corrupt body", "a CRL only",
               "missing", "a directory", "a path through a file"]


@pytest.mark.parametrize("name", BAD_CAFILES)
def test_every_bad_cafile_is_a_one_line_usage_error(name, ca, tmp_path):
    path = bad_cafiles(tmp_path, ca[0])[name]
    with pytest.raises(UsageError) as error:
        check_cafile(path)
    message = str(error.value)
    assert message.isprintable() and repr(path) in message
    assert "--cafile" not in message  # the CLI names the option
    with pytest.raises(UsageError):  # not ssl.SSLError or OSError
        TLSOptions(cafile=path).context()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_cafile_is_a_usage_error(ca, tmp_path):
    path = tmp_path / "ca.pem"
    ca[0].cert_pem.write_to_path(str(path))
    path.chmod(0)
    with pytest.raises(UsageError, match="Permission denied"):
        check_cafile(str(path))


@pytest.mark.parametrize("scheme", ["wss", "mqtts"])
def test_a_bad_cafile_stops_a_tls_transport_before_it_connects(scheme, tmp_path):
    garbage = tmp_path / "ca.pem"
    garbage.write_text("garbage")
    # Nothing listens on port 1: a usage error, not "could not connect".
    with pytest.raises(UsageError, match="holds no readable certificate"):
        open_transport(f"{scheme}://127.0.0.1:1", timeout=5,
                       tls=TLSOptions(cafile=str(garbage)))
