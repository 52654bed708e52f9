# Byte pipes to a broker: MQTT over WebSocket (ws://, wss://) and plain MQTT over a
# socket (mqtt://, mqtts://), behind one small `Transport` interface. Each moves bytes and
# nothing else; the MQTT conversation is the runner's. All four open their socket the same
# way (`_open_socket`: direct or through a proxy, then TLS), all by one deadline, and the
# WebSocket ones then do the opening handshake (handshake.py) on it. Also the checks that
# turn a bad broker URL into a usage error before anything connects; TLS's own are in
# tls.py.
from __future__ import annotations

import contextlib
import ipaddress
import socket
import ssl
import time
from typing import Protocol
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

from ..errors import ConnectFailed, UsageError
from ..mqtt.codec import DEFAULT_MAX_PACKET
from ..mqtt.errors import MQTTError, ProtocolViolation
from .handshake import HandshakeFailed, HandshakeRefused, WebSocketRequest
from .tls import CertificateRefused, TLSOptions, maybe_certificate_refusal
from .tunnel import ProxyFailed, describe as _describe, left, open_tunnel, read_head

DEFAULT_PORTS = {"ws": 80, "wss": 443, "mqtt": 1883, "mqtts": 8883}
READ_SIZE = 256 * 1024  # one system call takes in a whole burst of messages
CLOSE_WAIT = 0.2  # seconds to wait for the broker's reply to our close frame
WRITE_TIMEOUT = 10.0  # seconds a broker may take no byte of ours before the link is lost
# WebSocket opcodes (RFC 6455 §5.2); websockets' Opcode members are IntEnums equal to them.
_CONTINUATION, _TEXT, _BINARY, _CLOSE = 0x0, 0x1, 0x2, 0x8


class ConnectionClosed(ConnectFailed):
    """The broker closed the connection."""


class Transport(Protocol):
    """A byte pipe to a broker, open from construction until `close`."""

    def send(self, data: bytes) -> None:
        """Write all of `data`; raises ConnectionClosed."""

    def recv(self, timeout: float) -> bytes | None:
        """Bytes from the broker (b"" if what came completed nothing), or None if nothing
        came within `timeout` seconds; raises ConnectionClosed or ProtocolViolation, or
        CertificateRefused (TLS 1.3 brings that refusal with the first read)."""

    def close(self) -> None:
        """Let go of the connection; never raises."""


# -- checks of what the user typed ----------------------------------------------------

def redact_url(url: str) -> str:
    """The URL without any user:password@ part, for logs and messages.

    Works on any string, parseable or not. A password that is not percent-encoded may
    hold '/', '?' or '#', which end the authority (RFC 3986 §3.2), so everything up to
    the last '@' goes, not just what a parser would call the user information.
    """
    scheme, sep, rest = url.partition("://") if "://" in url else ("", "", url)
    if "@" not in rest:
        return url
    return scheme + sep + "***@" + rest.rpartition("@")[2]


