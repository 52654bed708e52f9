# Byte pipes to a broker: MQTT over WebSocket (ws://, wss://) with websocket-client, and
# plain MQTT over a socket (mqtt://, mqtts://). Each moves bytes and nothing else; the
# MQTT conversation is the runner's.
from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from .errors import ConnectFailed, UsageError
from .mqtt.errors import ProtocolViolation

DEFAULT_PORTS = {"ws": 80, "wss": 443, "mqtt": 1883, "mqtts": 8883}


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
        raise UsageError(f"unsupported broker URL {url!r}: use wss://, ws://, mqtts:// or "
                         "mqtt://HOST[:PORT]")
    try:
        parts.port
    except ValueError:
        raise UsageError(f"bad port in broker URL {url!r}") from None
    return url


def _describe(error: BaseException) -> str:
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted ({error.verify_message}); see --cafile"
    if isinstance(error, socket.timeout):
        return "timed out"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror  # without the "[Errno 104]" prefix
    return str(error) or type(error).__name__


class TCPTransport:
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
        self._timeout: float | None = timeout

    def send(self, data: bytes) -> None:
        try:
            self._sock.sendall(data)
        except OSError as error:
            raise ConnectionClosed(f"connection lost: {_describe(error)}") from None

    def recv(self, timeout: float) -> bytes | None:
        """Bytes from the broker, or None if none came within `timeout` seconds."""
        if timeout != self._timeout:
            self._sock.settimeout(timeout)
            self._timeout = timeout
        try:
            data = self._sock.recv(65536)
        except (socket.timeout, ssl.SSLWantReadError):
            return None
        except OSError as error:
            raise ConnectionClosed(f"connection lost: {_describe(error)}") from None
        if not data:
            raise ConnectionClosed("the broker closed the connection")
        return data

    def close(self) -> None:
        try:
            self._sock.close()
        except OSError:
            pass


def _limited_frame_buffer(websocket, max_frame: int):
    """websocket-client reads a whole frame, however large its header says it is, before
    returning any of it. This frame reader refuses an oversized frame as soon as its
    length is known, so a hostile server cannot make us buffer hundreds of MB."""
    from websocket._abnf import frame_buffer  # no public hook exists for this check

    class LimitedFrameBuffer(frame_buffer):
        def recv_length(self) -> None:
            super().recv_length()
            if self.length > max_frame:
                raise websocket.WebSocketProtocolException(
                    f"WebSocket frame of {self.length} bytes is over the "
                    f"{max_frame}-byte limit")

    return LimitedFrameBuffer


class WebSocketTransport:
    """MQTT over WebSocket: subprotocol `mqtt`, every packet in binary frames."""

    def __init__(self, url: str, *, timeout: float, tls: TLSOptions,
                 max_frame: int = 1024 * 1024) -> None:
        import websocket  # websocket-client; imported here so that --help stays quick

        self._ws_errors = (websocket.WebSocketException, OSError, ssl.SSLError)
        self._timeout_errors = (websocket.WebSocketTimeoutException, socket.timeout)
        self._ws_protocol_error = websocket.WebSocketProtocolException
        self._opcodes = websocket.ABNF
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
        self._ws.frame_buffer = _limited_frame_buffer(websocket, max_frame + 16)(
            self._ws._recv, True)
        self._timeout: float | None = timeout

    def send(self, data: bytes) -> None:
        try:
            self._ws.send_bytes(data)
        except self._ws_errors as error:
            raise ConnectionClosed(f"connection lost: {_describe(error)}") from None

    def recv(self, timeout: float) -> bytes | None:
        if timeout != self._timeout:
            self._ws.settimeout(timeout)
            self._timeout = timeout
        try:
            opcode, data = self._ws.recv_data()
        except self._timeout_errors:
            return None
        except self._ws_protocol_error as error:  # bad framing is bad input, not a drop
            raise ProtocolViolation(f"WebSocket: {error}") from None
        except self._ws_errors as error:
            raise ConnectionClosed(f"connection lost: {_describe(error)}") from None
        if opcode == self._opcodes.OPCODE_BINARY:
            return data
        if opcode == self._opcodes.OPCODE_CLOSE:
            raise ConnectionClosed("the broker closed the WebSocket")
        if opcode == self._opcodes.OPCODE_TEXT:
            # MQTT over WebSocket carries only binary frames (MQTT 3.1.1 §6).
            raise ProtocolViolation("the broker sent a text WebSocket frame")
        return b""  # ping/pong frames: websocket-client answered them already

    def close(self) -> None:
        try:
            self._ws.close(timeout=0.2)
        except Exception:  # closing a broken socket may fail in many ways; nothing to do
            pass


def open_transport(url: str, *, timeout: float, tls: TLSOptions,
                   max_frame: int = 1024 * 1024):
    if url.startswith(("ws:", "wss:")):
        return WebSocketTransport(url, timeout=timeout, tls=tls, max_frame=max_frame)
    return TCPTransport(url, timeout=timeout, tls=tls)
