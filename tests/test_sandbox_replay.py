"""`coinsuper sandbox --replay`: a recording served over the exchange's protocol, byte for
byte, to mosquitto_sub over TCP, to paho-mqtt and to coinsuper itself over WebSocket;
private topics on the demo account's email."""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from conftest import run_coinsuper, sandbox_env, start_sandbox, stop_sandbox
from loopback import free_port

from coinsuper_cli.api.exchange import PUBLIC_PASSWORD, PUBLIC_USERNAME
from coinsuper_cli.recordings.reader import read_lines
from coinsuper_cli.sandbox.replayer import private_topic

TRADES = "exchange_ha_prod_hk/api/ws/v1/market/tickers/BTC_USD"


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    path = tmp_path_factory.mktemp("rec") / "trades.jsonl.gz"
    result = run_coinsuper(["trades", "BTC_USD", "ETH_USD", "--sandbox", "--timeout", "4",
                            "--format", "jsonl", "--record", str(path)], timeout=30)
    assert result.returncode == 0, result.stderr
    return path


def recorded_payloads(path, topic: str) -> list[bytes]:
    lines = [json.loads(line) for line in read_lines(str(path))]
    return [line["payload"].encode() for line in lines if line.get("topic") == topic]


def serve(path, *args: str):
    ports = ["--ws-port", str(free_port()), "--tcp-port", str(free_port())]
    return start_sandbox("--replay", str(path), *ports, *args)


def test_private_topics_move_to_the_demo_accounts_email():
    topic = "env/ws/personal/v1/order/change/someone@else.io"
    assert private_topic(topic, "demo@x.io") == "env/ws/personal/v1/order/change/demo@x.io"
    assert private_topic(TRADES, "demo@x.io") == TRADES


def test_mosquitto_sub_gets_the_recorded_payloads_byte_for_byte(recording):
    if not shutil.which("mosquitto_sub"):
        pytest.fail("mosquitto_sub is not installed (.ci/run installs mosquitto-clients)")
    expected = recorded_payloads(recording, TRADES)
    assert len(expected) >= 2
    sandbox, exports = serve(recording, "--speed", "4", "--loop")
    try:
        host_port = exports["tcp_url"].removeprefix("mqtt://")
        host, port = host_port.rsplit(":", 1)
        result = subprocess.run(
            ["mosquitto_sub", "-h", host, "-p", port, "-V", "mqttv311", "-u",
             PUBLIC_USERNAME, "-P", PUBLIC_PASSWORD, "-i", "0" * 96, "-t", TRADES,
             "-C", str(len(expected) + 1), "-W", "20"],
            capture_output=True, timeout=30)
    finally:
        stop_sandbox(sandbox)
    got = result.stdout.split(b"\n")[:-1]
    assert result.returncode == 0, result.stderr
    # The first is the latest payload at once (as the simulation does), then the
    # recording in order, from wherever it had got to.
    assert all(payload in expected for payload in got)
    start = expected.index(got[1])
    assert got[1:] == (expected * 3)[start:start + len(got) - 1]


def test_coinsuper_over_websocket_prints_what_the_recording_run_printed(recording,
                                                                        tmp_path):
    original = run_coinsuper(["replay", str(recording), "--format", "jsonl",
                              "--symbol", "ETH_USD"])
    sandbox, exports = serve(recording, "--speed", "2")
    try:
        result = run_coinsuper(["trades", "ETH_USD", "--format", "raw", "--count",
                                "2"], env=sandbox_env(exports), timeout=30)
    finally:
        stop_sandbox(sandbox)
    assert result.returncode == 0, result.stderr
    payloads = recorded_payloads(recording, TRADES.replace("BTC_USD", "ETH_USD"))
    assert all(line in payloads for line in result.stdout.splitlines())
    assert original.returncode == 0 and original.stdout.count(b"\n") >= 1


def test_a_private_recording_is_served_to_the_demo_account(tmp_path):
    path = tmp_path / "account.jsonl"
    recorded = run_coinsuper(["account", "--sandbox", "--timeout", "4", "--format", "raw",
                              "--record", str(path)], timeout=30)
    assert recorded.returncode == 0 and recorded.stdout.count(b"\n") >= 1
    sandbox, exports = serve(path, "--speed", "4", "--loop", "--seed", "5")
    try:
        result = run_coinsuper(["account", "--format", "raw", "--count", "1"],
                               env=sandbox_env(exports), timeout=30)
    finally:
        stop_sandbox(sandbox)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] in recorded.stdout.splitlines()


def test_replay_arguments_are_checked_before_listening():
    for args in (["--replay", "/no/such/file.jsonl"], ["--loop"]):
        result = run_coinsuper(["sandbox", *args, "--ws-port", "0", "--tcp-port", "0"])
        assert result.returncode == 2 and result.stderr.count(b"\n") == 1, result.stderr


def test_paho_mqtt_over_websocket_gets_the_recorded_payloads_byte_for_byte(recording):
    import threading

    import paho.mqtt.client as mqtt

    expected = recorded_payloads(recording, TRADES)
    sandbox, exports = serve(recording, "--speed", "4", "--loop")
    got: list[bytes] = []
    done = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="0" * 96,
                         transport="websockets", protocol=mqtt.MQTTv311)
    client.username_pw_set(PUBLIC_USERNAME, PUBLIC_PASSWORD)
    client.ws_set_options(path="/mqtt")

    def on_message(client, userdata, message):
        got.append(message.payload)
        if len(got) > len(expected):
            done.set()

    client.on_connect = lambda c, *args: c.subscribe(TRADES, qos=1)
    client.on_message = on_message
    try:
        host, port = exports["COINSUPER_URL"].removeprefix("ws://").split("/")[0].split(":")
        client.connect(host, int(port))
        client.loop_start()
        assert done.wait(30), f"{len(got)} of {len(expected) + 1} messages"
    finally:
        client.loop_stop()
        client.disconnect()
        stop_sandbox(sandbox)
    assert all(payload in expected for payload in got)
    start = expected.index(got[1])
    assert got[1:] == (expected * 3)[start:start + len(got) - 1]
