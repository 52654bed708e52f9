# The sandbox over real loopback sockets: the project's codec as a bare client over
# WebSocket and TCP, paho-mqtt and mosquitto_sub as independent clients.
from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import threading
import time
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
import pytest
import websockets
from websockets.asyncio.client import connect as ws_connect

from coinsuper_cli.api import channels
from coinsuper_cli.api.exchange import (PUBLIC_PASSWORD, PUBLIC_USERNAME, md5_hex,
                                        private_sign_in, public_sign_in)
from coinsuper_cli.mqtt.codec import Decoder, encode
from coinsuper_cli.mqtt.packets import (SUBACK_FAILURE, ConnAck, Connect, PingReq, PingResp,
                                        PubAck, PubComp, Publish, PubRec, SubAck, Subscribe)
from coinsuper_cli.sandbox.server import SandboxConfig, start_in_thread

ENV = "exchange_ha_prod_hk"


def topic(name: str, **fields: str) -> str:
    return channels.get(name).topic(ENV, **fields)


DEPTH = topic("depth", symbol="BTC_USD")
BOOK = topic("book", symbol="ETH_BTC", step="0.000001")
KLINE = topic("kline", symbol="BTC_USD", range="60000")


@pytest.fixture(scope="module")
def sandbox():
    lines: list[str] = []
    box = start_in_thread(SandboxConfig(ws_port=0, tcp_port=0, log=lines.append))
    box.lines = lines
    yield box
    box.stop()


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 15))


class Wire:
    """A bare MQTT client made of the project's codec, over WebSocket or TCP."""

    def __init__(self) -> None:
        self.decoder = Decoder.for_client()
        self.packets: asyncio.Queue = asyncio.Queue()
        self._write = None
        self._close = None

    @classmethod
    async def open(cls, url: str) -> Wire:
        wire = cls()
        if url.startswith("ws"):
            ws = await ws_connect(url, subprotocols=["mqtt"], compression=None)
            wire.ws = ws
            wire._write, wire._close = ws.send, ws.close
            wire._task = asyncio.create_task(wire._read_ws(ws))
        else:
            parts = urlparse(url)
            reader, writer = await asyncio.open_connection(parts.hostname, parts.port)

            async def write(data):
                writer.write(data)
                await writer.drain()

            async def close():
                writer.close()

            wire._write, wire._close = write, close
            wire._task = asyncio.create_task(wire._read_tcp(reader))
        return wire

    async def _read_ws(self, ws) -> None:
        try:
            async for message in ws:
                self._feed(message)
        except websockets.ConnectionClosed:
            pass
        self.packets.put_nowait(None)

    async def _read_tcp(self, reader) -> None:
        while data := await reader.read(65536):
            self._feed(data)
        self.packets.put_nowait(None)

    def _feed(self, data: bytes) -> None:
        for packet in self.decoder.packets(data):
            self.packets.put_nowait(packet)

    async def send(self, *packets) -> None:
        await self._write(b"".join(encode(p) for p in packets))

    async def send_raw(self, data) -> None:
        await self._write(data)

    async def recv(self, timeout: float = 3.0):
        """The next packet, or None once the server has closed the connection."""
        return await asyncio.wait_for(self.packets.get(), timeout)

    async def recv_publish(self, timeout: float = 3.0) -> Publish:
        while True:
            packet = await self.recv(timeout)
            if packet is None or isinstance(packet, Publish):
                return packet

    async def closed_within(self, timeout: float) -> bool:
        try:
            while (await self.recv(timeout)) is not None:
                pass
            return True
        except asyncio.TimeoutError:
            return False

    async def close(self) -> None:
        await self._close()
        self._task.cancel()


def cid(name: str) -> str:
    """A well-formed public client id (96 lowercase hex digits) that `name` tells apart."""
    return md5_hex(name) * 3


def public(name: str = "", **kw) -> Connect:
    client_id = cid(name) if name else public_sign_in(DEPTH).client_id
    return Connect(client_id, PUBLIC_USERNAME, PUBLIC_PASSWORD.encode(), **kw)


