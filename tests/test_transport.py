"""The transports: WebSocket frames parsed sans-I/O from chunks of any size (RFC 6455),
the replies the client owes written back over a real socket, plain and TLS; and the
checks that turn a bad broker URL or CA file into a one-line usage error."""
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
from hypothesis import given, strategies as st

from coinsuper_cli.errors import UsageError
from coinsuper_cli.mqtt.errors import ProtocolViolation
from coinsuper_cli.net.tls import TLSOptions, check_cafile
from coinsuper_cli.net.transport import (CLOSE_WAIT, ConnectionClosed, TCPTransport,
                                         WebSocketFrames, WebSocketTransport, check_url,
                                         open_transport, redact_url)

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA  # RFC 6455 §5.2


# -- frames on the wire -----------------------------------------------------------------

def frame(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0,
          mask: bytes | None = None, length: int | None = None) -> bytes:
    """A frame as a server writes it (RFC 6455 §5.2); `length` may lie about the payload."""
    size = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | rsv << 4 | opcode])
    masked = 0x80 if mask else 0
    if size < 126:
        head += bytes([masked | size])
    elif size < 65536:
        head += bytes([masked | 126]) + size.to_bytes(2, "big")
    else:
        head += bytes([masked | 127]) + size.to_bytes(8, "big")
    if mask:
        head += mask
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + payload


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return code.to_bytes(2, "big") + reason


def split_client_frames(data: bytes) -> tuple[list[tuple[int, bytes]], int]:
    """(opcode, payload) of each whole frame at the start of what the client wrote, and
    how many bytes they take; every one must be final and masked (RFC 6455 §5.3)."""
    frames, pos = [], 0
    while len(data) - pos >= 2:
        head, size = data[pos], data[pos + 1] & 0x7F
        assert head & 0x80 and data[pos + 1] & 0x80, "client frames are final and masked"
        start = pos + 2 + {126: 2, 127: 8}.get(size, 0)
        if size >= 126:
            size = int.from_bytes(data[pos + 2:start], "big")
        end = start + 4 + size
        if len(data) < end:
            break
        mask = data[start:start + 4]
        frames.append((head & 0x0F, bytes(b ^ mask[i % 4]
                                          for i, b in enumerate(data[start + 4:end]))))
        pos = end
    return frames, pos


def client_frames(data: bytes) -> list[tuple[int, bytes]]:
    """Every frame in `data`, which must hold only whole ones."""
    frames, used = split_client_frames(data)
    assert used == len(data), "a frame cut short"
    return frames


# -- parsing, fed in pieces -------------------------------------------------------------

# A stream mixing length encodings, control frames between fragments, and empty payloads;
# None marks a frame whose payload is not handed on.
STREAM = [
    (frame(BINARY, b"a"), b"a"),
    (frame(BINARY, b""), b""),
    (frame(PING, b"hi"), None),
    (frame(BINARY, b"b" * 125), b"b" * 125),
    (frame(BINARY, b"c" * 126), b"c" * 126),
    (frame(BINARY, b"d" * 300, fin=False), b"d" * 300),
    (frame(PONG, b"unasked"), None),
    (frame(CONT, b"e" * 7, fin=False), b"e" * 7),
    (frame(CONT, b"f" * 3), b"f" * 3),
    (frame(BINARY, bytes(range(256))), bytes(range(256))),
]


def expected_after(fed: int) -> bytes:
    """The payloads of the frames wholly inside the first `fed` bytes of STREAM."""
    out, end = [], 0
    for wire, payload in STREAM:
        end += len(wire)
        if end <= fed and payload is not None:
            out.append(payload)
    return b"".join(out)


def test_every_chunk_size_hands_on_each_payload_as_soon_as_its_frame_is_whole():
    stream = b"".join(wire for wire, _ in STREAM)
    for size in range(1, len(stream) + 1):
        frames = WebSocketFrames()
        got, replies = b"", b""
        for start in range(0, len(stream), size):
            got += frames.receive_data(stream[start:start + size])
            replies += frames.data_to_send()
            fed = min(start + size, len(stream))
            assert got == expected_after(fed), f"chunks of {size}, after {fed} bytes"
        assert client_frames(replies) == [(PONG, b"hi")], f"chunks of {size}"


