# Byte pipes to a broker: MQTT over WebSocket (ws://, wss://) with websocket-client and
# wsproto, and plain MQTT over a socket (mqtt://, mqtts://). Each moves bytes and nothing else; the
# MQTT conversation is the runner's.
from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from .errors import ConnectFailed, UsageError
from .mqtt.errors import ProtocolViolation

DEFAULT_PORTS = {"ws": 80, "wss": 443, "mqtt": 1883, "mqtts": 8883}
READ_SIZE = 256 * 1024  # one system call takes in a whole burst of messages


class ConnectionClosed(ConnectFailed):
    """The broker closed the connection."""


@dataclass(frozen=True, slots=True)
class TLSOptions:
    insecure: bool = False
    cafile: str | None = None

    def context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.cafile)
        if self.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


def redact_url(url: str) -> str:
    """The URL without any user:password@ part, for logs and messages."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]).geturl()


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise UsageError(f"unsupported broker URL {redact_url(url)!r}: use wss://, ws://, "
                         "mqtts:// or mqtt://HOST[:PORT]")
    try:
        parts.port
    except ValueError:
        raise UsageError(f"bad port in broker URL {redact_url(url)!r}") from None
    return url


def _describe(error: BaseException) -> str:
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted ({error.verify_message}); see --cafile"
    if isinstance(error, socket.timeout):
        return "timed out"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror  # without the "[Errno 104]" prefix
    return str(error) or type(error).__name__


class _SocketReader:
    """Reads a socket in large chunks with a per-call timeout."""

    _sock: socket.socket
    _timeout: float | None

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
            raise ConnectionClosed(f"connection lost: {_describe(error)}") from None
        if not data:
            raise ConnectionClosed("the broker closed the connection")
        return data


class TCPTransport(_SocketReader):
    def __init__(self, url: str, *, timeout: float, tls: TLSOptions) -> None:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port or DEFAULT_PORTS[parts.scheme]
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if parts.scheme == "mqtts":
                sock = tls.context().wrap_socket(sock, server_hostname=host)
        except (OSError, ssl.SSLError) as error:
            raise ConnectFailed(f"could not connect to {host}:{port}: {_describe(error)}") \
                from None
        self._sock = sock
        self._timeout = timeout

    def send(self, data: bytes) -> None:
        try:
            self._sock.sendall(data)
        except OSError as error:
            raise ConnectionClosed(f"connection lost: {_describe(error)}") from None

    recv = _SocketReader._read

    def close(self) -> None:
        try:
            self._sock.close()
        except OSError:
            pass


class WebSocketTransport(_SocketReader):
    """MQTT over WebSocket: subprotocol `mqtt`, every packet in binary frames.

    websocket-client opens the connection (URL, TLS, handshake) and frames what we send.
    Received frames are parsed by wsproto, sans-I/O, from large reads: websocket-client
    reads each frame with two or three system calls, which capped throughput, and buffers
    a whole frame however large its header says it is, while wsproto hands on a frame's
    payload as it arrives, so the MQTT decoder's --max-packet bounds memory. MQTT does
    not care where frames begin or end (MQTT 3.1.1 §6), so payloads go on unjoined.
    """

    def __init__(self, url: str, *, timeout: float, tls: TLSOptions) -> None:
        import websocket  # websocket-client; imported here so that --help stays quick
        from wsproto.connection import Connection, ConnectionType

        self._ws_errors = (websocket.WebSocketException, OSError, ssl.SSLError)
        sslopt = {"context": tls.context()} if url.startswith("wss:") else None
        try:
            self._ws = websocket.create_connection(
                url, timeout=timeout, subprotocols=["mqtt"], sslopt=sslopt,
                sockopt=((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),),
                enable_multithread=False, skip_utf8_validation=True,
            )
        except self._ws_errors as error:
            raise ConnectFailed(f"could not connect to {redact_url(url)}: "
                                f"{_describe(error)}") from None
        # The handshake reads the response line by line, so no frame byte is left
        # behind in websocket-client when the socket passes to wsproto.
        self._sock = self._ws.sock
        self._timeout = timeout
        self._frames = Connection(ConnectionType.CLIENT)
        self._failure: Exception | None = None

    def send(self, data: bytes) -> None:
        try:
            self._ws.send_bytes(data)
        except self._ws_errors as error:
            raise ConnectionClosed(f"connection lost: {_describe(error)}") from None

    def recv(self, timeout: float) -> bytes | None:
        if self._failure is not None:
            raise self._failure
        data = self._read(timeout)
        if data is None:
            return None
        payloads: list[bytes] = []
        try:
            self._frames.receive_data(data)
            for event in self._frames.events():
                self._on_event(event, payloads)
        except (ProtocolViolation, ConnectionClosed) as error:
            # What came whole before the fault is still handed on; the fault follows
            # at the next call, so no message is lost to the garbage behind it.
            if not payloads:
                raise
            self._failure = error
        return b"".join(payloads)

    def _on_event(self, event, payloads: list[bytes]) -> None:
        from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage

        kind = type(event)
        if kind is BytesMessage:
            payloads.append(event.data)
        elif kind is TextMessage:
            # MQTT over WebSocket carries only binary frames (MQTT 3.1.1 §6).
            raise ProtocolViolation("the broker sent a text WebSocket frame")
        elif kind is Ping:
            self.send_pong(event.payload)
        elif kind is CloseConnection:
            # wsproto reports frames it cannot parse as a close with these codes
            # (RFC 6455 §7.4.1: protocol error, bad data), so they are bad input.
            if event.code in (1002, 1007):
                raise ProtocolViolation(f"WebSocket: {event.reason or event.code}")
            raise ConnectionClosed(f"the broker closed the WebSocket ({event.code})")

    def send_pong(self, payload: bytes) -> None:
        try:
            self._ws.pong(payload)
        except self._ws_errors as error:
            raise ConnectionClosed(f"connection lost: {_describe(error)}") from None

    def close(self) -> None:
        try:
            self._ws.close(timeout=0.2)
        except Exception:  # closing a broken socket may fail in many ways; nothing to do
            pass


def open_transport(url: str, *, timeout: float, tls: TLSOptions):
    if url.startswith(("ws:", "wss:")):
        return WebSocketTransport(url, timeout=timeout, tls=tls)
    return TCPTransport(url, timeout=timeout, tls=tls)