def private(account, **kw) -> Connect:
    s = private_sign_in(access_key=account.access_key, secret_key=account.secret_key,
                        email=account.email, timestamp_ms=kw.pop("timestamp_ms", None))
    return Connect(kw.pop("client_id", s.client_id), s.username,
                   kw.pop("password", s.password).encode(), **kw)


# -- the bare codec client ----------------------------------------------------------------

@pytest.mark.parametrize("transport", ["ws", "tcp"])
def test_snapshots_then_ticks_over_each_transport(sandbox, transport):
    # When they come is the clocked tests' business (test_sandbox_broker.py: a snapshot
    # right after SUBACK; test_sandbox_publisher.py: the tick grid); this proves the
    # real loop does it. The load test measures the cadence.
    async def go():
        wire = await Wire.open(sandbox.ws_url if transport == "ws" else sandbox.tcp_url)
        await wire.send(public(), Subscribe(1, ((DEPTH, 0), (KLINE, 0))))
        assert await wire.recv() == ConnAck(0)
        assert await wire.recv() == SubAck(1, (0, 0))
        first = [await wire.recv_publish(), await wire.recv_publish()]
        assert {p.topic for p in first} == {DEPTH, KLINE}
        while (tick := await wire.recv_publish()).topic != DEPTH:
            pass
        assert tick.payload.startswith(b"{")
        await wire.close()
    run(go())


@pytest.mark.parametrize("qos", [1, 2])
def test_qos_delivery_and_acknowledgement(sandbox, qos):
    async def go():
        wire = await Wire.open(sandbox.tcp_url)
        await wire.send(public(), Subscribe(1, ((BOOK, qos),)))
        assert (await wire.recv(), await wire.recv()) == (ConnAck(0), SubAck(1, (qos,)))
        ids = set()
        for _ in range(2):
            p = await wire.recv_publish()
            assert p.qos == qos and not p.dup and p.packet_id not in ids
            ids.add(p.packet_id)
            if qos == 1:
                await wire.send(PubAck(p.packet_id))
            else:
                await wire.send(PubRec(p.packet_id))
                rel = await wire.recv()
                assert rel.packet_id == p.packet_id and type(rel).__name__ == "PubRel"
                await wire.send(PubComp(p.packet_id))
        await wire.close()
    run(go())


def test_same_client_id_takes_over(sandbox):
    async def go():
        first = await Wire.open(sandbox.ws_url)
        await first.send(public("same-id"))
        assert await first.recv() == ConnAck(0)
        second = await Wire.open(sandbox.tcp_url)
        await second.send(public("same-id"), Subscribe(1, ((DEPTH, 0),)))
        assert await first.closed_within(2.0)
        assert await second.recv() == ConnAck(0)
        assert (await second.recv_publish()).topic == DEPTH
        await second.close()
    run(go())


def test_persistent_session_resumes_with_dup(sandbox):
    async def go():
        connect = public("persistent-1", clean_session=False)
        wire = await Wire.open(sandbox.ws_url)
        await wire.send(connect, Subscribe(1, ((DEPTH, 1),)))  # before CONNACK, like the demo
        assert await wire.recv() == ConnAck(0, session_present=False)
        assert await wire.recv() == SubAck(1, (1,))
        unacked = await wire.recv_publish()
        await wire.close()
        again = await Wire.open(sandbox.tcp_url)
        await again.send(connect)  # no SUBSCRIBE: the session kept it
        assert await again.recv() == ConnAck(0, session_present=True)
        resent = await again.recv_publish()
        assert resent.dup and resent.packet_id == unacked.packet_id  # §4.4
        assert resent.payload == unacked.payload
        while (fresh := await again.recv_publish()).dup:  # other re-sends, then live ones
            pass
        assert fresh.topic == DEPTH
        await again.send(PubAck(resent.packet_id))
        await again.close()
    run(go())


def test_keepalive_expiry_drops_silent_client(sandbox):
    # The 1.5 x keepalive rule is test_sandbox_broker.py's, on a fake clock; this proves
    # the running sandbox applies it.
    async def go():
        wire = await Wire.open(sandbox.tcp_url)
        await wire.send(public(keepalive=1))
        assert await wire.recv() == ConnAck(0)
        assert await wire.closed_within(3.0)
    run(go())


