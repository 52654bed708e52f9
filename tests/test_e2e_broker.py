"""End to end: the installed `coinsuper` command against a real mosquitto broker (over
WebSocket and TCP) and against a scripted MQTT peer, checking what a user sees: stdout
byte for byte, exit codes, and one clear line on stderr."""
import json
import subprocess
import time

import pytest
from conftest import SAMPLES, Streamer, clean_env, coinsuper_command, read_until, run_coinsuper
from loopback import free_port
from peer import ScriptedPeer

from coinsuper_cli.mqtt.packets import ConnAck, Connect, Disconnect, PubComp, Publish, PubRec, \
    PubRel, SubAck, Subscribe

ENV = "exchange_ha_prod_hk"
CREDS = ["--email", "demo@example.com", "--access-key", "AK", "--secret-key", "SK"]
PRIVATE_ENV = clean_env(COINSUPER_EMAIL="demo@example.com", COINSUPER_ACCESS_KEY="AK",
                        COINSUPER_SECRET_KEY="SK")

# command line, topic it subscribes to, sample payload, records per payload
CHANNELS = {
    "depth": (["depth", "BTC_USD"], "/api/ws/v1/market/depth/BTC_USD", "depth.json", 1),
    "book": (["book", "btc/usd"], "/api/ws/v1/market/orderBook/BTC_USD/0.01",
             "orderbook.json", 1),
    "kline": (["kline", "BTC-USD", "--interval", "5m"],
              "/api/ws/v1/market/kline/BTC_USD/300000", "kline.json", 1),
    "trades": (["trades", "BTC_USD"], "/api/ws/v1/market/tickers/BTC_USD", "tickers.json", 20),
    "assets": (["assets"], "/api/ws/personal/v1/asset/change/demo@example.com",
               "asset_change.json", 2),
    "orders": (["orders"], "/ws/personal/v1/order/change/demo@example.com",
               "order_change.constructed.json", 1),
    "fills": (["fills"], "/ws/personal/v1/trade/change/demo@example.com",
              "trade_change.json", 1),
}


def payload(name: str) -> bytes:
    return (SAMPLES / name).read_bytes().rstrip(b"\n")


@pytest.mark.parametrize("qos", [0, 1, 2])
@pytest.mark.parametrize("channel", list(CHANNELS))
def test_raw_over_websocket_is_byte_for_byte(mosquitto, channel, qos):
    args, subtopic, sample, _ = CHANNELS[channel]
    streamer = Streamer(args + ["--url", mosquitto.ws_url, "--format", "raw", "--count", "2",
                                "--qos", str(qos)], env=PRIVATE_ENV)
    streamer.wait_subscribed()
    body = payload(sample)
    mosquitto.publish(ENV + subtopic, body, qos)
    mosquitto.publish(ENV + subtopic, body + b" ", qos)
    code, out, err = streamer.finish()
    assert code == 0, err
    # -v with raw puts the topic first, like mosquitto_sub -v
    assert out == (f"{ENV}{subtopic} ".encode() + body + b"\n"
                   + f"{ENV}{subtopic} ".encode() + body + b" \n")
    assert f"granted QoS {qos}" in err


@pytest.mark.parametrize("channel", list(CHANNELS))
def test_jsonl_over_tcp_keeps_every_digit(mosquitto, channel):
    args, subtopic, sample, records = CHANNELS[channel]
    streamer = Streamer(args + ["--url", mosquitto.tcp_url, "--count", str(records),
                                "--qos", "1"], env=PRIVATE_ENV)
    streamer.wait_subscribed()
    body = payload(sample)
    mosquitto.publish(ENV + subtopic, body, 1)
    code, out, err = streamer.finish()
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == records
    text = out.decode()
    for value in body.decode().replace("[", ",").replace("]", ",").split(","):
        _, _, number = value.partition(":")
        number = number.strip('"}')
        if "." in number and number.replace(".", "").isdigit():
            assert f'"{number}"' in text or channel == "book", number
    if channel == "assets":
        assert lines[0]["available"] == "0.738763122563248000000000000000"


