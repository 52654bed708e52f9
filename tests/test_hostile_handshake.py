"""Servers and proxies that answer the opening of a connection badly, scripted on
loopback: a WebSocket handshake refused (one line: status, path, hint); an HTTP proxy's
CONNECT reply in many small segments (a tunnel all the same); and hostile peers that
answer 101 or 200 and then an endless line, endless headers or a byte a second, straight
and through a real tinyproxy. Against those the installed command stays under 100 MB
(VmHWM) and ends by --timeout, whatever step it is in."""
from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Callable

import pytest
from conftest import clean_env, coinsuper_command
from loopback import process_memory
from test_proxy import Tinyproxy

from coinsuper_cli.errors import ConnectFailed
from coinsuper_cli.mqtt.codec import Decoder, encode
from coinsuper_cli.mqtt.packets import ConnAck, Connect
from coinsuper_cli.net.tls import TLSOptions
from coinsuper_cli.net.transport import open_transport

SWITCHING = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
ESTABLISHED = b"HTTP/1.1 200 Connection established\r\n"
MB = 1024 * 1024


class ScriptedServer:
    """A loopback TCP server running `script(sock, stop)` for each connection, in
    threads; every script ends by itself within `lifetime` seconds or once stopped."""

    def __init__(self, script: Callable[[socket.socket, threading.Event], None],
                 lifetime: float = 20.0) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._script = script
        self._stop = threading.Event()
        self._deadline = time.monotonic() + lifetime
        self.requests: list[bytes] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self._listener.settimeout(0.1)
        while not self._stop.is_set() and time.monotonic() < self._deadline:
            try:
                sock, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:  # stop() closed the listener under this accept
                return
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(5)
        try:
            self.requests.append(read_request(sock))
            self._script(sock, self._stop)
        except OSError:
            pass  # the client gave up: what a hostile server is for
        finally:
            sock.close()

    def expired(self) -> bool:
        return self._stop.is_set() or time.monotonic() >= self._deadline

    def stop(self) -> None:
        self._stop.set()
        self._listener.close()