def test_garbage_drops_that_client_alone(sandbox):
    async def go():
        good = await Wire.open(sandbox.ws_url)
        await good.send(public("good"), Subscribe(1, ((DEPTH, 0),)))
        for junk in (b"\x10\xff\xff\xff\xff\x7f", b"\x82\x00"):  # bad length; SUBSCRIBE first
            bad = await Wire.open(sandbox.ws_url)
            await bad.send_raw(junk)
            assert await bad.closed_within(2.0)
        text = await Wire.open(sandbox.ws_url)
        await text.ws.send("a text frame")  # §6.0: MQTT travels in binary frames only
        assert await text.closed_within(2.0)
        seen = 0
        while seen < 3:
            p = await good.recv()
            assert p is not None
            seen += isinstance(p, Publish)
        await good.close()
    run(go())


def test_only_the_mqtt_path_is_served(sandbox):
    async def go():
        with pytest.raises(websockets.InvalidStatus) as raised:
            await ws_connect(sandbox.ws_url.replace("/mqtt", "/other"), subprotocols=["mqtt"])
        assert raised.value.response.status_code == 404
    run(go())


def test_private_topics_need_own_private_connection(sandbox):
    account = sandbox.account
    mine = [topic(c, email=account.email) for c in ("asset", "order", "fill")]
    theirs = topic("order", email="someone@else.test")

    async def go():
        pub = await Wire.open(sandbox.ws_url)
        await pub.send(public(), Subscribe(1, ((mine[1], 0), (DEPTH, 0))))
        assert (await pub.recv(), await pub.recv()) == (ConnAck(0), SubAck(1, (SUBACK_FAILURE, 0)))
        priv = await Wire.open(sandbox.ws_url)
        await priv.send(private(account), Subscribe(2, tuple((t, 2) for t in mine + [theirs])))
        assert await priv.recv() == ConnAck(0)
        assert await priv.recv() == SubAck(2, (2, 2, 2, SUBACK_FAILURE))
        await pub.close()
        await priv.close()
    run(go())


def test_private_events_pushed_to_own_account(sandbox):
    account = sandbox.account
    mine = {topic(c, email=account.email): c for c in ("asset", "order", "fill")}

    async def go():
        wire = await Wire.open(sandbox.tcp_url)
        await wire.send(private(account), Subscribe(1, tuple((t, 1) for t in mine)))
        assert (await wire.recv(), await wire.recv()) == (ConnAck(0), SubAck(1, (1, 1, 1)))
        seen = set()
        deadline = time.monotonic() + 8
        while len(seen) < 2 and time.monotonic() < deadline:
            p = await wire.recv_publish(8)
            assert p.topic in mine and p.qos == 1 and p.payload.startswith(b"{")
            seen.add(mine[p.topic])
            await wire.send(PubAck(p.packet_id))
        assert len(seen) >= 2, seen  # the demo account trades: orders, fills, balances
        await wire.close()
    run(go())


# -- paho-mqtt, an independent client -------------------------------------------------------

class Paho:
    """paho-mqtt in its own thread, with the events a test waits for."""

    def __init__(self, url: str, client_id: str, username: str, password: str,
                 clean_session: bool = True) -> None:
        parts = urlparse(url)
        transport = "websockets" if parts.scheme == "ws" else "tcp"
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  transport=transport, protocol=mqtt.MQTTv311,
                                  clean_session=clean_session)
        if transport == "websockets":
            self.client.ws_set_options(path=parts.path)
        self.client.username_pw_set(username, password)
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.reason = None
        self.granted = None
        self.messages: list = []
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = lambda c, u, msg: self.messages.append(msg)
        self.client.connect(parts.hostname, parts.port, keepalive=60)
        self.client.loop_start()

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        self.reason = reason_code
        self.connected.set()
        if reason_code.is_failure:
            client.disconnect()  # no reconnecting in a test

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        self.granted = [rc.value for rc in reason_codes]
        self.subscribed.set()

    def wait_messages(self, n: int, timeout: float = 5.0) -> list:
        deadline = time.monotonic() + timeout
        while len(self.messages) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.messages

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def paho_result(url, client_id, username, password):
    client = Paho(url, client_id, username, password)
    try:
        assert client.connected.wait(5)
        return client.reason
    finally:
        client.stop()