@pytest.mark.parametrize("size", [1, 2, 9, 10, 4096, 65535, 65546, 65547, 1 << 20])
def test_a_frame_with_a_64_bit_length_is_parsed_from_any_cut(size):
    big = os.urandom(70_000)
    stream = frame(BINARY, big) + frame(BINARY, b"after")
    frames = WebSocketFrames()
    got = b"".join(frames.receive_data(stream[i:i + size]) for i in range(0, len(stream), size))
    assert got == big + b"after"


@given(st.lists(st.binary(max_size=300), max_size=12), st.data())
def test_binary_payloads_come_out_in_order_however_the_stream_is_cut(payloads, data):
    stream = b"".join(frame(BINARY, p) for p in payloads)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    frames = WebSocketFrames()
    got = b"".join(frames.receive_data(stream[a:b])
                   for a, b in zip([0, *cuts], [*cuts, len(stream)]))
    assert got == b"".join(payloads)
    assert frames.data_to_send() == b""  # nothing owed for data frames


def test_a_fragmented_message_goes_on_fragment_by_fragment():
    frames = WebSocketFrames(max_frame=1024)
    assert frames.receive_data(frame(BINARY, b"x" * 1000, fin=False)) == b"x" * 1000
    # No limit on the whole message: each fragment was handed on when it was whole.
    for _ in range(5):
        assert frames.receive_data(frame(CONT, b"y" * 1000, fin=False)) == b"y" * 1000
    assert frames.receive_data(frame(CONT, b"z")) == b"z"


# -- what the client owes the broker ------------------------------------------------------

def test_a_ping_is_answered_with_its_payload_and_not_handed_on():
    frames = WebSocketFrames()
    assert frames.receive_data(frame(PING, b"are you there") + frame(PING, b"")) == b""
    assert client_frames(frames.data_to_send()) == [(PONG, b"are you there"), (PONG, b"")]
    assert frames.data_to_send() == b""  # each reply is handed out once


def test_what_we_send_goes_out_as_masked_binary_frames():
    frames = WebSocketFrames()
    frames.send(b"\x10\x0c")
    frames.send(b"p" * 70_000)
    assert client_frames(frames.data_to_send()) == [(BINARY, b"\x10\x0c"),
                                                    (BINARY, b"p" * 70_000)]


def test_closing_sends_a_normal_close_once():
    frames = WebSocketFrames()
    assert frames.open
    frames.send_close()
    assert not frames.open
    assert client_frames(frames.data_to_send()) == [(CLOSE, close_payload(1000))]


# -- faults -------------------------------------------------------------------------------

def test_a_text_frame_is_a_protocol_violation_answered_with_1003():
    frames = WebSocketFrames()
    with pytest.raises(ProtocolViolation, match="text WebSocket frame"):
        frames.receive_data(frame(TEXT, b"not binary"))
    [(opcode, payload)] = client_frames(frames.data_to_send())
    assert (opcode, payload[:2]) == (CLOSE, (1003).to_bytes(2, "big"))
    assert not frames.open


@pytest.mark.parametrize("code", [1000, 1001, 1011, 4000])
def test_a_close_frame_ends_the_connection_naming_its_code_and_is_echoed(code):
    frames = WebSocketFrames()
    with pytest.raises(ConnectionClosed, match=rf"closed the WebSocket \({code}\)"):
        frames.receive_data(frame(CLOSE, close_payload(code, b"bye")))
    # RFC 6455 §5.5.1: the reply echoes the code.
    assert client_frames(frames.data_to_send()) == [(CLOSE, close_payload(code, b"bye"))]
    assert not frames.open


def test_an_empty_close_frame_is_1005_no_status():
    frames = WebSocketFrames()
    with pytest.raises(ConnectionClosed, match=r"\(1005\)"):
        frames.receive_data(frame(CLOSE))
    assert client_frames(frames.data_to_send()) == [(CLOSE, b"")]