def read_request(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


@pytest.fixture
def serve():
    servers: list[ScriptedServer] = []

    def start(script, lifetime: float = 20.0) -> ScriptedServer:
        servers.append(ScriptedServer(script, lifetime))
        return servers[-1]
    yield start
    for server in servers:
        server.stop()


# -- a refused handshake: one line --------------------------------------------------------

def answering(status: bytes) -> Callable:
    def script(sock, stop):
        body = b"<html>" + b"x" * 3000 + b"</html>"
        sock.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Type: text/html\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        sock.recv(1)
    return script


@pytest.mark.parametrize("status, hint", [
    (b"404 Not Found", "is the path right? (the broker's WebSocket path is /mqtt for the "
                       "exchange and Mosquitto, ws://HOST:15675/ws for RabbitMQ)"),
    (b"401 Unauthorized", "the server wants HTTP credentials or refuses this path"),
    (b"403 Forbidden", "the server wants HTTP credentials or refuses this path"),
])
def test_a_refused_handshake_is_one_line_naming_status_path_and_hint(serve, status, hint):
    server = serve(answering(status))
    url = f"ws://127.0.0.1:{server.port}/ws"
    with pytest.raises(ConnectFailed) as raised:
        open_transport(url, timeout=5, tls=TLSOptions())
    assert str(raised.value).startswith(
        f"could not connect to {url}: the server answered {status.decode()} to the "
        "WebSocket handshake on /ws; ")
    assert hint in str(raised.value)
    assert server.requests[0].startswith(b"GET /ws HTTP/1.1\r\n")

    done = subprocess.run(coinsuper_command() + ["trades", "BTC_USD", "--url", url],
                          capture_output=True, text=True, timeout=30, env=clean_env())
    assert done.returncode == 4
    assert done.stderr.count("\n") == 1 and "-+-+-" not in done.stderr, done.stderr
    assert f"{status.decode()} to the WebSocket handshake on /ws; " in done.stderr


# -- a proxy's reply in pieces -------------------------------------------------------------

def test_a_connect_reply_in_many_segments_opens_the_tunnel(serve):
    """The proxy here is also the broker behind its tunnel: it answers CONNECT three
    bytes a segment, then MQTT's CONNECT with CONNACK."""
    def proxy_and_broker(sock, stop):
        reply = ESTABLISHED + b"Proxy-Agent: scripted\r\n\r\n"
        for i in range(0, len(reply), 3):
            sock.sendall(reply[i:i + 3])
            time.sleep(0.005)  # each piece its own segment (TCP_NODELAY), not a sync
        decoder = Decoder.for_server()
        while decoder.next_packet() is None:
            decoder.feed(sock.recv(4096))
        sock.sendall(encode(ConnAck(0)))
        sock.recv(1)

    server = serve(proxy_and_broker)
    transport = open_transport("mqtt://broker.invalid:1883", timeout=5, tls=TLSOptions(),
                               proxy=f"http://127.0.0.1:{server.port}")
    try:
        transport.send(encode(Connect("pieces")))
        decoder = Decoder.for_client()
        deadline = time.monotonic() + 5
        packet = None
        while packet is None and time.monotonic() < deadline:
            decoder.feed(transport.recv(0.5) or b"")
            packet = decoder.next_packet()
        assert packet == ConnAck(0)
    finally:
        transport.close()
    assert server.requests[0].startswith(b"CONNECT broker.invalid:1883 HTTP/1.1\r\n")


# -- hostile peers: bounded in bytes and in time -------------------------------------------

def endless_line(head: bytes) -> Callable:
    def script(sock, stop):
        sock.sendall(head + b"X-Endless: ")
        chunk = b"a" * 65536
        while not stop.is_set():
            sock.sendall(chunk)
    return script


def endless_headers(head: bytes) -> Callable:
    def script(sock, stop):
        sock.sendall(head)
        chunk = b"X-Again: and again\r\n" * 3000
        while not stop.is_set():
            sock.sendall(chunk)
    return script


def trickle(head: bytes) -> Callable:
    def script(sock, stop):
        sock.sendall(head + b"X-Slow: ")
        while not stop.wait(1.0):
            sock.sendall(b"z")
    return script


HOSTILE = {"endless line": endless_line, "endless headers": endless_headers,
           "a byte a second": trickle}


def run_measured(args: list[str], *, limit: float, env=None) -> tuple[int, float, int, str]:
    """Runs the command; (exit code, seconds taken, peak RSS, stderr). Killed, and the
    test failed, if it is still running `limit` seconds on."""
    started = time.monotonic()
    process = subprocess.Popen(coinsuper_command() + args, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, env=env or clean_env())
    peak = 0
    while process.poll() is None:
        try:
            peak = max(peak, process_memory(process.pid)[1])
        except (OSError, KeyError):
            pass  # exiting between poll and read
        if time.monotonic() - started > limit:
            process.kill()
            process.wait()
            pytest.fail(f"still running after {limit} s, peak RSS {peak / MB:.0f} MB: "
                        f"{args}")
        time.sleep(0.02)
    elapsed = time.monotonic() - started
    return process.returncode, elapsed, peak, process.stderr.read().decode()


TIMEOUT = 3.0


def check_bounded(args: list[str], env=None) -> tuple[int, str]:
    code, elapsed, peak, err = run_measured(args + ["--timeout", str(TIMEOUT)],
                                            limit=TIMEOUT + 12, env=env)
    print(f"{' '.join(args)}: exit {code} after {elapsed:.1f} s, peak RSS {peak / MB:.1f} MB")
    assert peak < 100 * MB, f"peak RSS {peak / MB:.0f} MB"
    assert elapsed < TIMEOUT + 2.5, f"took {elapsed:.1f} s"
    assert "Traceback" not in err and err.count("\n") <= 1, err
    return code, err


@pytest.mark.serial
@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_websocket_server(serve, name):
    server = serve(HOSTILE[name](SWITCHING))
    url = f"ws://127.0.0.1:{server.port}/mqtt"
    code, err = check_bounded(["trades", "BTC_USD", "--url", url])
    if name == "a byte a second":
        assert code == 0 and err == ""  # --timeout reached mid-handshake
    else:
        assert code == 4 and "WebSocket handshake: its reply" in err, err


@pytest.mark.serial
@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_websocket_server_through_tinyproxy(serve, tmp_path, name):
    server = serve(HOSTILE[name](SWITCHING))
    proxy = Tinyproxy(tmp_path, [server.port])
    try:
        url = f"ws://127.0.0.1:{server.port}/mqtt"
        code, err = check_bounded(["trades", "BTC_USD", "--url", url, "--proxy", proxy.url])
    finally:
        proxy.stop()
    assert server.requests, "the tunnel never reached the server"
    assert code == (0 if name == "a byte a second" else 4), err


@pytest.mark.serial
@pytest.mark.parametrize("name", list(HOSTILE))
@pytest.mark.parametrize("scheme", ["ws", "mqtt"])
def test_a_hostile_http_proxy(serve, name, scheme):
    proxy = serve(HOSTILE[name](ESTABLISHED))
    url = f"{scheme}://broker.invalid:1883" + ("/mqtt" if scheme == "ws" else "")
    code, err = check_bounded(["trades", "BTC_USD", "--url", url, "--proxy",
                               f"http://127.0.0.1:{proxy.port}"])
    if name == "a byte a second":
        assert code == 0 and err == ""
    else:
        assert code == 4 and "the proxy failed: its reply" in err, err


@pytest.mark.serial
@pytest.mark.parametrize("scheme, step", [
    ("mqtt", "CONNACK"), ("ws", "the WebSocket handshake"), ("wss", "TLS"),
    ("mqtts", "TLS")])
def test_timeout_ends_a_command_whatever_step_it_waits_in(serve, scheme, step):
    """A peer that takes the connection and then says nothing: --timeout ends the
    command before the 10 s connect timeout, in TLS, the handshake or CONNACK's wait."""
    def silent(sock, stop):
        stop.wait(15)
    server = serve(silent)
    path = "/mqtt" if scheme.startswith("ws") else ""
    code, err = check_bounded(["trades", "BTC_USD", "--url",
                               f"{scheme}://127.0.0.1:{server.port}{path}"])
    assert code == 0 and err == "", step


@pytest.mark.serial
def test_timeout_with_count_is_exit_6_mid_handshake(serve):
    server = serve(trickle(SWITCHING))
    code, err = check_bounded(["trades", "BTC_USD", "--count", "1", "--url",
                               f"ws://127.0.0.1:{server.port}/mqtt"])
    assert code == 6 and "--timeout 3 passed after 0 of --count 1 records" in err, err


@pytest.mark.serial
@pytest.mark.parametrize("count, code", [(None, 0), ("5", 6)])
def test_timeout_ends_a_relay_whose_target_trickles_its_handshake(serve, count, code):
    """The relay's --to side too: --timeout ends it while the target broker is still
    being reached (before, it waited out the 10 s connect timeout), with the streams'
    codes: 0, or 6 when --count was given."""
    server = serve(trickle(SWITCHING))
    args = ["relay", "BTC_USD", "--sandbox", "--to", f"ws://127.0.0.1:{server.port}/mqtt"]
    got, err = check_bounded(args + (["--count", count] if count else []))
    assert got == code, err
    if count:
        assert "--timeout 3 passed after 0 of --count 5" in err


def test_frames_in_the_same_segment_as_the_101_are_not_lost(serve):
    """A server may send its first frame right behind the handshake's reply: the head
    reader keeps what follows the blank line for the frame protocol."""
    import base64
    import hashlib

    servers: list[ScriptedServer] = []

    def eager(sock, stop):
        key = next(line.split(b": ")[1] for line in servers[0].requests[0].split(b"\r\n")
                   if line.lower().startswith(b"sec-websocket-key"))
        accept = base64.b64encode(hashlib.sha1(
            key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
        connack = encode(ConnAck(0))
        sock.sendall(SWITCHING + b"Connection: Upgrade\r\nSec-WebSocket-Protocol: mqtt\r\n"
                     b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
                     + bytes([0x82, len(connack)]) + connack)
        stop.wait(5)

    servers.append(serve(eager))
    transport = open_transport(f"ws://127.0.0.1:{servers[0].port}/mqtt", timeout=5,
                               tls=TLSOptions())
    try:
        assert transport.recv(0.01) == encode(ConnAck(0))
    finally:
        transport.close()