def split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """The URL without its user:password@ part, and the user name and password
    (percent-decoded), each None when absent."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None, None
    host = parts.netloc.rpartition("@")[2]
    bare = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    user = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    return bare, user, password


def check_url(url: str) -> str:
    """The broker URL with its scheme in lower case; UsageError (one line, no password)
    for anything a connection could not be opened to."""
    shown = redact_url(url)
    check_characters(url, f"broker URL {shown!r}")
    try:
        parts = urlsplit(url)
    except ValueError as error:  # an unclosed or bad [IPv6] literal
        raise UsageError(f"bad host in broker URL {shown!r}: {error}") from None
    if parts.scheme not in DEFAULT_PORTS:
        raise UsageError(f"unsupported broker URL {shown!r}: use wss://, ws://, "
                         "mqtts:// or mqtt://HOST[:PORT]")
    if not parts.hostname:
        raise UsageError(f"no host in broker URL {shown!r}: use {parts.scheme}://HOST[:PORT]")
    check_host(parts, f"broker URL {shown!r}")
    try:
        bad_port = parts.port == 0  # nothing listens on port 0
    except ValueError:  # not digits, or over 65535
        bad_port = True
    if bad_port:
        raise UsageError(f"bad port in broker URL {shown!r}: give a number from 1 to 65535")
    return parts.scheme + url[len(parts.scheme):]


def check_characters(url: str, what: str) -> None:
    """UsageError, naming `what` (the URL as shown), for a character no URL holds
    unencoded."""
    if not all("!" <= char <= "~" for char in url):
        raise UsageError(f"{what} holds a space, a control character or a non-ASCII "
                         "character (percent-encode it; xn-- for a domain name)")


def check_host(parts: SplitResult, what: str) -> None:
    """UsageError, naming `what` (the URL as shown), for a host no connection could be
    opened to."""
    if "[" in parts.netloc:
        # What urlsplit itself checks from Python 3.11.4 on: a bracketed host is an IPv6
        # address (RFC 3986 §3.2.2); before, `[zz]` or `[1.2.3.4]` went through.
        try:
            ipaddress.IPv6Address(parts.hostname.partition("%")[0])
        except ValueError:
            raise UsageError(f"bad host in {what}: [{parts.hostname}] is not an IPv6 "
                             "address") from None
    try:
        # What socket.getaddrinfo does to a name; an empty or over-long label fails here,
        # as a UnicodeError that no connection error handler expects.
        parts.hostname.encode("idna")
    except UnicodeError:
        raise UsageError(f"bad host name in {what}") from None


# -- transports -----------------------------------------------------------------------

def _open_socket(url: str, *, deadline: float, tls: TLSOptions,
                 proxy: str | None) -> socket.socket:
    """A socket connected to the broker URL's host by `deadline` (time.monotonic):
    straight or through `proxy`, with TLS on top for wss:// and mqtts:// (end to end: the
    proxy carries bytes it cannot read). Raises ConnectFailed (ProxyFailed when the proxy
    failed), or UsageError for a bad cafile, cert or key, before connecting."""
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or DEFAULT_PORTS[parts.scheme]
    context = tls.context() if parts.scheme in ("wss", "mqtts") else None
    failed = _failed(url, proxy)
    if proxy:
        try:
            sock = open_tunnel(proxy, host, port, deadline=deadline)
        except ProxyFailed as error:
            raise ProxyFailed(f"{failed}: {error}") from None
    else:
        try:
            sock = socket.create_connection((host, port), timeout=left(deadline))
        except OSError as error:
            raise ConnectFailed(f"{failed}: {_describe(error)}") from None
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if context is not None:
            # The socket's timeout bounds the TLS handshake as a whole (CPython's
            # do_handshake keeps one deadline across its reads).
            sock.settimeout(left(deadline))
            sock = context.wrap_socket(sock, server_hostname=host)
    except OSError as error:  # ssl.SSLError and socket.timeout included
        sock.close()
        if context is not None and (refusal := maybe_certificate_refusal(
                error, tls, answered=False)):
            raise CertificateRefused(f"{failed}: {refusal}") from None
        raise ConnectFailed(f"{failed}: {_describe(error)}") from None
    return sock


def _failed(url: str, proxy: str | None) -> str:
    return f"could not connect to {redact_url(url)}" + (
        f" through proxy {redact_url(proxy)}" if proxy else "")


class _SocketIO:
    """Reads a socket in large chunks with a per-call timeout, and writes it whole."""

    _sock: socket.socket
    _timeout: float | None
    _url: str
    _tls: TLSOptions | None = None  # for a TLS socket
    _answered = False  # whether any byte came from the broker

    def _read(self, timeout: float) -> bytes | None:
        """Bytes from the broker, or None if none came within `timeout` seconds."""
        if timeout != self._timeout:
            self._sock.settimeout(timeout)
            self._timeout = timeout
        try:
            data = self._sock.recv(READ_SIZE)
        except (socket.timeout, ssl.SSLWantReadError):
            return None
        except OSError as error:
            raise self._lost(error) from None
        if not data:
            raise ConnectionClosed("the broker closed the connection")
        self._answered = True
        return data

    def _write(self, data: bytes) -> None:
        # The read's timeout is a poll interval, a fraction of a second: a write under
        # back-pressure (a broker reading a burst more slowly than it comes) may need
        # longer than that, and is not a lost link until WRITE_TIMEOUT passes.
        if self._timeout != WRITE_TIMEOUT:
            self._sock.settimeout(WRITE_TIMEOUT)
            self._timeout = WRITE_TIMEOUT
        try:
            self._sock.sendall(data)
        except OSError as error:
            raise self._lost(error) from None

    def _lost(self, error: OSError) -> ConnectFailed:
        if self._tls is not None and (refusal := maybe_certificate_refusal(
                error, self._tls, answered=self._answered)):
            # TLS 1.3 brings the refusal only after our handshake: with the first read,
            # or the first write. The connection never got going.
            return CertificateRefused(f"could not connect to {redact_url(self._url)}: "
                                      f"{refusal}")
        return ConnectionClosed(f"connection lost: {_describe(error)}")


class TCPTransport(_SocketIO):
    """MQTT straight over TCP (mqtt://) or TLS (mqtts://)."""

    def __init__(self, url: str, *, timeout: float, tls: TLSOptions,
                 proxy: str | None = None) -> None:
        self._sock = _open_socket(url, deadline=time.monotonic() + timeout, tls=tls,
                                  proxy=proxy)
        self._timeout = self._sock.gettimeout()
        self._url = url
        if isinstance(self._sock, ssl.SSLSocket):
            self._tls = tls

    send = _SocketIO._write
    recv = _SocketIO._read

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()


class WebSocketFrames:
    """Sans-I/O WebSocket framing for MQTT on the client side, once the handshake is done.

    Socket bytes go in with `receive_data`, which returns the payloads of the binary
    frames they complete; `send` frames MQTT bytes; `data_to_send` is everything to
    write, including the pongs and close frames that RFC 6455 makes the client owe.
    MQTT does not care where frames begin or end (MQTT 3.1.1 §6), so each frame's
    payload goes on as soon as it is whole, without waiting for the rest of its message.

    Args:
        max_frame: the largest frame payload accepted, in bytes.
    """

    def __init__(self, *, max_frame: int = DEFAULT_MAX_PACKET) -> None:
        from websockets.protocol import Protocol as WebSocketProtocol, Side

        # websockets buffers a frame whole before handing it on, so a header announcing
        # a huge frame would make it buffer as much as the broker cares to send. A limit
        # per frame refuses such a header at once (RFC 6455 §7.4.1: 1009, too big), and
        # none per message, since a fragment's payload goes on as soon as it is whole.
        # With the limit at --max-packet, one packet per frame (what brokers send) always
        # fits, and the parser holds at most a partial frame and one read, under
        # max_frame + READ_SIZE bytes, besides the MQTT decoder's own max_packet.
        self._protocol = WebSocketProtocol(Side.CLIENT, max_size=(None, max_frame))
        self._max_frame = max_frame
        self._failure: Exception | None = None

    @property
    def open(self) -> bool:
        """No fault so far, and no close frame sent (RFC 6455 §5.5.1: nothing may follow
        one); a close frame received is a fault, since it ends the connection."""
        return self._failure is None and self._protocol.close_sent is None

    def receive_data(self, data: bytes) -> bytes:
        """The payloads of the binary frames that `data` completes, joined.

        Raises ProtocolViolation for a frame that breaks RFC 6455 or is not binary, and
        ConnectionClosed for a close frame. Payloads that came whole before such a fault
        are returned first and the fault is raised by the next call, so no message is
        lost to the garbage behind it.
        """
        self.check()
        protocol = self._protocol
        protocol.receive_data(data)
        payloads: list[bytes] = []
        try:
            for frame in protocol.events_received():
                opcode = frame.opcode
                if opcode == _BINARY or opcode == _CONTINUATION:
                    payloads.append(frame.data)
                elif opcode == _TEXT:
                    # MQTT over WebSocket carries only binary frames (MQTT 3.1.1 §6);
                    # 1003 is "data it cannot accept" (RFC 6455 §7.4.1).
                    protocol.fail(1003, "MQTT needs binary frames")
                    raise ProtocolViolation("the broker sent a text WebSocket frame")
                elif opcode == _CLOSE:
                    # Its reply is already in data_to_send (RFC 6455 §5.5.1).
                    raise ConnectionClosed("the broker closed the WebSocket "
                                           f"({protocol.close_rcvd.code})")
                # A ping's pong is already in data_to_send (RFC 6455 §5.5.2); a pong
                # needs nothing.
            if protocol.parser_exc is not None:
                # The protocol has already queued its close frame (1002, 1007 or 1009).
                raise ProtocolViolation(f"WebSocket: {self._fault(protocol.parser_exc)}")
        except (ProtocolViolation, ConnectionClosed) as error:
            self._failure = error
            if not payloads:
                raise
        return b"".join(payloads)

    def _fault(self, error: Exception) -> str:
        from websockets.exceptions import PayloadTooBig

        if isinstance(error, PayloadTooBig):
            # Its own limit counts the fragments before this one; ours is per frame.
            return f"a frame of {error.size} bytes is over the {self._max_frame}-byte limit"
        return str(error) or type(error).__name__

    def check(self) -> None:
        """Raise the fault that ended the connection, if one has."""
        if self._failure is not None:
            raise self._failure

    def send_failed(self, error: ConnectionClosed) -> None:
        """The socket could not take our bytes: the stream is broken from here on, and
        every later call raises `error`, unless a fault came first."""
        if self._failure is None:
            self._failure = error

    def send(self, data: bytes) -> None:
        self.check()
        self._protocol.send_binary(data)

    def send_close(self) -> None:
        self._protocol.send_close(1000)

    def data_to_send(self) -> bytes:
        # Only a server, or a client told of EOF (we never are: EOF ends the transport
        # at once), is given websockets' SEND_EOF, an empty bytestring.
        return b"".join(self._protocol.data_to_send())


class WebSocketTransport(_SocketIO):
    """MQTT over WebSocket: subprotocol `mqtt`, every packet in binary frames.

    The opening handshake is handshake.py's, read within the connect timeout as a
    whole and bounded in bytes (a server answering with an endless header, or a byte a
    second, could otherwise hold the connection and grow memory without end); from then
    on, frames both ways are websockets' sans-I/O protocol's (`WebSocketFrames`), over
    large reads.
    """

    def __init__(self, url: str, *, timeout: float, tls: TLSOptions,
                 proxy: str | None = None, max_frame: int = DEFAULT_MAX_PACKET) -> None:
        deadline = time.monotonic() + timeout
        sock = _open_socket(url, deadline=deadline, tls=tls, proxy=proxy)
        request = WebSocketRequest.for_url(url)
        try:
            sock.settimeout(left(deadline))
            sock.sendall(request.data)
            # A redirect is refused as any status but 101: following one would connect
            # wherever the broker says, around the proxy and TLS choices made here.
            response, rest = read_head(sock, deadline)
            request.check(response)
        except (HandshakeFailed, OSError) as error:  # ssl.SSLError, socket.timeout
            sock.close()
            failed = _failed(url, proxy)
            if isinstance(sock, ssl.SSLSocket) and (refusal := maybe_certificate_refusal(
                    error, tls, answered=False)):
                raise CertificateRefused(f"{failed}: {refusal}") from None
            reason = _describe(error)
            if isinstance(error, HandshakeFailed) and not isinstance(error, HandshakeRefused):
                reason = f"WebSocket handshake: {error}"
            raise ConnectFailed(f"{failed}: {reason}") from None
        self._sock = sock
        self._timeout = sock.gettimeout()
        self._url = url
        if isinstance(sock, ssl.SSLSocket):
            self._tls = tls
        self._answered = True  # its handshake reply
        self._frames = WebSocketFrames(max_frame=max_frame)
        # Frames that came in the same read as the end of the handshake's reply.
        self._early = rest

    def send(self, data: bytes) -> None:
        self._frames.send(data)
        self._flush()

    def recv(self, timeout: float) -> bytes | None:
        self._frames.check()
        data, self._early = self._early or self._read(timeout), b""
        if data is None:
            return None
        try:
            return self._frames.receive_data(data)
        finally:
            # The pongs and close frames the broker is owed go out before anything
            # else; if they cannot, the next call says so, after this chunk's messages.
            with contextlib.suppress(ConnectionClosed):
                self._flush()

    def _flush(self) -> None:
        data = self._frames.data_to_send()
        if data:
            try:
                self._write(data)
            except ConnectionClosed as error:
                self._frames.send_failed(error)
                raise

    def close(self) -> None:
        try:
            if self._frames.open:
                self._frames.send_close()
                self._flush()
                self._await_close_reply()
        except (ConnectFailed, MQTTError):
            pass  # the link is gone or broken: nothing more to say on it
        finally:
            with contextlib.suppress(OSError):
                self._sock.close()

    def _await_close_reply(self) -> None:
        """Reads until the broker's close frame, for up to CLOSE_WAIT seconds: the
        server, not the client, should be the first to close TCP (RFC 6455 §7.1.1)."""
        deadline = time.monotonic() + CLOSE_WAIT
        while (left := deadline - time.monotonic()) > 0:
            data = self._read(left)
            if data is None:
                return
            self._frames.receive_data(data)  # messages after DISCONNECT go unread
            self._frames.check()  # ConnectionClosed once the close frame is in


def open_transport(url: str, *, timeout: float, tls: TLSOptions, proxy: str | None = None,
                   max_frame: int = DEFAULT_MAX_PACKET) -> Transport:
    """A connected transport for a URL that `check_url` passed.

    Args:
        proxy: the proxy URL to go through (`proxy.resolve_proxy` chooses it and
            `proxy.check_proxy_url` checks it), or None to connect straight; no
            environment variable is read here.
        max_frame: the largest WebSocket frame payload accepted (pass --max-packet).
    """
    if urlsplit(url).scheme in ("ws", "wss"):
        return WebSocketTransport(url, timeout=timeout, tls=tls, proxy=proxy,
                                  max_frame=max_frame)
    return TCPTransport(url, timeout=timeout, tls=tls, proxy=proxy)