def test_lines_reach_a_pipe_as_they_arrive(mosquitto):
    topic = ENV + CHANNELS["kline"][1]
    streamer = Streamer(["kline", "BTC_USD", "--interval", "5m", "--url", mosquitto.ws_url])
    streamer.wait_subscribed()
    try:
        for i in range(3):
            mosquitto.publish(topic, payload("kline.json").replace(b"6616.45", f"{i}.5".encode()))
            # Its next line, flushed at once: failing after 20 s rather than hanging.
            line = read_until(streamer.process, streamer.process.stdout, b"\n")[-1]
            assert json.loads(line)["close"] == f"{i}.5"
            assert streamer.process.poll() is None  # still streaming, not at exit
    finally:
        streamer.process.kill()
        streamer.process.communicate()


def test_head_ends_it_quietly_with_exit_0(mosquitto):
    topic = ENV + CHANNELS["depth"][1]
    shell = subprocess.Popen(
        ["bash", "-c", '"$@" 2>/dev/stderr | head -1; exit "${PIPESTATUS[0]}"', "_",
         *coinsuper_command(), "depth", "BTC_USD", "--url", mosquitto.tcp_url, "-v"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env())
    stderr = b"".join(read_until(shell, shell.stderr, b"subscribed"))
    # head exits after the first line; coinsuper learns it only when it writes again, so
    # publish until the pipeline ends (each wait returns as soon as it does).
    deadline = time.monotonic() + 15
    while shell.poll() is None:
        assert time.monotonic() < deadline, "the pipeline did not end"
        mosquitto.publish(topic, payload("depth.json"))
        try:
            shell.wait(timeout=0.1)
        except subprocess.TimeoutExpired:
            pass
    out, err = shell.communicate(timeout=5)
    assert shell.returncode == 0
    assert len(out.splitlines()) == 1
    assert b"Traceback" not in stderr + err and b"Error" not in stderr + err


def test_timeout_ends_a_quiet_stream_with_exit_0(mosquitto):
    started = time.monotonic()
    result = run_coinsuper(["trades", "BTC_USD", "--url", mosquitto.ws_url, "--timeout", "1"])
    assert result.returncode == 0, result.stderr
    assert 0.9 < time.monotonic() - started < 8
    assert result.stdout == b"" and result.stderr == b""


def test_several_symbols_stream_on_their_own_connections(mosquitto):
    streamer = Streamer(["depth", "BTC_USD", "ETH_BTC", "--url", mosquitto.ws_url,
                         "--count", "2"])
    streamer.wait_subscribed()
    streamer.wait_subscribed()
    body = payload("depth.json")
    mosquitto.publish(f"{ENV}/api/ws/v1/market/depth/ETH_BTC",
                      body.replace(b"BTC/USD", b"ETH/BTC"))
    mosquitto.publish(f"{ENV}/api/ws/v1/market/depth/BTC_USD", body)
    code, out, err = streamer.finish()
    assert code == 0, err
    assert sorted(json.loads(line)["symbol"] for line in out.splitlines()) == [
        "BTC_USD", "ETH_BTC"]


def test_refused_sign_in_on_a_locked_broker_exits_3(locked_mosquitto):
    result = run_coinsuper(["trades", "BTC_USD", "--url", locked_mosquitto.ws_url])
    assert result.returncode == 3
    assert result.stderr.decode().count("\n") == 1
    assert "refused the sign-in" in result.stderr.decode()
    assert b"Traceback" not in result.stderr


@pytest.mark.parametrize("code, words", [(4, "bad user name or password"),
                                         (5, "not authorized")])
def test_connack_refusals_exit_3_with_the_reason(code, words):
    def script(peer):
        peer.expect(Connect)
        peer.send(ConnAck(code))

    peer = ScriptedPeer(script)
    result = run_coinsuper(["depth", "BTC_USD", "--url", peer.url])
    peer.close()
    assert result.returncode == 3
    assert result.stderr.decode() == (
        f"coinsuper: the broker refused the sign-in: CONNACK {code}: {words}\n")


def test_a_refused_subscription_exits_5():
    def script(peer):
        peer.expect(Connect)
        peer.send(ConnAck(0))
        sub = peer.expect(Subscribe)
        peer.send(SubAck(sub.packet_id, (0x80,)))

    peer = ScriptedPeer(script)
    result = run_coinsuper(["book", "ETH_BTC", "--step", "0.5", "--url", peer.url])
    peer.close()
    assert result.returncode == 5
    assert result.stderr.decode() == (
        "coinsuper: the broker refused the subscription to "
        "exchange_ha_prod_hk/api/ws/v1/market/orderBook/ETH_BTC/0.5\n")


def test_a_qos2_message_resent_with_dup_before_pubrel_is_printed_once():
    def script(peer):
        connect = peer.expect(Connect)
        assert connect.username == "api_subscriber"
        peer.send(ConnAck(0))
        sub = peer.expect(Subscribe)
        topic = sub.topics[0][0]
        peer.send(SubAck(sub.packet_id, (2,)))
        peer.send(Publish(topic, b"first", 2, packet_id=1))
        assert peer.expect(PubRec) == PubRec(1)
        peer.send(Publish(topic, b"first", 2, dup=True, packet_id=1))  # PUBREC was "lost"
        assert peer.expect(PubRec) == PubRec(1)
        peer.send(PubRel(1))
        assert peer.expect(PubComp) == PubComp(1)
        peer.send(Publish(topic, b"second", 2, packet_id=1))
        # --count is reached: the message is acknowledged, then a clean goodbye
        assert peer.expect(PubRec) == PubRec(1)
        peer.expect(Disconnect)

    peer = ScriptedPeer(script)
    result = run_coinsuper(["trades", "BTC_USD", "--url", peer.url, "--format", "raw",
                            "--count", "2", "--qos", "2"])
    peer.close()
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"first\nsecond\n"


def test_an_unreachable_broker_exits_4():
    result = run_coinsuper(["trades", "BTC_USD", "--url",
                            f"ws://127.0.0.1:{free_port()}/mqtt"])
    assert result.returncode == 4
    assert result.stderr.decode().startswith("coinsuper: could not connect to ")
    assert result.stderr.decode().count("\n") == 1


@pytest.mark.parametrize("args", [
    ["trades", "BTC_#"], ["trades", "BTC/USD/+"], ["depth", "BTC USD"], ["trades"],
    ["book", "BTC_USD", "--step", "0.01/#"], ["kline", "BTC_USD", "--interval", "2m"],
])
def test_malformed_arguments_exit_2_before_connecting(args):
    result = run_coinsuper(args + ["--url", "mqtt://127.0.0.1:9"])
    assert result.returncode == 2 and result.stdout == b""
    # One line, which names what is wrong.
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("coinsuper: Invalid value for ")


@pytest.mark.parametrize("command", ["assets", "orders", "fills", "account"])
def test_private_channels_without_credentials_exit_2(command):
    result = run_coinsuper([command, "--url", "mqtt://127.0.0.1:9"])
    assert result.returncode == 2
    assert result.stderr.decode() == (
        "coinsuper: private channels need credentials; missing --email / COINSUPER_EMAIL, "
        "--access-key / COINSUPER_ACCESS_KEY, --secret-key / COINSUPER_SECRET_KEY\n")


def test_private_sign_in_uses_the_access_key_and_a_signed_password():
    import hashlib

    seen = {}

    def script(peer):
        seen["connect"] = peer.expect(Connect)
        peer.send(ConnAck(5))

    peer = ScriptedPeer(script)
    result = run_coinsuper(["account", "--url", peer.url], env=PRIVATE_ENV)
    peer.close()
    assert result.returncode == 3
    connect = seen["connect"]
    assert (connect.client_id, connect.username) == ("AK", "api_private")
    email, timestamp, sign = connect.password.decode().split(",")
    assert email == "demo@example.com"
    assert abs(int(timestamp) - time.time() * 1000) < 60_000
    assert sign == hashlib.md5(f"AK,SK,demo@example.com,{timestamp}".encode()).hexdigest()
