"""End to end: `coinsuper relay` from the sandbox into Debian's mosquitto (started here
on free loopback ports), read by paho-mqtt, mosquitto_sub and `coinsuper` itself. What
the relay received is what its --record kept; every subscriber must get exactly that,
byte for byte, each message once."""
from __future__ import annotations

import base64
import json
import re
import signal
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import (Mosquitto, Streamer, clean_env, coinsuper_command, read_until,
                      run_coinsuper, sandbox_env, start_sandbox, stop_sandbox, wait_until,
                      _need_mosquitto)
from loopback import stop_process

ENV = "exchange_ha_prod_hk"
PUBLIC_PASSWORD = "da65be18f44b33b69603c39fd03ddf49"


@pytest.fixture
def broker(tmp_path):
    _need_mosquitto()
    broker = Mosquitto(tmp_path)
    yield broker
    broker.stop()


def recorded(path: Path) -> list[tuple[str, bytes]]:
    """(topic, payload) of every message a --record file holds, in order."""
    out = []
    for line in path.read_text().splitlines():
        obj = json.loads(line)
        if "topic" in obj:
            data = (obj["payload"].encode() if "payload" in obj
                    else base64.b64decode(obj["payload_b64"]))
            out.append((obj["topic"], data))
    return out


class Relay:
    """`coinsuper relay ARGS -v` as its own process, its stderr in a file."""

    def __init__(self, tmp_path: Path, args: list[str], env=None) -> None:
        self.record = tmp_path / f"relay-{time.monotonic_ns()}.jsonl"
        self.errors = tmp_path / f"relay-{time.monotonic_ns()}.err"
        with self.errors.open("wb") as err:
            self.process = subprocess.Popen(
                coinsuper_command() + ["relay", *args, "--record", str(self.record), "-v"],
                stdout=subprocess.DEVNULL, stderr=err, env=env or clean_env())

    @property
    def log(self) -> str:
        return self.errors.read_text()

    def wait(self, timeout: float = 30) -> int:
        return self.process.wait(timeout=timeout)

    def summary(self) -> dict[str, int]:
        line = [l for l in self.log.splitlines() if l.startswith("coinsuper: relay: in ")][-1]
        numbers = {k: int(v.replace(",", "")) for k, v in
                   re.findall(r"(in|out|dropped) ([\d,]+)", line)}
        return numbers


class Consumer:
    """`coinsuper ARGS --format raw -v` as a consumer of the relay's broker, its stdout
    in a file (a full pipe would stall it)."""

    def __init__(self, tmp_path: Path, args: list[str]) -> None:
        self.out = tmp_path / f"consumer-{time.monotonic_ns()}.out"
        with self.out.open("wb") as out:
            self.process = subprocess.Popen(coinsuper_command() + args + ["--format", "raw",
                                                                          "-v"],
                                            stdout=out, stderr=subprocess.PIPE,
                                            env=clean_env())

    def wait_subscribed(self, connections: int, timeout: float = 30) -> None:
        """Until each of its connections has its SUBACK (-v says so)."""
        deadline = time.monotonic() + timeout
        for _ in range(connections):
            read_until(self.process, self.process.stderr, b"subscribed (granted",
                       max(0.1, deadline - time.monotonic()))

    def lines(self) -> list[bytes]:
        """Stops it (Ctrl-C) and gives what it printed."""
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=10)
        self.log = self.process.stderr.read().decode()
        self.process.stderr.close()
        return self.out.read_bytes().splitlines()


