# The HTTP/1.1 exchanges that open a connection before MQTT's own bytes flow: an HTTP
# proxy's CONNECT (RFC 9110 §9.3.6) and the WebSocket opening handshake (RFC 6455 §4.1),
# sans-I/O: requests are built as bytes, and a response's head (status line and headers)
# is read by `ResponseHead` from whatever bytes arrive, however they are split into TCP
# segments. The head is bounded in bytes, a line and the whole: a server or proxy that
# answers with an endless header line, endless headers or a byte a second must not be
# able to grow memory. Time is the caller's (transport.py reads with one deadline).
# Written here rather than taken from a library: websocket-client read the head with no
# bound and no deadline of its own (850 MB from an endless header line, issue 19), and
# websockets' sans-I/O client, which frames our messages once the handshake is done,
# does not speak to an HTTP proxy; one bounded reader serves both exchanges.
from __future__ import annotations

import base64
import hashlib
import os
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..errors import ConnectFailed
from ..printable import printable

MAX_LINE = 8 * 1024  # bytes in a status or header line (websockets' own limit)
MAX_HEAD = 64 * 1024  # bytes in a whole response head
# RFC 6455 §1.3: the GUID appended to the key to make Sec-WebSocket-Accept.
_WEBSOCKET_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_END_OF_HEAD = re.compile(rb"\r?\n\r?\n")
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([0-9]{3})(?: (.*))?")


class HandshakeFailed(ConnectFailed):
    """The server's answer to a handshake is not HTTP, or not the handshake asked for."""


@dataclass(frozen=True, slots=True)
class Response:
    """A response head: the status, its reason (made printable) and the headers, by
    lower-case name (a repeated header's values joined with ", ", RFC 9110 §5.3)."""

    status: int
    reason: str
    headers: dict[str, str]


class ResponseHead:
    """Reads one response head from bytes as they come.

    Args:
        max_line: the longest status or header line accepted, in bytes.
        max_head: the longest head accepted, in bytes.
    """

    def __init__(self, *, max_line: int = MAX_LINE, max_head: int = MAX_HEAD) -> None:
        self._buffer = bytearray()
        self._max_line = max_line
        self._max_head = max_head
        self._checked = 0  # bytes of the buffer whose lines were measured
        self._line_start = 0  # where the line being received began

    def receive_data(self, data: bytes) -> tuple[Response, bytes] | None:
        """The response and the bytes that came after its head, once the head is whole;
        None until then. Raises HandshakeFailed for a head over the limits or not HTTP.

        What is held stays under max_head plus one call's `data`."""
        # The blank line may straddle two segments: search from just before the new bytes.
        start = max(0, len(self._buffer) - 3)
        self._buffer += data
        end = _END_OF_HEAD.search(self._buffer, start)
        if end is None:
            self._check_limits(len(self._buffer))
            return None
        self._check_limits(end.start())
        head = bytes(self._buffer[:end.start()])
        rest = bytes(self._buffer[end.end():])
        self._buffer = bytearray()
        self._checked = self._line_start = 0
        return _parse(head), rest

    def _check_limits(self, end: int) -> None:
        """Measures the lines of buffer[:end] not measured yet: each byte is looked at
        once, however small the pieces the head comes in."""
        buffer, position = self._buffer, self._checked
        while True:
            newline = buffer.find(b"\n", position, end)
            line_end = end if newline < 0 else newline
            if line_end - self._line_start > self._max_line:
                raise HandshakeFailed(f"its reply has a line over "
                                      f"{self._max_line // 1024} KiB")
            if newline < 0:
                break
            self._line_start = position = newline + 1
        if end > self._max_head:
            raise HandshakeFailed(f"its reply's head is over {self._max_head // 1024} KiB")
        self._checked = end


def _parse(head: bytes) -> Response:
    lines = [line.removesuffix(b"\r") for line in head.split(b"\n")]
    status = _STATUS_LINE.fullmatch(lines[0])
    if status is None:
        shown = printable(lines[0][:80].decode("latin-1"))
        raise HandshakeFailed(f"its reply is not HTTP ('{shown}')")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not name or name != name.strip():
            # Folded lines (obs-fold) included: RFC 9112 §5.2 lets a client refuse them.
            shown = printable(line[:80].decode("latin-1"))
            raise HandshakeFailed(f"its reply has a bad header line ('{shown}')")
        key = name.decode("latin-1").lower()
        text = value.strip(b" \t").decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    reason = printable((status.group(2) or b"").decode("latin-1"))
    return Response(int(status.group(1)), reason, headers)


