# Byte pipes to a broker: MQTT over WebSocket (ws://, wss://) and plain MQTT over a
# socket (mqtt://, mqtts://), behind one small `Transport` interface. Each moves bytes and
# nothing else; the MQTT conversation is the runner's. All four open their socket the same
# way (`_open_socket`: direct or through a proxy, then TLS), all by one deadline, and the
# WebSocket ones then do the opening handshake (handshake.py) on it and frame with
# websocket.py. The checks of a broker URL are urls.py's; TLS's own are in tls.py.
from __future__ import annotations

import contextlib
import socket
import ssl
import time
from typing import Protocol
from urllib.parse import urlsplit

from ..errors import ConnectFailed, ConnectionClosed
from ..mqtt import DEFAULT_MAX_PACKET
from ..mqtt.errors import MQTTError
from ..urls import DEFAULT_PORTS, redact_url
from .handshake import HandshakeFailed, HandshakeRefused, WebSocketRequest
from .tls import CertificateRefused, TLSOptions, maybe_certificate_refusal
from .tunnel import ProxyFailed, describe as _describe, left, open_tunnel, read_head
from .websocket import WebSocketFrames

READ_SIZE = 256 * 1024  # one system call takes in a whole burst of messages
CLOSE_WAIT = 0.2  # seconds to wait for the broker's reply to our close frame
WRITE_TIMEOUT = 10.0  # seconds a broker may take no byte of ours before the link is lost


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