class PahoSubscribers:
    """n paho-mqtt clients in this process, each counting what it receives."""

    def __init__(self, port: int, n: int, *, qos: int, transport: str = "tcp",
                 topic: str = f"{ENV}/#", clean: bool = True, prefix: str = "sub",
                 live_only: bool = False) -> None:
        """`live_only`: keep only what matched an established subscription, not the
        retained messages a broker sends for each new SUBSCRIBE (RETAIN 1, §3.3.1.3):
        paho subscribes again on every reconnect, so those are repeats of what it had."""
        import paho.mqtt.client as mqtt

        self.received: list[list[tuple[str, bytes]]] = [[] for _ in range(n)]
        self.subscribed = threading.Semaphore(0)
        self.clients = []
        for i in range(n):
            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311,
                                 transport=transport, client_id=f"{prefix}{i}",
                                 clean_session=clean)
            if transport == "websockets":
                client.ws_set_options(path="/mqtt")
            client.on_connect = (lambda c, u, f, rc, p: c.subscribe(topic, qos=qos))
            client.on_subscribe = lambda *a: self.subscribed.release()
            client.on_message = (lambda c, u, m, box=self.received[i]:
                                 None if live_only and m.retain
                                 else box.append((m.topic, m.payload)))
            client.reconnect_delay_set(0.1, 0.5)
            client.connect_async("127.0.0.1", port, keepalive=30)
            client.loop_start()
            self.clients.append(client)

    def wait_subscribed(self, timeout: float = 20) -> None:
        for _ in self.clients:
            assert self.subscribed.acquire(timeout=timeout), "a paho client did not subscribe"

    def stop(self) -> None:
        for client in self.clients:
            client.disconnect()
            client.loop_stop()


def test_relay_from_the_sandbox_reaches_paho_mosquitto_sub_and_coinsuper_byte_for_byte(
        broker, tmp_path):
    sub_out = tmp_path / "mosquitto_sub.out"
    with sub_out.open("wb") as out:  # a file: a full pipe would stall it
        sub = subprocess.Popen(["stdbuf", "-oL", "mosquitto_sub", "-h", "127.0.0.1", "-p",
                                str(broker.tcp_port), "-t", f"{ENV}/#", "-v", "-q", "1"],
                               stdout=out)
    paho = PahoSubscribers(broker.tcp_port, 3, qos=1)
    paho.wait_subscribed()
    consumers = [Consumer(tmp_path, ["watch", "BTC_USD", "--url", url, "--qos", "1"])
                 for url in (broker.tcp_url, broker.ws_url)]
    for consumer in consumers:
        consumer.wait_subscribed(4)
    relay = Relay(tmp_path, ["BTC_USD", "ETH_BTC", "--sandbox", "--to", broker.tcp_url,
                             "--to-qos", "1", "--timeout", "5"])
    assert relay.wait() == 0, relay.log
    want = recorded(relay.record)
    assert len(want) >= 16  # 8 topics, each at least twice in 5 s
    wait_until(lambda: all(len(got) >= len(want) for got in paho.received), 10,
               "paho's deliveries")
    paho.stop()
    for got in paho.received:
        assert got == want  # in order, byte for byte, each once
    stop_process(sub)  # stdbuf: each line was flushed as it was printed
    lines = sub_out.read_bytes().splitlines()
    extra = Counter(lines) - Counter(t.encode() + b" " + p for t, p in want)
    missing = Counter(t.encode() + b" " + p for t, p in want) - Counter(lines)
    assert not extra and not missing, ([(len(x), x[-80:]) for x in extra],
                                       [(len(x), x[-80:]) for x in missing])
    btc = [(t, p) for t, p in want if "BTC_USD" in t]
    for consumer in consumers:
        assert Counter(consumer.lines()) == Counter(t.encode() + b" " + p for t, p in btc)
    summary = relay.summary()
    assert summary["in"] == summary["out"] == len(want) and summary["dropped"] == 0
    log = relay.log
    assert f"relay → {broker.tcp_url} connected" in log
    # Mosquitto keeps topics as published: -v says so, and there is no warning.
    assert f"relay → {broker.tcp_url}: topics arrive unchanged" in log
    assert "rewrites topics" not in log and "could not check" not in log