BAD_FRAMES = {
    # RFC 6455 §5.1: a server never masks; §5.2: reserved bits and opcodes
    "masked by the server": (frame(BINARY, b"hello", mask=b"\x01\x02\x03\x04"), 1002),
    "a reserved bit set": (frame(BINARY, b"x", rsv=4), 1002),
    "reserved opcode 3": (frame(0x3, b"x"), 1002),
    "reserved opcode 11": (frame(0xB), 1002),
    # §5.5: control frames are final and at most 125 bytes
    "a 126-byte ping": (frame(PING, b"p" * 126), 1002),
    "a fragmented ping": (frame(PING, b"p", fin=False), 1002),
    # §5.4: fragments
    "a continuation with nothing to continue": (frame(CONT, b"x"), 1002),
    # §5.5.1, §7.4: close frames
    "a one-byte close frame": (frame(CLOSE, b"\x03"), 1002),
    "close code 999": (frame(CLOSE, close_payload(999)), 1002),
    "close code 1005 on the wire": (frame(CLOSE, close_payload(1005)), 1002),
    "a close reason not UTF-8": (frame(CLOSE, close_payload(1000, b"\xff\xfe")), 1007),
}


@pytest.mark.parametrize("name", list(BAD_FRAMES))
def test_frames_that_break_rfc_6455_are_protocol_violations_answered_with_a_close(name):
    wire, code = BAD_FRAMES[name]
    frames = WebSocketFrames()
    with pytest.raises(ProtocolViolation, match="^WebSocket: "):
        frames.receive_data(wire)
    [(opcode, payload)] = client_frames(frames.data_to_send())
    assert (opcode, int.from_bytes(payload[:2], "big")) == (CLOSE, code)
    assert not frames.open


def test_a_new_message_inside_a_fragmented_one_is_a_protocol_violation():
    frames = WebSocketFrames()
    assert frames.receive_data(frame(BINARY, b"a", fin=False)) == b"a"
    with pytest.raises(ProtocolViolation, match="^WebSocket: expected a continuation"):
        frames.receive_data(frame(BINARY, b"b"))
    [(opcode, payload)] = client_frames(frames.data_to_send())
    assert (opcode, payload[:2]) == (CLOSE, (1002).to_bytes(2, "big"))


@pytest.mark.parametrize("fault, error", [
    (frame(TEXT, b"t"), ProtocolViolation),
    (frame(BINARY, b"m", mask=b"abcd"), ProtocolViolation),
    (frame(CLOSE, close_payload(1001)), ConnectionClosed),
    (frame(BINARY, length=1 << 40), ProtocolViolation),
])
def test_a_fault_behind_good_frames_comes_after_them_at_the_next_call(fault, error):
    frames = WebSocketFrames()
    chunk = frame(BINARY, b"one") + frame(BINARY, b"two") + fault + frame(BINARY, b"lost")
    assert frames.receive_data(chunk) == b"onetwo"
    with pytest.raises(error) as first:
        frames.check()
    with pytest.raises(error) as again:  # and at every call after it
        frames.receive_data(frame(BINARY, b"more"))
    assert again.value is first.value
    with pytest.raises(error):
        frames.send(b"\xe0\x00")
    assert not frames.open


def test_a_huge_frame_header_is_refused_before_any_of_its_payload_is_buffered():
    frames = WebSocketFrames(max_frame=1024)
    # 512 MiB announced, then a PUBLISH announcing 256 MiB: refused from the header
    # alone, so memory never holds more than a frame of max_frame bytes.
    with pytest.raises(ProtocolViolation,
                       match="^WebSocket: a frame of 536870912 bytes is over the "
                             "1024-byte limit$"):
        frames.receive_data(frame(BINARY, length=512 << 20) + b"\x30\xff\xff\xff\x7f")
    [(opcode, payload)] = client_frames(frames.data_to_send())
    assert (opcode, payload[:2]) == (CLOSE, (1009).to_bytes(2, "big"))  # too big
    with pytest.raises(ProtocolViolation):  # what follows is refused, not buffered
        frames.receive_data(b"x" * 100_000)