def _tokens(value: str | None) -> set[str]:
    return {token.strip().lower() for token in (value or "").split(",")}


# -- HTTP CONNECT --------------------------------------------------------------------

def connect_request(host: str, port: int, *, user: str | None = None,
                    password: str | None = None) -> bytes:
    """An HTTP CONNECT request for a tunnel to host:port, with Basic credentials if
    given (RFC 7617: a ':' in the user name cannot be carried: ValueError)."""
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    lines = [f"CONNECT {authority} HTTP/1.1", f"Host: {authority}"]
    if user is not None or password is not None:
        if user and ":" in user:
            raise ValueError("a user name holding ':' cannot go in HTTP Basic")
        token = base64.b64encode(f"{user or ''}:{password or ''}".encode()).decode()
        lines.append(f"Proxy-Authorization: Basic {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


# -- the WebSocket opening handshake -------------------------------------------------

@dataclass(frozen=True, slots=True)
class WebSocketRequest:
    """The opening handshake's request for a ws:// or wss:// URL, and the key whose
    answer the response must carry."""

    data: bytes
    key: str
    path: str

    @classmethod
    def for_url(cls, url: str, *, subprotocol: str = "mqtt") -> WebSocketRequest:
        parts = urlsplit(url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname
        # The scheme's own port goes unsaid, as browsers and websocket-client write Host
        # and Origin (RFC 9110 §7.2); a server may compare Origin as a string.
        default = 443 if parts.scheme == "wss" else 80
        authority = host if parts.port in (None, default) else f"{host}:{parts.port}"
        key = base64.b64encode(os.urandom(16)).decode()
        origin = ("https" if parts.scheme == "wss" else "http") + "://" + authority
        lines = [f"GET {path} HTTP/1.1", f"Host: {authority}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Origin: {origin}", f"Sec-WebSocket-Key: {key}",
                 "Sec-WebSocket-Version: 13", f"Sec-WebSocket-Protocol: {subprotocol}"]
        return cls(("\r\n".join(lines) + "\r\n\r\n").encode(), key, path)

    def check(self, response: Response) -> None:
        """Raises HandshakeRefused for any status but 101, HandshakeFailed for a 101
        that does not complete this handshake (RFC 6455 §4.1, the client's checks)."""
        if response.status != 101:
            raise HandshakeRefused(response, self.path)
        headers = response.headers
        if "websocket" not in _tokens(headers.get("upgrade")) or \
                "upgrade" not in _tokens(headers.get("connection")):
            raise HandshakeFailed("it answered 101 without upgrading to WebSocket")
        expected = base64.b64encode(hashlib.sha1(self.key.encode() + _WEBSOCKET_GUID)
                                    .digest()).decode()
        if headers.get("sec-websocket-accept") != expected:
            raise HandshakeFailed("its Sec-WebSocket-Accept does not answer our key")
        if headers.get("sec-websocket-protocol", "").lower() != "mqtt":
            raise HandshakeFailed("it did not agree to the WebSocket subprotocol mqtt "
                                  "(MQTT 3.1.1 §6)")


class HandshakeRefused(HandshakeFailed):
    """The server answered the WebSocket handshake with a status other than 101."""

    def __init__(self, response: Response, path: str) -> None:
        status = f"{response.status} {response.reason}".rstrip()
        super().__init__(f"the server answered {status} to the WebSocket handshake on "
                         f"{printable(path)}; {_hint(response.status)}")
        self.status = response.status


def _hint(status: int) -> str:
    paths = ("the broker's WebSocket path is /mqtt for the exchange and Mosquitto, "
             "ws://HOST:15675/ws for RabbitMQ")
    if status in (401, 403):
        return (f"the server wants HTTP credentials or refuses this path ({paths}; "
                "MQTT's own user name and password go in CONNECT, not here)")
    if 300 <= status < 400:
        return f"redirects are not followed: give the URL it points to ({paths})"
    return f"is the path right? ({paths})"