def test_a_late_joiner_gets_the_retained_book_depth_candle_and_trades_at_once(
        broker, tmp_path):
    relay = Relay(tmp_path, ["BTC_USD", "--sandbox", "--to", broker.ws_url, "--timeout",
                             "4", "--normalized"])
    assert relay.wait() == 0, relay.log
    want = recorded(relay.record)
    last = {topic: payload for topic, payload in want}
    started = time.monotonic()
    late = PahoSubscribers(broker.tcp_port, 1, qos=0, topic="#")
    wait_until(lambda: len(late.received[0]) >= len(last) + 4, 5, "the retained messages")
    assert time.monotonic() - started < 2
    late.stop()
    got = dict(late.received[0])
    for topic, payload in last.items():
        assert got[topic] == payload
    kinds = {t.rsplit("/", 2)[0].rsplit("/", 1)[-1] for t in last}
    assert {"depth", "orderBook", "kline", "tickers"} <= kinds | {
        t.split("/")[-2] for t in last}
    for channel in ("depth", "book", "kline", "trade"):
        record = json.loads(got[f"coinsuper/v1/{channel}/BTC_USD"])
        assert record["channel"] == channel and record["symbol"] == "BTC_USD"
    # and `coinsuper` itself reads the retained ones from the broker as from the exchange
    result = run_coinsuper(["book", "BTC_USD", "--url", broker.tcp_url, "--count", "1",
                            "--format", "jsonl", "--timeout", "5"])
    assert result.returncode == 0 and json.loads(result.stdout)["channel"] == "book"


@pytest.mark.parametrize("keepalive", [0, 7])
def test_keepalive_reaches_the_target_and_0_means_none(broker, tmp_path, keepalive):
    # MQTT 3.1.1 §3.1.2.10: a keepalive of 0 turns the mechanism off, as it does for the
    # streams; the relay's target connection once took 0 for 60. Mosquitto says what
    # each client's CONNECT asked for: "as CLIENT_ID (p2, c1, kN)".
    relay = Relay(tmp_path, ["BTC_USD", "--channels", "trade", "--sandbox", "--to",
                             broker.tcp_url, "--keepalive", str(keepalive), "--timeout",
                             "2"])
    assert relay.wait() == 0, relay.log
    # The publisher's own client id: the topic check connects too, always with 0.
    client = re.search(r"connecting as client (\w+)", relay.log)[1]
    asked = []
    wait_until(lambda: asked.extend(re.findall(
        rf"as {client} \(p\d, c\d, k(\d+)\)", broker.log.read_text())) or asked, 10,
        "mosquitto's line on the relay's connection")
    assert asked == [str(keepalive)]


def test_relay_markets_feeds_a_board_through_the_broker_and_publishes_its_tickers(
        broker, tmp_path):
    """--markets relays each symbol's day candle and depth, so that `coinsuper markets
    --url BROKER` draws the board from the broker; --normalized adds the board's
    tickers, the very records `replay --markets` makes of what the relay received."""
    tickers = PahoSubscribers(broker.tcp_port, 1, qos=1, topic="coinsuper/v1/ticker/#")
    tickers.wait_subscribed()
    relay = Relay(tmp_path, ["BTC_USD", "ETH_BTC", "--channels", "depth,trade", "--markets",
                             "--sandbox", "--to", broker.tcp_url, "--to-qos", "1",
                             "--normalized", "--timeout", "6"])
    assert relay.wait() == 0, relay.log
    replayed = run_coinsuper(["replay", str(relay.record), "--markets", "--format", "jsonl"])
    assert replayed.returncode == 0, replayed.stderr
    want = replayed.stdout.splitlines()
    assert {json.loads(line)["symbol"] for line in want} == {"BTC_USD", "ETH_BTC"}
    wait_until(lambda: len(tickers.received[0]) >= len(want), 10, "the tickers")
    tickers.stop()
    got = tickers.received[0]
    assert [payload for _, payload in got] == want  # the same records, in order
    assert {topic for topic, _ in got} == {"coinsuper/v1/ticker/BTC_USD",
                                           "coinsuper/v1/ticker/ETH_BTC"}
    # One connection per topic: the depth of --channels is not subscribed twice (the
    # two would share a client id and drop each other).
    plan = run_coinsuper(["topics", "relay", "BTC_USD", "--channels", "depth,trade",
                          "--markets", "--to", broker.tcp_url])
    topics = [line.split()[-1] for line in plan.stdout.decode().splitlines()
              if line.strip().startswith("topic")]
    assert len(topics) == len(set(topics)) == 3, topics
    board = run_coinsuper(["markets", "BTC_USD", "ETH_BTC", "--url", broker.tcp_url,
                           "--count", "2", "--format", "jsonl", "--timeout", "10"])
    assert board.returncode == 0, board.stderr  # from the retained candles and depth
    assert {json.loads(line)["symbol"] for line in board.stdout.splitlines()} == {
        "BTC_USD", "ETH_BTC"}