@pytest.mark.parametrize("transport", ["ws", "tcp"])
def test_paho_public_sign_in_and_qos2(sandbox, transport):
    url = sandbox.ws_url if transport == "ws" else sandbox.tcp_url
    client = Paho(url, public_sign_in(DEPTH).client_id, PUBLIC_USERNAME, PUBLIC_PASSWORD)
    try:
        assert client.connected.wait(5) and client.reason == 0
        client.client.subscribe([(DEPTH, 2), (KLINE, 1), (BOOK, 0)])
        assert client.subscribed.wait(5) and client.granted == [2, 1, 0]
        messages = client.wait_messages(6)
        assert {(m.topic, m.qos) for m in messages} >= {(DEPTH, 2), (KLINE, 1), (BOOK, 0)}
    finally:
        client.stop()


def test_paho_refused_subscriptions(sandbox):
    client = Paho(sandbox.ws_url, cid("paho-refusals"), PUBLIC_USERNAME, PUBLIC_PASSWORD)
    try:
        assert client.connected.wait(5) and client.reason == 0
        client.client.subscribe([
            (topic("order", email=sandbox.account.email), 0),  # private on public
            (topic("asset", email="other@x.test"), 0),  # another email
            (ENV + "/api/ws/v1/market/depth/+", 0),  # wildcard
            (topic("depth", symbol="NOPE_USD"), 0),  # unknown symbol
            (DEPTH, 0),
        ])
        assert client.subscribed.wait(5)
        assert client.granted == [SUBACK_FAILURE] * 4 + [0]
    finally:
        client.stop()


def test_paho_bad_public_password(sandbox):
    reason = paho_result(sandbox.tcp_url, "x" * 96, PUBLIC_USERNAME, "wrong")
    assert reason == "Bad user name or password"  # CONNACK 4


def test_paho_private_sign_in(sandbox):
    account = sandbox.account
    s = private_sign_in(access_key=account.access_key, secret_key=account.secret_key,
                        email=account.email)
    client = Paho(sandbox.ws_url, s.client_id, s.username, s.password)
    try:
        assert client.connected.wait(5) and client.reason == 0
        client.client.subscribe(topic("order", email=account.email), 1)
        assert client.subscribed.wait(5) and client.granted == [1]
    finally:
        client.stop()


def test_paho_private_refusals(sandbox):
    account = sandbox.account
    now = int(time.time() * 1000)
    good = private_sign_in(access_key=account.access_key, secret_key=account.secret_key,
                           email=account.email, timestamp_ms=now)
    stale = private_sign_in(access_key=account.access_key, secret_key=account.secret_key,
                            email=account.email, timestamp_ms=now - 6 * 60_000)
    forged = private_sign_in(access_key=account.access_key, secret_key="not the secret",
                             email=account.email, timestamp_ms=now)
    for client_id, password in [(good.client_id, forged.password),
                                (good.client_id, stale.password),
                                ("not-the-access-key", good.password)]:
        reason = paho_result(sandbox.ws_url, client_id, good.username, password)
        assert reason == "Not authorized"  # CONNACK 5


# -- mosquitto_sub ------------------------------------------------------------------------------

@pytest.mark.skipif(shutil.which("mosquitto_sub") is None, reason="mosquitto-clients missing")
def test_mosquitto_sub_over_tcp(sandbox):
    port = str(urlparse(sandbox.tcp_url).port)
    client_id = public_sign_in(DEPTH).client_id
    done = subprocess.run(
        ["mosquitto_sub", "-h", "127.0.0.1", "-p", port, "-i", client_id, "-u", PUBLIC_USERNAME,
         "-P", PUBLIC_PASSWORD, "-t", DEPTH, "-C", "1", "-W", "5"],
        capture_output=True, timeout=10, text=True)
    assert done.returncode == 0, done.stderr
    assert '"asks"' in done.stdout and '"bids"' in done.stdout


def test_log_lines(sandbox):
    lines = "\n".join(sandbox.lines)
    assert "connected" in lines and "refused" in lines and "disconnected" in lines


# -- a subscriber that never reads ----------------------------------------------------------

