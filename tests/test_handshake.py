"""The HTTP heads read before MQTT flows (handshake.py), with no network: a response
head however it is split, bounded in bytes per line and in all; the WebSocket opening
handshake's checks and its one-line refusals; the CONNECT request."""
from __future__ import annotations

import base64
import hashlib

import pytest

from coinsuper_cli.net.handshake import (MAX_HEAD, MAX_LINE, HandshakeFailed,
                                         HandshakeRefused, Response, ResponseHead,
                                         WebSocketRequest, connect_request)

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def accept(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def switching(key: str, *, protocol: str = "mqtt") -> bytes:
    lines = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket",
             "Connection: Upgrade", f"Sec-WebSocket-Accept: {accept(key)}"]
    if protocol:
        lines.append(f"Sec-WebSocket-Protocol: {protocol}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def feed(data: bytes, piece: int) -> tuple[Response, bytes]:
    head = ResponseHead()
    for i in range(0, len(data), piece):
        done = head.receive_data(data[i:i + piece])
        if done is not None:
            return done
    raise AssertionError("the head never completed")


@pytest.mark.parametrize("piece", [1, 2, 3, 7, 1000])
def test_a_head_split_anywhere_reads_the_same_and_keeps_what_follows(piece):
    request = WebSocketRequest.for_url("ws://broker:8083/mqtt")
    response, rest = feed(switching(request.key) + b"\x30\x02ab", piece)
    assert response.status == 101 and response.reason == "Switching Protocols"
    request.check(response)
    # What came with the last piece past the blank line is the first frame's.
    assert switching(request.key).endswith(b"\r\n\r\n")
    assert (rest == b"\x30\x02ab") if piece == 1000 else b"\x30\x02ab".startswith(rest)


def test_bare_newlines_and_repeated_headers():
    response, rest = feed(b"HTTP/1.0 200 OK\nA: 1\nB:2 \na: 3\n\nbody", 5)
    assert response.status == 200 and response.headers == {"a": "1, 3", "b": "2"}
    assert rest == b"body"[:len(rest)]


def test_an_endless_header_line_is_refused_within_a_line():
    head = ResponseHead()
    head.receive_data(b"HTTP/1.1 101 Switching Protocols\r\nX-Long: ")
    with pytest.raises(HandshakeFailed, match="a line over 8 KiB"):
        for _ in range(MAX_LINE // 100 + 2):
            head.receive_data(b"x" * 100)
    assert len(head._buffer) < MAX_LINE + 200


def test_an_endless_status_line_is_refused():
    head = ResponseHead()
    with pytest.raises(HandshakeFailed, match="a line over 8 KiB"):
        for _ in range(100):
            head.receive_data(b"HTTP/1.1 101 " + b"y" * 1000)


def test_endless_headers_are_refused_past_the_head_limit():
    head = ResponseHead()
    status = b"HTTP/1.1 101 Switching Protocols\r\n"
    head.receive_data(status)
    fed = len(status)
    with pytest.raises(HandshakeFailed, match="head is over 64 KiB"):
        while fed < 10 * MAX_HEAD:
            fed += len(head.receive_data(b"X-A: b\r\n") or b"") + 8
    assert MAX_HEAD - 8 <= fed <= MAX_HEAD  # the piece that went over raised


def test_a_line_checked_byte_by_byte_is_still_bounded():
    head = ResponseHead()
    with pytest.raises(HandshakeFailed, match="a line over"):
        for _ in range(MAX_LINE + 2):
            head.receive_data(b"z")


@pytest.mark.parametrize("reply, problem", [
    (b"SSH-2.0-OpenSSH\r\n\r\n", "not HTTP ('SSH-2.0-OpenSSH')"),
    (b"HTTP/1.1 101\r\n folded\r\n\r\n", "bad header line"),
    (b"HTTP/1.1 101 OK\r\nno colon\r\n\r\n", "bad header line"),
    (b"\x1b]0;title\x07\r\n\r\n", "not HTTP ('\\x1b]0;title\\x07')"),
])
def test_what_is_not_an_http_head(reply, problem):
    with pytest.raises(HandshakeFailed) as raised:
        ResponseHead().receive_data(reply)
    assert problem in str(raised.value)


def test_the_websocket_request():
    request = WebSocketRequest.for_url("wss://user:pw@[::1]:8084/mqtt?x=1")
    text = request.data.decode()
    assert text.startswith("GET /mqtt?x=1 HTTP/1.1\r\nHost: [::1]:8084\r\n")
    assert "Sec-WebSocket-Protocol: mqtt\r\n" in text and "Origin: https://[::1]:8084" in text
    assert "pw" not in text and text.endswith("\r\n\r\n")
    assert len(base64.b64decode(request.key)) == 16
    assert WebSocketRequest.for_url("ws://h").path == "/"
    default_port = WebSocketRequest.for_url("wss://H.example:443/mqtt").data.decode()
    assert "\r\nHost: h.example\r\n" in default_port
    assert "\r\nOrigin: https://h.example\r\n" in default_port
    assert "Host: h:80\r\n" not in WebSocketRequest.for_url("ws://h:80/").data.decode()


@pytest.mark.parametrize("change, problem", [
    (lambda r: r.replace(b"Upgrade: websocket\r\n", b""), "without upgrading"),
    (lambda r: r.replace(b"Sec-WebSocket-Accept: ", b"Sec-WebSocket-Accept: x"),
     "does not answer our key"),
    (lambda r: r.replace(b"Sec-WebSocket-Protocol: mqtt\r\n", b""), "subprotocol mqtt"),
    (lambda r: r.replace(b": mqtt", b": mqttv5"), "subprotocol mqtt"),
])
def test_a_101_that_is_not_this_handshake(change, problem):
    request = WebSocketRequest.for_url("ws://h/mqtt")
    response, _ = ResponseHead().receive_data(change(switching(request.key)))
    with pytest.raises(HandshakeFailed, match=problem):
        request.check(response)


@pytest.mark.parametrize("status, hint", [
    (b"404 Not Found", "is the path right? (the broker's WebSocket path is /mqtt for the "
                       "exchange and Mosquitto, ws://HOST:15675/ws for RabbitMQ)"),
    (b"401 Unauthorized", "the server wants HTTP credentials or refuses this path"),
    (b"403 Forbidden", "the server wants HTTP credentials or refuses this path"),
    (b"301 Moved Permanently", "redirects are not followed"),
])
def test_a_refused_handshake_is_one_line_with_status_path_and_hint(status, hint):
    request = WebSocketRequest.for_url("ws://h:15675/mqtt")
    response, _ = ResponseHead().receive_data(
        b"HTTP/1.1 " + status + b"\r\nContent-Length: 9\r\n\r\nnot found")
    with pytest.raises(HandshakeRefused) as raised:
        request.check(response)
    message = str(raised.value)
    assert message.startswith(f"the server answered {status.decode()} to the WebSocket "
                              "handshake on /mqtt; ")
    assert hint in message and "\n" not in message and "-+-+-" not in message


def test_a_reason_phrase_reaches_the_message_printable():
    request = WebSocketRequest.for_url("ws://h/mqtt")
    response, _ = ResponseHead().receive_data(b"HTTP/1.1 404 \x1b[2J\x9b\r\n\r\n")
    with pytest.raises(HandshakeRefused) as raised:
        request.check(response)
    assert "\x1b" not in str(raised.value) and "404 \\x1b[2J\\x9b to" in str(raised.value)


def test_the_connect_request():
    assert connect_request("broker", 8883) == \
        b"CONNECT broker:8883 HTTP/1.1\r\nHost: broker:8883\r\n\r\n"
    with_user = connect_request("::1", 1883, user="al", password="p:w").decode()
    assert with_user.startswith("CONNECT [::1]:1883 HTTP/1.1\r\n")
    assert f"Proxy-Authorization: Basic {base64.b64encode(b'al:p:w').decode()}" in with_user
    with pytest.raises(ValueError):
        connect_request("b", 1, user="a:b", password="c")