def test_a_broker_with_a_password_file(tmp_path):
    """The relay signs in with the URL's user:password; coinsuper consumers send the
    exchange's public user name and password, which the password file then lists, or
    a user:password of their own in --url."""
    _need_mosquitto()
    passwords = tmp_path / "passwords"
    passwords.write_text("")
    for user, password in (("relay", "s3cret"), ("api_subscriber", PUBLIC_PASSWORD),
                           ("reader", "r@d")):
        subprocess.run(["mosquitto_passwd", "-b", str(passwords), user, password],
                       check=True)
    locked = Mosquitto(tmp_path, password_file=passwords)
    try:
        bad = run_coinsuper(["relay", "BTC_USD", "--sandbox", "--to",
                             f"mqtt://relay:wrong@127.0.0.1:{locked.tcp_port}"])
        assert bad.returncode == 3 and b"wrong" not in bad.stderr
        assert b"refused the sign-in" in bad.stderr
        relay = Relay(tmp_path, ["BTC_USD", "--channels", "trade", "--sandbox", "--to",
                                 f"mqtt://relay:s3cret@127.0.0.1:{locked.tcp_port}",
                                 "--timeout", "4"])
        assert relay.wait() == 0, relay.log
        assert "s3cret" not in relay.log and "mqtt://***@127.0.0.1" in relay.log
        result = run_coinsuper(["trades", "BTC_USD", "--url", locked.ws_url, "--count", "1",
                                "--format", "jsonl", "--timeout", "5"])
        assert result.returncode == 0, result.stderr
        # A consumer with a user of its own: the URL's user name and password sign in.
        own = locked.tcp_url.replace("mqtt://", "mqtt://reader:r%40d@")
        result = run_coinsuper(["trades", "BTC_USD", "--url", own, "--count", "1",
                                "--format", "jsonl", "--timeout", "5"])
        assert result.returncode == 0, result.stderr
        result = run_coinsuper(["trades", "BTC_USD", "--url", own.replace("r%40d", "no"),
                                "--count", "1", "--timeout", "5"])
        assert result.returncode == 3 and b"r@d" not in result.stderr
    finally:
        locked.stop()


def lines_of(want: list[tuple[str, bytes]], topic_part: str = "") -> Counter:
    """What `-v` subscribers print of these messages: topic, space, payload."""
    return Counter(t.encode() + b" " + p for t, p in want if topic_part in t)


