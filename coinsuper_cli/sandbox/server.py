# The sandbox as a running service: MQTT over WebSocket (path /mqtt, subprotocol "mqtt",
# binary frames, MQTT 3.1.1 §6) and over plain TCP, both on one asyncio loop with the
# broker and the publisher. `Sandbox` is the in-loop API; `start_in_thread` runs one in
# a daemon thread for callers that are not async. Each listener takes one port on every
# address of its host (port 0 too), and its URL is one a client here can use.
from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from http import HTTPStatus
from typing import Callable

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from ..api.exchange import DEFAULT_ENV
from .broker import CONNECT_TIMEOUT, Broker
from .connection import MAX_PACKET
from .market import DEFAULT_SYMBOLS, SimulatedExchange
from .publisher import Publisher, Snapshots
from .topics import TopicParser

WS_PATH = "/mqtt"
HOUSEKEEPING_SECONDS = 0.5


@dataclass
class SandboxConfig:
    host: str = "127.0.0.1"
    ws_port: int = 9001  # 0 picks a free port
    tcp_port: int = 1883  # 0 picks a free port
    seed: int = 1
    speed: float = 1.0
    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    env: str = DEFAULT_ENV
    log: Callable[[str], None] | None = None  # one line per connection event when given
    # With a server context, both listeners speak TLS: wss:// and mqtts://.
    ssl_context: ssl.SSLContext | None = None
    # Seconds a new connection may take to finish its TLS or WebSocket handshake, and
    # again to send CONNECT: a client that opens connections and idles is dropped.
    connect_timeout: float = CONNECT_TIMEOUT
    # Recordings to serve in place of the simulation (`sandbox --replay`), in order;
    # `loop`: from the beginning again at the end; `max_gap`: the longest wait, in s.
    replay: tuple[str, ...] = ()
    loop: bool = False
    max_gap: float | None = None


def url_host(host: str) -> str:
    """`host` as a URL written for a client on this machine needs it: a wildcard address
    as loopback (0.0.0.0 listens on 127.0.0.1 too), an IPv6 address in brackets."""
    try:
        ip = ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return host  # a name
    if ip.is_unspecified:
        return "127.0.0.1" if ip.version == 4 else "[::1]"
    if ip.version == 6:
        return "[" + host.replace("%", "%25") + "]"  # RFC 6874: a zone's % is escaped
    return host


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.partition("%")[0]).is_loopback
    except ValueError:
        return False


