# The socket steps before a transport's own bytes: a proxy tunnel (HTTP CONNECT here,
# SOCKS5 by python-socks) and the reading of an HTTP response head with one deadline for
# the whole of it, whichever way the bytes are split or however slowly they come. The
# handshakes' bytes are handshake.py's; choosing the proxy is proxy.py's.
from __future__ import annotations

import socket
import ssl
import time
from urllib.parse import unquote, urlsplit

from ..errors import ConnectFailed
from .handshake import HandshakeFailed, Response, ResponseHead, connect_request

# curl's port for a proxy URL that names none, whatever its kind.
DEFAULT_PROXY_PORT = 1080
HEAD_READ = 16 * 1024  # bytes asked of one read of a response head


class ProxyFailed(ConnectFailed):
    """The proxy could not be reached, or would not open a tunnel to the broker."""


def describe(error: BaseException) -> str:
    """A socket or TLS failure in a few words."""
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted ({error.verify_message}); see --cafile"
    if isinstance(error, socket.timeout):
        return "timed out"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror  # without the "[Errno 104]" prefix
    return str(error) or type(error).__name__


def left(deadline: float) -> float:
    """Seconds until `deadline` (time.monotonic); socket.timeout once it has passed."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise socket.timeout("timed out")
    return remaining


def read_head(sock: socket.socket, deadline: float) -> tuple[Response, bytes]:
    """The response head that `sock` brings, and any bytes after it, by `deadline`.

    Bounded in bytes by ResponseHead and in time as a whole, not per read: a server
    trickling a byte a second cannot stretch it. Raises HandshakeFailed (a head over
    the limits, not HTTP, or the connection closed first), socket.timeout or OSError.
    """
    head = ResponseHead()
    while True:
        sock.settimeout(left(deadline))
        data = sock.recv(HEAD_READ)
        if not data:
            raise HandshakeFailed("it closed the connection before answering")
        done = head.receive_data(data)
        if done is not None:
            return done


def open_tunnel(proxy_url: str, host: str, port: int, *, deadline: float) -> socket.socket:
    """A TCP socket to host:port through the proxy (one that proxy.check_proxy_url
    passed), opened by `deadline` (time.monotonic).

    `http://` asks for an HTTP CONNECT tunnel; `socks5://` resolves `host` here and gives
    the proxy its address, `socks5h://` gives the proxy the name to resolve.
    Raises ProxyFailed, whose message says what the proxy did.
    """
    parts = urlsplit(proxy_url)
    user = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    address = (parts.hostname, parts.port or DEFAULT_PROXY_PORT)
    if parts.scheme == "http":
        return _http_tunnel(address, host, port, user, password, deadline)
    return _socks_tunnel(address, host, port, user, password, deadline,
                         rdns=parts.scheme == "socks5h")


def _http_tunnel(address: tuple[str, int], host: str, port: int, user: str | None,
                 password: str | None, deadline: float) -> socket.socket:
    try:
        request = connect_request(host, port, user=user, password=password)
    except ValueError as error:  # credentials HTTP Basic cannot carry
        raise ProxyFailed(f"bad proxy credentials: {error}") from None
    try:
        sock = socket.create_connection(address, timeout=left(deadline))
    except OSError as error:
        raise ProxyFailed(f"proxy unreachable: {describe(error)}") from None
    try:
        sock.sendall(request)
        # The reply may come in several segments (RFC 9293 promises no boundaries):
        # read up to its blank line.
        response, rest = read_head(sock, deadline)
    except socket.timeout:
        sock.close()
        raise ProxyFailed("the proxy timed out") from None
    except HandshakeFailed as error:
        sock.close()
        raise ProxyFailed(f"the proxy failed: {error}") from None
    except OSError as error:  # the proxy hung up or reset mid-reply
        sock.close()
        raise ProxyFailed(f"the proxy failed: {describe(error)}") from None
    if not 200 <= response.status < 300:
        sock.close()
        raise ProxyFailed(f"the proxy refused: {response.status} {response.reason}".rstrip())
    if rest:
        # Bytes past the reply are the tunnel's, yet the broker speaks only after us
        # (MQTT's CONNECT, TLS's ClientHello, the WebSocket request): not a tunnel.
        sock.close()
        raise ProxyFailed("the proxy failed: it sent bytes past its reply to CONNECT")
    return sock


def _socks_tunnel(address: tuple[str, int], host: str, port: int, user: str | None,
                  password: str | None, deadline: float, *, rdns: bool) -> socket.socket:
    from python_socks import ProxyConnectionError, ProxyError, ProxyTimeoutError, ProxyType
    from python_socks.sync import Proxy

    proxy = Proxy(ProxyType.SOCKS5, *address, username=user, password=password, rdns=rdns)
    try:
        # SOCKS5's replies are a few fixed-size fields: its timeout per read bounds them.
        return proxy.connect(host, port, timeout=left(deadline))
    except (ProxyTimeoutError, socket.timeout):
        raise ProxyFailed("the proxy timed out") from None
    except ProxyConnectionError as error:
        # python-socks words it "Could not connect to proxy HOST:PORT [reason]": the
        # reason alone, since the caller names the proxy.
        cause = error.__cause__ if isinstance(error.__cause__, OSError) else error
        raise ProxyFailed(f"proxy unreachable: {describe(cause)}") from None
    except ProxyError as error:  # its reply: "Connection refused by destination host"
        raise ProxyFailed(f"the proxy refused: {error or 'it hung up'}") from None
    except socket.gaierror as error:  # socks5:// resolves the broker's name here
        raise ProxyFailed(f"cannot resolve {host}: {describe(error)}") from None
    except OSError as error:  # the proxy hung up or reset mid-handshake
        raise ProxyFailed(f"the proxy failed: {describe(error)}") from None
