"""Real servers failing under a running `coinsuper`: the sandbox killed and restarted,
mosquitto stopped and started; and TLS verified against a test certificate authority."""
import json
import signal
import subprocess
import threading
import time

import pytest
from conftest import Mosquitto, clean_env, coinsuper_command, read_until, run_coinsuper, \
    sandbox_env, start_sandbox, stop_sandbox, wait_until
from loopback import free_port, stop_process


def read_lines(stream, into: list) -> threading.Thread:
    """Appends (monotonic time, line) for each line of `stream`, in a thread."""
    def pump():
        for line in iter(stream.readline, b""):
            into.append((time.monotonic(), line))
    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("command", [["depth", "BTC_USD"], ["account"]])
def test_streams_resume_when_the_sandbox_is_killed_and_restarted(command):
    ports = ["--ws-port", str(free_port()), "--tcp-port", str(free_port()), "--speed", "4"]
    sandbox, exports = start_sandbox(*ports)
    client = subprocess.Popen(coinsuper_command() + command + ["-v"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=sandbox_env(exports))
    lines: list = []
    log: list = []
    read_lines(client.stdout, lines)
    log_reader = read_lines(client.stderr, log)
    try:
        wait_until(lambda: len(lines) >= 2, 15, "records before the kill")
        sandbox.kill()  # no goodbye: the client sees the socket die
        sandbox.wait()
        killed_at = time.monotonic()
        wait_until(lambda: any(b"reconnecting in" in line for _, line in log), 10,
                   "the client to notice")
        sandbox, _ = start_sandbox(*ports)
        wait_until(lambda: sum(t > killed_at for t, _ in lines) >= 2, 20,
                   "records after the restart")
    finally:
        stop_process(client, signal.SIGINT, timeout=10)
        stop_sandbox(sandbox)
    log_reader.join(timeout=5)
    err = b"".join(line for _, line in log).decode()
    assert client.returncode == 130
    assert "Traceback" not in err
    assert all(json.loads(line)["channel"] for _, line in lines)


@pytest.mark.parametrize("qos", [1, 2])
def test_a_mosquitto_restart_prints_each_delivered_message_once(tmp_path, qos):
    import paho.mqtt.client as mqtt

    broker = Mosquitto(tmp_path)
    topic = "exchange_ha_prod_hk/api/ws/v1/market/tickers/BTC_USD"
    client = subprocess.Popen(
        coinsuper_command() + ["trades", "BTC_USD", "--url", broker.ws_url, "--qos", str(qos),
                               "--format", "raw", "-v"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env())
    lines: list = []
    try:
        read_until(client, client.stderr, b"subscribed")
        read_lines(client.stdout, lines)
        publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        publisher.reconnect_delay_set(0.1, 0.5)
        publisher.connect("127.0.0.1", broker.tcp_port)
        publisher.loop_start()
        # Paced, so that messages go out before, during and after the restart, while
        # both the publisher and coinsuper reconnect: the scenario, not a wait.
        for i in range(300):
            publisher.publish(topic, str(i).encode(), qos=qos)
            if i == 100:
                broker.stop()
                broker.start()
            time.sleep(0.01)
        wait_until(lambda: lines and lines[-1][1].split()[-1] == b"299", 15, "the last message")
        publisher.loop_stop()
    finally:
        stop_process(client, signal.SIGINT, timeout=10)
        broker.stop()
    seen = [int(line.split()[-1]) for _, line in lines]  # -v: "topic payload"
    assert seen == sorted(set(seen)), "a message was printed twice or out of order"
    assert seen[0] == 0 and seen[-1] == 299
    assert any(n < 100 for n in seen) and sum(n > 150 for n in seen) > 100
    assert client.returncode == 130  # streaming until Ctrl-C, through the restart
    assert b"reconnecting in" in client.stderr.read()


@pytest.fixture(scope="module")
def tls_sandbox(tmp_path_factory):
    trustme = pytest.importorskip("trustme")
    directory = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_and_cert_chain_pem.write_to_path(str(directory / "server.pem"))
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    sandbox, exports = start_sandbox("--ws-port", "0", "--tcp-port", "0", "--certfile",
                                     str(directory / "server.pem"))
    yield exports, str(directory / "ca.pem")
    stop_sandbox(sandbox)


def test_tls_with_an_unknown_authority_is_refused_with_exit_4(tls_sandbox):
    exports, _ = tls_sandbox
    assert exports["COINSUPER_URL"].startswith("wss://")
    for url in (exports["COINSUPER_URL"], exports["tcp_url"]):
        result = run_coinsuper(["trades", "BTC_USD", "--url", url])
        assert result.returncode == 4
        err = result.stderr.decode()
        assert err.startswith("coinsuper: could not connect to ")
        assert "TLS certificate not trusted" in err and "--cafile" in err
        assert err.count("\n") == 1


def test_tls_with_cafile_works_over_wss_and_mqtts(tls_sandbox):
    exports, ca = tls_sandbox
    for url in (exports["COINSUPER_URL"], exports["tcp_url"]):
        result = run_coinsuper(["depth", "ETH_BTC", "--url", url, "--cafile", ca, "--count", "1"])
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["symbol"] == "ETH_BTC"
        assert result.stderr == b""


def test_insecure_works_and_warns_every_run(tls_sandbox):
    exports, _ = tls_sandbox
    for _ in range(2):
        result = run_coinsuper(["depth", "BTC_USD", "--url", exports["COINSUPER_URL"],
                                "--insecure", "--count", "1"])
        assert result.returncode == 0, result.stderr
        assert result.stderr.decode() == (
            "coinsuper: --insecure: TLS certificates are not verified\n")


def test_secrets_never_appear_in_output_or_logs(tls_sandbox):
    exports, ca = tls_sandbox
    env = sandbox_env(exports)
    result = run_coinsuper(["account", "--cafile", ca, "--count", "3", "-v"], env=env)
    assert result.returncode == 0, result.stderr
    secret = exports["COINSUPER_SECRET_KEY"].encode()
    assert secret not in result.stdout + result.stderr
    topics = run_coinsuper(["topics", "account"], env=env)
    assert secret not in topics.stdout + topics.stderr
    assert exports["COINSUPER_ACCESS_KEY"].encode() not in topics.stdout