async def listen_addresses(host: str) -> list[str]:
    """Every address `host` names (a name may have an IPv4 and an IPv6 one)."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, None, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    return list(dict.fromkeys(info[4][0] for info in infos))


def common_free_port(addresses: list[str], attempts: int = 20) -> int:
    """A port free on every one of `addresses`: given port 0, asyncio would bind each
    address to a port of its own, and a URL can name only one."""
    for _ in range(attempts):
        sockets: list[socket.socket] = []
        try:
            port = 0
            for address in addresses:
                family = socket.AF_INET6 if ":" in address else socket.AF_INET
                sock = socket.socket(family, socket.SOCK_STREAM)
                sockets.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as asyncio does
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind((address, port))
                port = sock.getsockname()[1]
            return port
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise
        finally:
            for sock in sockets:
                sock.close()
    raise OSError(errno.EADDRINUSE, "no port is free on every address of the host")


async def _listen(start: Callable, addresses: list[str], port: int):
    """`start(addresses, port)`; with port 0 and several addresses, on one port for all,
    tried again if another program takes it between the probe and the bind."""
    for attempt in range(3):
        chosen = port if port or len(addresses) == 1 else common_free_port(addresses)
        try:
            return await start(addresses, chosen)
        except OSError as error:
            if chosen == port or error.errno != errno.EADDRINUSE or attempt == 2:
                raise


def _peer(address) -> str:
    return f"{address[0]}:{address[1]}" if address else "?"


class Sandbox:
    """A simulated exchange served over MQTT. `start`, then `stop` on the same loop."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.ws_url = ""
        self.tcp_url = ""
        self.addresses: list[str] = []  # where the listeners are bound
        self.market: SimulatedExchange | None = None
        self.symbols: tuple[str, ...] = ()
        self.broker: Broker | None = None
        self.publisher: Publisher | None = None
        self._ws_server = None
        self._tcp_server: asyncio.Server | None = None
        self._tasks: list[asyncio.Task] = []
        self._handlers: set[asyncio.Task] = set()

    @property
    def account(self):
        return self.market.account if self.market is not None else None

    @property
    def listeners(self) -> tuple:
        """The WebSocket server (websockets') and the TCP one (asyncio's), once started."""
        return self._ws_server, self._tcp_server

    @property
    def beyond_loopback(self) -> list[str]:
        """The addresses listened on that other machines may reach."""
        return [address for address in self.addresses if not is_loopback(address)]

    async def start(self) -> None:
        cfg = self.config
        start_ms = int(time.time() * 1000)
        self.market = SimulatedExchange(seed=cfg.seed, symbols=cfg.symbols, start_ms=start_ms)
        if cfg.replay:
            # The demo account signs in as usual; what it and everyone else receive
            # comes from the recording, on the recording's topics.
            from .replayer import Replayer, recorded_messages, served

            env, symbols = served(recorded_messages(cfg.replay))
            self.symbols = symbols
            parser = TopicParser(env, symbols)
            replayer = Replayer(None, lambda: recorded_messages(cfg.replay),
                                email=self.market.account.email, speed=cfg.speed,
                                loop=cfg.loop, log=cfg.log, max_gap=cfg.max_gap)
            self.broker = Broker(parser, self.market.account, snapshot=replayer, log=cfg.log)
            replayer.broker = self.broker
            self.publisher = replayer
        else:
            self.symbols = tuple(self.market.symbols)
            parser = TopicParser(cfg.env, self.symbols)
            snapshots = Snapshots(self.market)
            self.broker = Broker(parser, self.market.account, snapshot=snapshots,
                                 log=cfg.log)
            self.publisher = Publisher(self.broker, self.market, snapshots, parser,
                                       speed=cfg.speed, start_ms=start_ms, log=cfg.log)
        self.broker.connect_timeout = cfg.connect_timeout
        addresses = await listen_addresses(cfg.host)
        tls_timeout = {"ssl_handshake_timeout": cfg.connect_timeout} if cfg.ssl_context else {}

        def start_ws(hosts, port):
            # compression=None: per-message deflate would cost CPU on every frame to
            # every subscriber, and MQTT clients do not ask for it. ping_interval=None:
            # MQTT's keepalive (PINGREQ, MQTT 3.1.1 §3.1.2.10) is the liveness check, as
            # at mosquitto, which sends no WebSocket ping; websockets' default ping every
            # 20 s dropped paho-mqtt, whose WebSocket layer does not answer in time.
            return serve(self._serve_websocket, hosts, port, subprotocols=["mqtt"],
                         process_request=_only_mqtt_path, compression=None,
                         ping_interval=None,
                         max_size=MAX_PACKET, ssl=cfg.ssl_context,
                         open_timeout=cfg.connect_timeout)

        def start_tcp(hosts, port):
            return asyncio.start_server(self._serve_tcp, hosts, port, ssl=cfg.ssl_context,
                                        **tls_timeout)

        self._ws_server = await _listen(start_ws, addresses, cfg.ws_port)
        try:
            self._tcp_server = await _listen(start_tcp, addresses, cfg.tcp_port)
        except BaseException:
            self._ws_server.close()
            raise
        ws_port = self._ws_server.sockets[0].getsockname()[1]
        tcp_port = self._tcp_server.sockets[0].getsockname()[1]
        self.addresses = list(dict.fromkeys(
            sock.getsockname()[0] for server in (self._ws_server, self._tcp_server)
            for sock in server.sockets))
        secure = "s" if cfg.ssl_context else ""
        host = url_host(cfg.host)
        self.ws_url = f"ws{secure}://{host}:{ws_port}{WS_PATH}"
        self.tcp_url = f"mqtt{secure}://{host}:{tcp_port}"
        self._tasks = [asyncio.create_task(self.publisher.run()),
                       asyncio.create_task(self._housekeeping())]

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(HOUSEKEEPING_SECONDS)
            self.broker.housekeeping()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._tcp_server is not None:
            self._tcp_server.close()
        if self._ws_server is not None:
            self._ws_server.close(close_connections=False)
        if self.broker is not None:
            self.broker.close_all()
        if self._handlers:
            await asyncio.wait(self._handlers, timeout=3.0)
        if self._ws_server is not None:
            await self._ws_server.wait_closed()
        if self._tcp_server is not None:
            await self._tcp_server.wait_closed()

    # -- transports -------------------------------------------------------------------

    async def _serve_websocket(self, ws: ServerConnection) -> None:
        conn = self.broker.open(_peer(ws.remote_address) + " ws", send=ws.send,
                                close=ws.close, abort=ws.transport.abort)
        await self._run(conn, self._ws_reader(ws, conn))

    async def _ws_reader(self, ws: ServerConnection, conn) -> None:
        try:
            async for message in ws:
                if isinstance(message, str):  # §6.0-1: MQTT travels in binary frames
                    conn.drop("text WebSocket frame")
                    return
                conn.receive(message)
                if conn.closing:
                    return
        except ConnectionClosed:
            pass

    async def _serve_tcp(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        async def send(frame: bytes) -> None:
            writer.write(frame)
            await writer.drain()

        async def close() -> None:
            writer.close()
            await writer.wait_closed()

        peer = _peer(writer.get_extra_info("peername")) + " tcp"
        conn = self.broker.open(peer, send=send, close=close, abort=writer.transport.abort)
        await self._run(conn, self._tcp_reader(reader, conn))

    async def _tcp_reader(self, reader: asyncio.StreamReader, conn) -> None:
        try:
            while data := await reader.read(65536):
                conn.receive(data)
                if conn.closing:
                    return
        except OSError:
            pass

    async def _run(self, conn, reading) -> None:
        """Read until the client or the broker ends the connection, then let the writer
        flush what is queued (a refusing CONNACK) and close."""
        task = asyncio.current_task()
        self._handlers.add(task)
        writer = asyncio.create_task(conn.write_loop())
        try:
            await reading
        finally:
            conn.connection_lost()
            await writer
            self._handlers.discard(task)


def _only_mqtt_path(connection: ServerConnection, request):
    if request.path.partition("?")[0] != WS_PATH:
        return connection.respond(HTTPStatus.NOT_FOUND, f"MQTT is served at {WS_PATH}\n")
    return None


class SandboxThread:
    """A Sandbox on its own event loop in a daemon thread."""

    def __init__(self, config: SandboxConfig) -> None:
        self.sandbox = Sandbox(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="coinsuper-sandbox",
                                        daemon=True)

    ws_url = property(lambda self: self.sandbox.ws_url)
    tcp_url = property(lambda self: self.sandbox.tcp_url)
    account = property(lambda self: self.sandbox.account)

    def _main(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        try:
            await self.sandbox.start()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            await self.sandbox.stop()

    def start(self) -> SandboxThread:
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            raise self._error
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join()


def start_in_thread(config: SandboxConfig) -> SandboxThread:
    """Run a sandbox in a daemon thread; returns once both servers are listening."""
    return SandboxThread(config).start()