def test_the_broker_stopped_and_restarted_mid_stream(tmp_path):
    """The relay keeps its upstream, queues while the broker is away, drops the oldest
    past --buffer (counting them) and delivers the rest once it is back."""
    _need_mosquitto()
    broker = Mosquitto(tmp_path, conf=["persistence true",
                                       f"persistence_location {tmp_path}/"])
    try:
        sandbox, exports = start_sandbox("--ws-port", "0", "--tcp-port", "0", "--speed", "4")
    except BaseException:
        broker.stop()
        raise
    # A persistent session: what reaches the broker while this subscriber is away
    # waits for it, so the test sees every message the relay delivered.
    # Its retained repeats after the restart are left out: they had been counted once,
    # and when one equals (as the sandbox's unchanged pushes do) a message the relay
    # dropped, it hid that drop (dropped 66, 64 missing).
    paho = PahoSubscribers(broker.tcp_port, 1, qos=1, clean=False, prefix="restart",
                           live_only=True)
    try:
        paho.wait_subscribed()
        relay = Relay(tmp_path, ["BTC_USD", "--url", exports["COINSUPER_URL"], "--to",
                                 broker.tcp_url, "--to-qos", "1", "--buffer", "10",
                                 "--timeout", "14"])
        wait_until(lambda: len(paho.received[0]) >= 5, 10, "messages before the stop")
        broker.stop()
        # Away until the relay has noticed and received more than its --buffer 10
        # holds, so that it must drop some.
        wait_until(lambda: "lost (" in relay.log, 10, "the relay to notice")
        away = len(recorded(relay.record))
        wait_until(lambda: len(recorded(relay.record)) >= away + 15, 15,
                   "more messages than the buffer holds")
        broker.start()
        wait_until(lambda: relay.log.count(" connected\n") >= 2, 20, "the relay's reconnect")
        assert relay.wait() == 0, relay.log
        summary = relay.summary()
        wait_until(lambda: len(paho.received[0]) >= summary["out"], 10,
                   "the subscriber to get all that was published")
    finally:
        paho.stop()
        stop_sandbox(sandbox)
        broker.stop()
    log = relay.log
    assert "lost (" in log and "reconnecting in" in log
    assert summary["dropped"] > 0, log
    assert "upstream 4/4" in log.splitlines()[-1] and "(lost" not in \
        log.splitlines()[-1].split(";")[1]  # the upstream never noticed
    want = recorded(relay.record)
    # What the relay said: every message received was published (once, however often
    # it was written) or dropped...
    got = paho.received[0]
    assert summary["in"] == len(want) == summary["out"] + summary["dropped"], log
    # ...every one published reached the subscriber, the few in flight at the cut
    # perhaps twice (QoS 1 is at least once: they go again, DUP set)...
    repeats = len(got) - summary["out"]
    assert repeats >= 0
    # ...and it missed as many as were dropped. Payloads repeat (an unchanged push is
    # pushed again), so a repeat delivery may equal a dropped message byte for byte
    # and hide it from this count: at most `repeats` of them.
    missing = sum((Counter(want) - Counter(got)).values())
    assert 0 <= summary["dropped"] - missing <= repeats, (missing, repeats, summary)
    print(f"broker away: {len(want)} received, {summary['dropped']} dropped past --buffer "
          f"10, {len(got)} delivered to a persistent subscriber ({repeats} twice), "
          f"{missing} missing")
    # the last messages before the stop...
    assert want[-1] in paho.received[0]


def test_the_upstream_killed_and_restarted(tmp_path, broker):
    ws_port, tcp_port = (str(p) for p in (_free(), _free()))
    sandbox, exports = start_sandbox("--ws-port", ws_port, "--tcp-port", tcp_port,
                                     "--speed", "4")
    paho = PahoSubscribers(broker.tcp_port, 1, qos=0)
    try:
        paho.wait_subscribed()
        relay = Relay(tmp_path, ["BTC_USD", "--channels", "trade,depth", "--url",
                                 exports["COINSUPER_URL"], "--to", broker.tcp_url,
                                 "--timeout", "12"])
        wait_until(lambda: len(paho.received[0]) >= 3, 10, "messages before the kill")
        sandbox.kill()
        sandbox.wait()
        # Counted once the relay knows the upstream is gone: nothing more is on the way.
        wait_until(lambda: "connection lost" in relay.log, 10, "the relay to notice")
        before = len(paho.received[0])
        sandbox, exports = start_sandbox("--ws-port", ws_port, "--tcp-port", tcp_port,
                                         "--speed", "4")
        wait_until(lambda: len(paho.received[0]) >= before + 3, 20, "messages after the restart")
        assert relay.wait() == 0, relay.log
    finally:
        paho.stop()
        stop_sandbox(sandbox)
    assert "connection lost" in relay.log
    want = recorded(relay.record)
    assert Counter(paho.received[0]) == Counter(want)


