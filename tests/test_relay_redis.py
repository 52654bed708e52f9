"""End to end: `coinsuper relay --to redis://` from the sandbox into Debian's redis-server
(started here on a free loopback port, stopped at the end). What the relay received is
what its --record kept; the streams must hold exactly that, byte for byte, in order,
one stream per topic."""
from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from conftest import clean_env, run_coinsuper, start_sandbox, stop_sandbox, wait_until
from loopback import free_port, stop_process, wait_for_port
from test_relay_e2e import Relay, recorded

pytestmark = pytest.mark.skipif(not shutil.which("redis-server"),
                                reason="redis-server is not installed (apt-get install "
                                       "redis-server)")


class RedisServer:
    """redis-server on a free loopback port, its data in `directory`; `stop` then
    `start` restarts it on the same port (with `persist`, its data kept)."""

    def __init__(self, directory: Path, *args: str, persist: bool = False) -> None:
        self.port = free_port()
        self.directory = directory
        self.args = ["--appendonly", "yes", "--appendfsync", "always"] if persist else [
            "--appendonly", "no"]
        self.args += list(args)
        self.url = f"redis://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--dir", str(self.directory), *self.args], stdout=subprocess.DEVNULL)
        process = self.process
        wait_for_port(self.port, alive=lambda: process.poll() is None)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)  # SIGTERM: with --appendonly yes, its AOF synced

    def client(self, **kwargs):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=10, **kwargs)


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path)
    yield server
    server.stop()


def entries(client) -> list[tuple[str, bytes]]:
    """(topic, payload) of every entry, stream by stream in the order of its entries,
    checking each entry's fields. (Entry ids order a stream, not streams among them.)"""
    found = []
    for key in sorted(client.scan_iter(count=1000)):
        for _, fields in client.xrange(key):
            assert set(fields) == {b"topic", b"payload", b"recv_ns"}
            assert fields[b"topic"] == key and int(fields[b"recv_ns"]) > 0
            found.append((key.decode(), fields[b"payload"]))
    return found