@pytest.mark.serial
def test_slow_subscriber_never_stalls_others():
    box = start_in_thread(SandboxConfig(ws_port=0, tcp_port=0, speed=20))
    every_topic = [topic("depth", symbol=s) for s in ("BTC_USD", "ETH_USD", "ETH_BTC")]
    every_topic += [topic("book", symbol="BTC_USD", step=s) for s in ("1.0", "0.1", "0.01")]
    every_topic += [topic("trade", symbol=s) for s in ("BTC_USD", "ETH_USD", "ETH_BTC")]

    # Smaller than the default, so that the outbox overflows within a few seconds.
    box.sandbox.broker.outbox_soft_limit = 64 * 1024

    async def go():
        sock = socket.socket()
        # A small receive buffer, or the kernel's autotuning takes megabytes first.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", urlparse(box.tcp_url).port))
        _, stuck = await asyncio.open_connection(sock=sock)  # and never reads
        stuck.write(encode(public("stuck")) + encode(Subscribe(1, tuple(
            (t, 0) for t in every_topic))))
        good = await Wire.open(box.ws_url)
        await good.send(public("good"), Subscribe(1, ((DEPTH, 0),)))
        slow = None
        deadline = time.monotonic() + 10
        while slow is None or not slow.dropped_qos0:  # its buffers fill up meanwhile
            assert time.monotonic() < deadline, "the stuck client's outbox never overflowed"
            await asyncio.sleep(0.1)
            slow = next((c for c in list(box.sandbox.broker.connections)
                         if c.client_id == cid("stuck")), None)
        while not good.packets.empty():
            good.packets.get_nowait()
        arrivals = []
        while len(arrivals) < 20:
            p = await good.recv_publish(1.0)
            arrivals.append(time.monotonic())
        gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
        assert max(gaps) < 0.1, gaps  # pushes every 0.05 s at speed 20
        assert slow in box.sandbox.broker.connections  # QoS 0 dropped, the client kept
        stuck.transport.abort()
        await good.close()

    try:
        run(go())
    finally:
        box.stop()


# -- hostile clients ------------------------------------------------------------------------

def test_public_sign_in_with_the_access_key_cannot_kick_the_private_session(sandbox):
    account = sandbox.account

    async def go():
        mine = await Wire.open(sandbox.tcp_url)
        await mine.send(private(account), Subscribe(1, ((topic("order", email=account.email), 1),)))
        assert (await mine.recv(), await mine.recv()) == (ConnAck(0), SubAck(1, (1,)))
        for url in (sandbox.tcp_url, sandbox.ws_url):
            hostile = await Wire.open(url)
            await hostile.send(Connect(account.access_key, PUBLIC_USERNAME,
                                       PUBLIC_PASSWORD.encode()))
            assert await hostile.recv() == ConnAck(2)  # identifier rejected
            assert await hostile.closed_within(2.0)
        await mine.send(PingReq())  # still signed in
        while not isinstance(await mine.recv(), PingResp):
            pass
        await mine.close()
    run(go())
    log = "\n".join(sandbox.lines)
    assert account.access_key not in log and account.access_key[4:12] not in log


def test_giant_connect_closed_at_once(sandbox):
    async def go():
        for url in (sandbox.tcp_url, sandbox.ws_url):
            wire = await Wire.open(url)
            started = time.monotonic()
            await wire.send_raw(b"\x10\xff\xff\xff\x7f" + b"\x00" * 1000)  # 268,435,455 bytes
            assert await wire.closed_within(1.0)
            assert time.monotonic() - started < 1.0
    run(go())


def test_refused_subscription_flood_leaves_the_log_short(sandbox):
    async def go():
        wire = await Wire.open(sandbox.tcp_url)
        await wire.send(public("flood"))
        assert await wire.recv() == ConnAck(0)
        flood = b"".join(encode(Subscribe(i, tuple(("\x1b[31m#" + "x" * 100, 0)
                                                      for _ in range(20))))
                         for i in range(1, 101))  # 2,400 refusals in 100 packets
        before = sum(len(line) for line in sandbox.lines)
        await wire.send_raw(flood)
        for _ in range(100):
            assert isinstance(await wire.recv(), SubAck)
        await wire.close()
        return sum(len(line) for line in sandbox.lines) - before
    grown = run(go())
    assert grown < 60 * 400  # at most a burst of short lines, not 2,400 of them
    assert not any("\x1b" in line for line in sandbox.lines)