def _free() -> int:
    from loopback import free_port

    return free_port()


@pytest.mark.slow
def test_two_hundred_subscribers_each_get_every_payload_once_at_qos2(broker, tmp_path):
    """180 paho-mqtt clients (150 over TCP, 30 over websockets), 8 mosquitto_sub and 12
    `coinsuper` processes (6 over mqtt, 6 over ws): 200 subscribers of one relay."""
    subs, outs = [], []
    for i in range(8):
        outs.append(tmp_path / f"sub{i}.out")
        with outs[-1].open("wb") as out:
            subs.append(subprocess.Popen(
                ["stdbuf", "-oL", "mosquitto_sub", "-h", "127.0.0.1", "-p",
                 str(broker.tcp_port), "-t", f"{ENV}/#", "-v", "-q", "2"], stdout=out))
    paho_tcp = PahoSubscribers(broker.tcp_port, 150, qos=2, prefix="tcp")
    paho_ws = PahoSubscribers(broker.ws_port, 30, qos=2, transport="websockets",
                              prefix="ws")
    commands = [["trades", "BTC_USD"], ["depth", "ETH_BTC"], ["book", "BTC_USD"],
                ["kline", "ETH_BTC"], ["trades", "ETH_BTC"], ["depth", "BTC_USD"]]
    # --stale-after 0: the topics stay silent until the relay starts, and a consumer
    # that reconnected would get each retained message again (as MQTT means it to).
    consumers = [Consumer(tmp_path, [*command, "--url", url, "--qos", "2",
                                     "--stale-after", "0"])
                 for url in (broker.tcp_url, broker.ws_url) for command in commands]
    paho_tcp.wait_subscribed()
    paho_ws.wait_subscribed()
    for consumer in consumers:
        consumer.wait_subscribed(1)
    started = time.monotonic()
    relay = Relay(tmp_path, ["BTC_USD", "ETH_BTC", "--sandbox", "--to", broker.tcp_url,
                             "--to-qos", "2", "--timeout", "8"])
    assert relay.wait() == 0, relay.log
    want = recorded(relay.record)
    everyone = paho_tcp.received + paho_ws.received
    wait_until(lambda: all(len(got) >= len(want) for got in everyone), 15, "deliveries")
    paho_tcp.stop()
    paho_ws.stop()
    for got in everyone:
        assert got == want  # in order, byte for byte, none twice
    for sub, out in zip(subs, outs):
        stop_process(sub)
        assert Counter(out.read_bytes().splitlines()) == lines_of(want)
    topics = {"trades": "tickers", "depth": "depth", "book": "orderBook", "kline": "kline"}
    for consumer, (command, symbol) in zip(consumers, commands * 2):
        # Every payload, byte for byte, each as many times as the relay received it: the
        # exchange (and the sandbox) may push the same payload twice when nothing changed.
        expected = lines_of(want, f"/{topics[command]}/{symbol}")
        assert Counter(consumer.lines()) == expected, (command, symbol, consumer.log)
    summary = relay.summary()
    assert summary["in"] == summary["out"] == len(want) and summary["dropped"] == 0
    print(f"200 subscribers × {len(want)} messages, {time.monotonic() - started:.1f} s")


def test_on_a_terminal_the_relay_shows_its_status_and_quits_with_q(broker, tmp_path):
    from test_live_terminal import Pane

    pane = Pane(tmp_path, ["relay", "BTC_USD", "--sandbox", "--channels", "trade,book",
                           "--to", broker.tcp_url], 100, 20)
    try:
        lines = pane.wait_for(lambda screen: "2/2 subscribed" in "\n".join(screen)
                              and re.search(r"([1-9]\d*) published", "\n".join(screen))
                              and " connected" in "\n".join(screen), 20, "the relay panel")
        screen = "\n".join(lines)
        assert "coinsuper relay" in screen and "queue" in screen and "q quits" in screen
        pane.send("q")
        assert pane.exit_status() == 0
    finally:
        pane.close()