def by_stream(messages: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """The same messages, stream by stream, each stream's in their order."""
    return sorted(messages, key=lambda message: message[0])  # sorted() is stable


def test_every_payload_byte_for_byte_in_its_topics_stream(redis_server, tmp_path):
    relay = Relay(tmp_path, ["BTC_USD", "ETH_BTC", "--sandbox", "--to",
                             redis_server.url + "/0", "--timeout", "4"])
    assert relay.wait() == 0, relay.log
    want = recorded(relay.record)
    assert len(want) >= 16  # 8 topics, each at least twice in 4 s
    client = redis_server.client()
    got = entries(client)
    assert got == by_stream(want)  # each stream in order, byte for byte, each once
    assert {topic for topic, _ in want} == {k.decode() for k in client.keys()}
    summary = relay.summary()
    assert summary["in"] == summary["out"] == len(want) and summary["dropped"] == 0
    assert f"relay → {redis_server.url}/0 connected" in relay.log
    # What a consumer with nothing but redis-cli sees: the payloads, in order.
    topic = want[0][0]
    shown = subprocess.run(["redis-cli", "-p", str(redis_server.port), "XREAD", "COUNT",
                            "5", "STREAMS", topic, "0"], capture_output=True, timeout=10,
                           check=True).stdout
    first = [payload for t, payload in want if t == topic][:5]
    lines = shown.splitlines()
    assert [lines[i + 1] for i, line in enumerate(lines) if line == b"payload"] == first


def test_normalized_records_go_to_their_own_streams(redis_server, tmp_path):
    relay = Relay(tmp_path, ["BTC_USD", "--sandbox", "--to", redis_server.url,
                             "--channels", "trade,depth", "--normalized", "--timeout", "3"])
    assert relay.wait() == 0, relay.log
    client = redis_server.client()
    import json

    for channel in ("trade", "depth"):
        stream = client.xrange(f"coinsuper/v1/{channel}/BTC_USD")
        assert stream, channel
        record = json.loads(stream[-1][1][b"payload"])
        assert record["channel"] == channel and record["symbol"] == "BTC_USD"
    raw = [(t, p) for t, p in entries(client) if not t.startswith("coinsuper/v1/")]
    assert raw == by_stream(recorded(relay.record))


def test_streams_are_trimmed_near_max_len(tmp_path):
    # Trimming with ~ frees whole nodes: with 5 entries a node, a stream holds a few
    # more than --max-len, never all.
    server = RedisServer(tmp_path, "--stream-node-max-entries", "5")
    try:
        sandbox, exports = start_sandbox("--ws-port", "0", "--tcp-port", "0", "--speed",
                                         "10")
        try:
            relay = Relay(tmp_path, ["BTC_USD", "--url", exports["COINSUPER_URL"], "--to",
                                     server.url, "--channels", "depth,book", "--max-len",
                                     "10", "--timeout", "5"])
            assert relay.wait() == 0, relay.log
        finally:
            stop_sandbox(sandbox)
        client = server.client()
        want = Counter(topic for topic, _ in recorded(relay.record))
        assert max(want.values()) > 20, want
        for topic, n in want.items():
            info = client.xinfo_stream(topic)
            assert info["entries-added"] == n  # each appended once...
            assert min(n, 10) <= info["length"] <= 10 + 5, (topic, n, info["length"])
            last = client.xrevrange(topic, count=1)[0][1][b"payload"]
            assert last == [p for t, p in recorded(relay.record) if t == topic][-1]
    finally:
        server.stop()


def test_redis_stopped_and_restarted_mid_stream(tmp_path):
    """The relay keeps its upstream, queues while Redis is away, drops the oldest past
    --buffer (counting them) and writes the rest once it is back."""
    server = RedisServer(tmp_path, persist=True)
    try:
        sandbox, exports = start_sandbox("--ws-port", "0", "--tcp-port", "0", "--speed", "4")
    except BaseException:
        server.stop()
        raise
    try:
        relay = Relay(tmp_path, ["BTC_USD", "--url", exports["COINSUPER_URL"], "--to",
                                 server.url, "--buffer", "10", "--timeout", "14"])
        client = server.client()
        wait_until(lambda: client.dbsize() >= 3, 10, "messages before the stop")
        client.close()
        server.stop()
        # Away until the relay has noticed and received more than its --buffer holds.
        wait_until(lambda: "lost (" in relay.log, 10, "the relay to notice")
        away = len(recorded(relay.record))
        wait_until(lambda: len(recorded(relay.record)) >= away + 15, 15,
                   "more messages than the buffer holds")
        server.start()
        wait_until(lambda: relay.log.count(" connected\n") >= 2, 20, "the relay's reconnect")
        assert relay.wait() == 0, relay.log
    finally:
        stop_sandbox(sandbox)
        server.stop()
    server.start()  # its data, as it had synced it, to read back
    try:
        got = entries(server.client())
    finally:
        server.stop()
    log, summary, want = relay.log, relay.summary(), recorded(relay.record)
    assert "lost (" in log and "reconnecting in" in log and summary["dropped"] > 0, log
    assert "upstream 4/4" in log.splitlines()[-1]
    # Every message received was written (once, however often) or dropped...
    assert summary["in"] == len(want) == summary["out"] + summary["dropped"], log
    # ...every one written is in Redis, the few of a batch cut by the stop perhaps
    # twice, and as many are missing as were dropped (an unchanged push that repeats
    # may equal a dropped one byte for byte and hide it: at most `repeats` of them).
    repeats = len(got) - summary["out"]
    assert repeats >= 0
    missing = sum((Counter(want) - Counter(got)).values())
    assert 0 <= summary["dropped"] - missing <= repeats, (missing, repeats, summary)
    assert want[-1] in got and want[0] in got
    print(f"redis away: {len(want)} received, {summary['dropped']} dropped past --buffer "
          f"10, {len(got)} in the streams ({repeats} twice), {missing} missing")


def test_a_wrong_password_is_refused_and_the_right_one_signs_in(tmp_path):
    server = RedisServer(tmp_path, "--requirepass", "s3cret")
    try:
        for url, code in ((f"redis://:wrong@127.0.0.1:{server.port}", 3),
                          (f"redis://127.0.0.1:{server.port}", 3),
                          (f"redis://:s3cret@127.0.0.1:{server.port}/1", 0)):
            # In the environment, as --help advises for a password.
            result = run_coinsuper(["relay", "BTC_USD", "--sandbox", "--channels", "trade",
                                    "--timeout", "2"], timeout=30,
                                   env=clean_env(COINSUPER_RELAY_TO=url))
            err = result.stderr.decode()
            assert result.returncode == code, (url, err)
            assert "s3cret" not in err and "wrong" not in err
            if code:
                assert len(err.strip().splitlines()) == 1 and "refused the sign-in" in err
        assert server.client(password="s3cret", db=1).dbsize() == 1
    finally:
        server.stop()


def test_no_redis_there_is_exit_4_in_one_line(tmp_path):
    result = run_coinsuper(["relay", "BTC_USD", "--sandbox", "--to",
                            f"redis://127.0.0.1:{free_port()}", "--timeout", "5"], timeout=30)
    err = result.stderr.decode()
    assert result.returncode == 4 and len(err.strip().splitlines()) == 1, err
    assert "relay target redis://127.0.0.1:" in err


def test_a_redis_that_stops_reading_costs_the_queue_and_not_the_upstream(tmp_path):
    """SIGSTOP: Redis accepts nothing more and answers nothing. The relay keeps
    receiving, holds at most --buffer, gives up on the batch after its socket timeout
    (10 s) and reconnects once Redis runs again (SIGCONT)."""
    import signal

    server = RedisServer(tmp_path)
    try:
        relay = Relay(tmp_path, ["BTC_USD", "--sandbox", "--to", server.url, "--buffer",
                                 "10", "--timeout", "25"])
        wait_until(lambda: " connected\n" in relay.log, 15, "the relay's connection")
        wait_until(lambda: len(recorded(relay.record)) >= 3, 10, "messages before the stop")
        server.process.send_signal(signal.SIGSTOP)
        try:
            stopped = len(recorded(relay.record))
            wait_until(lambda: "lost (" in relay.log, 20, "the write to time out")
            # The exchange side never waited for Redis.
            assert len(recorded(relay.record)) >= stopped + 10, relay.log
        finally:
            server.process.send_signal(signal.SIGCONT)
        wait_until(lambda: relay.log.count(" connected\n") >= 2, 20, "the relay's reconnect")
        assert relay.wait(timeout=40) == 0, relay.log
    finally:
        server.stop()
    summary, want = relay.summary(), recorded(relay.record)
    assert "Timeout" in relay.log or "timed out" in relay.log, relay.log
    assert summary["in"] == len(want) == summary["out"] + summary["dropped"], relay.log
    assert summary["dropped"] > 0


def test_an_entry_redis_refuses_is_named_once_and_counted_the_rest_go(redis_server):
    """A key of another type under a topic's name: WRONGTYPE for its entries only."""
    from coinsuper_cli.relay.queue import Outgoing, RelayQueue
    from coinsuper_cli.relay.redis_target import RedisTarget
    from coinsuper_cli.relay.target import TargetSettings

    client = redis_server.client()
    client.set("taken", b"a string")
    queue = RelayQueue(100)
    warnings: list[str] = []
    target = RedisTarget(queue, TargetSettings(redis_server.url, warn=warnings.append))
    target.start()
    assert target.wait_ready(10)
    queue.put_many([Outgoing("taken", b"1", True, 1), Outgoing("free", b"2", True, 2),
                    Outgoing("taken", b"3", True, 3)])
    wait_until(lambda: target.status().published + target.status().rejected == 3, 10,
               "the batch")
    target.close(1)
    status = target.status()
    assert (status.published, status.rejected, status.state) == (1, 2, "closed")
    assert len(warnings) == 1 and "refused XADD to taken: WRONGTYPE" in warnings[0]
    assert client.xrange("free")[0][1] == {b"topic": b"free", b"payload": b"2",
                                           b"recv_ns": b"2"}


def test_rediss_verifies_the_servers_certificate_against_cafile(tmp_path):
    import trustme

    ca = trustme.CA()
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(
        str(tmp_path / "server.pem"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    (tmp_path / "bad.pem").write_text("not a certificate\n")
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no", "--dir", str(tmp_path), "--tls-cert-file",
         str(tmp_path / "server.pem"), "--tls-key-file", str(tmp_path / "server.pem"),
         "--tls-ca-cert-file", str(tmp_path / "ca.pem"), "--tls-auth-clients", "no"],
        stdout=subprocess.DEVNULL)
    try:
        wait_for_port(port, alive=lambda: server.poll() is None)
        url = f"rediss://127.0.0.1:{port}"
        for extra, code, says in (
                (["--cafile", str(tmp_path / "ca.pem")], 0, "dropped 0"),
                ([], 4, "certificate verify failed"),
                (["--cafile", str(tmp_path / "bad.pem")], 2, "bad.pem")):
            result = run_coinsuper(["relay", "BTC_USD", "--sandbox", "--to", url,
                                    "--channels", "trade", "--timeout", "2", *extra],
                                   timeout=30)
            err = result.stderr.decode()
            assert result.returncode == code and says in err, (extra, err)
    finally:
        stop_process(server)