async def reset_or_closed(reader: asyncio.StreamReader, timeout: float) -> bool:
    try:
        while await asyncio.wait_for(reader.read(65536), timeout):
            pass
    except asyncio.TimeoutError:
        return False
    except ConnectionResetError:
        pass
    return True


def test_idle_connections_closed_while_a_client_is_served():
    """Slowloris: connections that never finish their WebSocket handshake or never sign
    in are closed after connect_timeout, while a client that signed in is served."""
    box = start_in_thread(SandboxConfig(ws_port=0, tcp_port=0, speed=10,
                                        connect_timeout=0.5))
    tcp_port, ws_port = urlparse(box.tcp_url).port, urlparse(box.ws_url).port

    async def go():
        good = await Wire.open(box.tcp_url)
        await good.send(public("good"), Subscribe(1, ((DEPTH, 0),)))
        idle = [await asyncio.open_connection("127.0.0.1", port)  # not a byte sent
                for port in (tcp_port, ws_port)]
        half = await asyncio.open_connection("127.0.0.1", ws_port)
        half[1].write(b"GET /mqtt HTTP/1.1\r\n")  # a handshake begun, never finished
        trickle = await asyncio.open_connection("127.0.0.1", tcp_port)
        no_connect = await Wire.open(box.ws_url)  # a WebSocket that never signs in

        async def trickle_connect():  # CONNECT a byte every 50 ms: 8 s for all of it
            try:
                for byte in encode(public("trickle")):
                    trickle[1].write(bytes((byte,)))
                    await asyncio.sleep(0.05)
            except ConnectionError:
                pass

        sender = asyncio.create_task(trickle_connect())
        started = time.monotonic()
        for reader, _ in idle + [half, trickle]:
            assert await reset_or_closed(reader, 3.0)
        assert await no_connect.closed_within(3.0)
        assert time.monotonic() - started < 2.5  # 0.5 s, and housekeeping every 0.5 s
        sender.cancel()
        pushes = 0
        while not good.packets.empty():
            pushes += isinstance(good.packets.get_nowait(), Publish)
        assert pushes >= 5  # served all along, at speed 10
        assert isinstance(await good.recv_publish(1.0), Publish)
        await good.close()
        for _, writer in idle + [half, trickle]:
            writer.close()
    try:
        run(go())
    finally:
        box.stop()


# -- WebSocket keep-alive: MQTT's, not the WebSocket's -------------------------------------

def test_the_websocket_server_sends_no_ping(sandbox):
    """MQTT keepalive is the liveness check (as at mosquitto): websockets' default ping
    every 20 s dropped paho-mqtt. Checked on the server's side of a live connection, so
    the test needs no 20 s wait (the slow test below waits it out with paho)."""
    async def go():
        async with ws_connect(sandbox.ws_url, subprotocols=["mqtt"], ping_interval=None):
            deadline = time.monotonic() + 5
            ws_server = sandbox.sandbox.listeners[0]
            while not ws_server.connections:
                assert time.monotonic() < deadline, "the server never saw the connection"
                await asyncio.sleep(0.01)
            intervals = {conn.ping_interval for conn in ws_server.connections}
            assert intervals == {None}
    run(go())


@pytest.mark.slow
def test_paho_over_websocket_stays_connected_past_the_old_ping(sandbox):
    """35 s over ws://, past websockets' 20 s ping that paho failed to answer: no
    disconnect, and messages keep coming to the end."""
    client = Paho(sandbox.ws_url, cid("paho-long"), PUBLIC_USERNAME, PUBLIC_PASSWORD)
    disconnects: list = []
    client.client.on_disconnect = lambda *args: disconnects.append(time.monotonic())
    try:
        assert client.connected.wait(5) and client.reason == 0
        client.client.subscribe([(DEPTH, 0)])
        assert client.subscribed.wait(5)
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < 35:
            assert not disconnects, f"disconnected after {disconnects[0] - started:.1f} s"
            time.sleep(0.2)
        count = len(client.messages)
        assert client.wait_messages(count + 1, timeout=5)[count:], "no message after 35 s"
        assert not disconnects and elapsed >= 35
    finally:
        client.stop()