def test_a_frame_of_exactly_max_frame_is_accepted_and_one_byte_more_is_not():
    frames = WebSocketFrames(max_frame=1024)
    assert frames.receive_data(frame(BINARY, b"m" * 1024)) == b"m" * 1024
    with pytest.raises(ProtocolViolation, match="1025 bytes is over the 1024-byte"):
        frames.receive_data(frame(BINARY, length=1025))


def test_a_huge_header_with_a_fragment_before_it_keeps_the_fragment():
    frames = WebSocketFrames(max_frame=1024)
    chunk = frame(BINARY, b"a" * 1000, fin=False) + frame(CONT, length=1 << 62)
    assert frames.receive_data(chunk) == b"a" * 1000
    with pytest.raises(ProtocolViolation, match="over the 1024-byte limit"):
        frames.check()


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


# -- broker URLs --------------------------------------------------------------------------

HOSTILE_URLS = [
    "", " ", "ws://", "wss://", "mqtt://", "ws://:80", "ws://user:secret@", "ws://@",
    "ws://user:secret@:80/",
    "ws://[::1", "ws://user:secret@[::1", "ws://h]", "ws://[zz]/", "ws://[1.2.3.4]/",
    "ws://::1/",
    "ws://h:99999", "ws://h:65536", "ws://h:0", "ws://h:x", "ws://h:-1", "ws://h:+80",
    "ws://h:80:90", "ws://user:secret@h:99999/",
    "ws://ho st", " ws://h", "ws://h ", "ws://h\n", "ws://h\r\nX: y", "\tws://h",
    "ws://h\x00", "ws://h\x7f", "ws://h\u200b", "ws://h\u2028", "ws://bücher.example",
    "ws://a..b", "ws://.h", "ws://" + "a" * 64 + ".example",
    "http://h", "https://h", "tcp://h:1883", "file:///etc/passwd", "h:1883", "localhost",
    "ws:h", "ws:/h", "ws:///h", "//h", "user:secret@h", "mqtt+ws://h",
]


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_every_malformed_broker_url_is_a_one_line_usage_error(url):
    with pytest.raises(UsageError) as error:
        check_url(url)
    message = str(error.value)
    assert message.isprintable() and len(message) < 300  # one line, nothing raw
    assert "secret" not in message


@pytest.mark.parametrize("url, checked", [
    ("wss://ws.coinsuper.com/mqtt", "wss://ws.coinsuper.com/mqtt"),
    ("ws://127.0.0.1:8080/mqtt?x=1#y", "ws://127.0.0.1:8080/mqtt?x=1#y"),
    ("ws://[::1]:8080/mqtt", "ws://[::1]:8080/mqtt"),
    ("mqtt://user:secret@localhost", "mqtt://user:secret@localhost"),
    ("mqtts://broker.example:65535", "mqtts://broker.example:65535"),
    ("ws://h:", "ws://h:"),  # an empty port is the default (RFC 3986 §3.2.3)
    ("WSS://Host.Example/Path", "wss://Host.Example/Path"),
    ("MQTT://h", "mqtt://h"),
])
def test_good_urls_pass_with_the_scheme_in_lower_case(url, checked):
    assert check_url(url) == checked


def test_an_upper_case_scheme_opens_the_transport_it_names(server):
    transport = connect(check_url("WS" + server.url[2:]))  # the path keeps its case
    assert isinstance(transport, WebSocketTransport)
    transport.close()


@pytest.mark.parametrize("url, shown", [
    ("ws://user:secret@h:1/mqtt", "ws://***@h:1/mqtt"),
    ("ws://user:se/cr?et#x@h/mqtt", "ws://***@h/mqtt"),  # not percent-encoded
    ("ws://user:secret@[::1", "ws://***@[::1"),  # not even parseable
    ("ws://u:p@h/?next=http://q", "ws://***@h/?next=http://q"),
    ("user:secret@h", "***@h"),
    ("wss://h/mqtt", "wss://h/mqtt"),
])
def test_redact_url_hides_any_credentials(url, shown):
    assert redact_url(url) == shown


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
