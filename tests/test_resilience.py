"""Real servers failing under a running `coinsuper`: the sandbox killed and restarted,
mosquitto stopped and started; and TLS verified against a test certificate authority."""
import json
import re
import signal
import subprocess
import threading
import time

import pytest
from conftest import Mosquitto, clean_env, coinsuper_command, free_port, run_coinsuper, \
    wait_for_port


def start_sandbox(*args: str) -> tuple[subprocess.Popen, dict[str, str]]:
    process = subprocess.Popen(coinsuper_command() + ["sandbox", *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=clean_env())
    exports, banner = {}, ""
    while len(exports) < 4:
        line = process.stdout.readline()
        assert line, process.stderr.read()
        banner += line
        if match := re.fullmatch(r"export (COINSUPER_\w+)=(\S+)\n", line):
            exports[match[1]] = match[2]
    exports["tcp_url"] = re.search(r"mqtts?://127\.0\.0\.1:\d+", banner)[0]
    return process, exports


def stop(process: subprocess.Popen, sig=signal.SIGINT) -> None:
    process.send_signal(sig)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def read_lines(stream, into: list, stop_at: int | None = None) -> threading.Thread:
    def pump():
        for line in iter(stream.readline, b""):
            into.append((time.monotonic(), line))
    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    return thread


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.parametrize("command", [["depth", "BTC_USD"], ["account"]])
def test_streams_resume_when_the_sandbox_is_killed_and_restarted(command):
    ports = ["--ws-port", str(free_port()), "--tcp-port", str(free_port()), "--speed", "4"]
    sandbox, exports = start_sandbox(*ports)
    env = clean_env(**{k: v for k, v in exports.items() if k.startswith("COINSUPER_")})
    client = subprocess.Popen(coinsuper_command() + command + ["-v"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=env)
    lines: list = []
    read_lines(client.stdout, lines)
    try:
        wait_until(lambda: len(lines) >= 2, 15, "records before the kill")
        sandbox.kill()  # no goodbye: the client sees the socket die
        sandbox.wait()
        killed_at = time.monotonic()
        time.sleep(0.5)
        sandbox, _ = start_sandbox(*ports)
        wait_until(lambda: sum(t > killed_at for t, _ in lines) >= 2, 20,
                   "records after the restart")
    finally:
        stop(client)
        stop(sandbox)
    err = client.stderr.read().decode()
    assert client.returncode == 130
    assert "reconnecting in" in err and "Traceback" not in err
    assert all(json.loads(line)["channel"] for _, line in lines)


@pytest.mark.parametrize("qos", [1, 2])
def test_a_mosquitto_restart_prints_each_delivered_message_once(tmp_path, qos):
    import paho.mqtt.client as mqtt

    broker = Mosquitto(tmp_path)
    topic = "exchange_ha_prod_hk/api/ws/v1/market/tickers/BTC_USD"
    client = subprocess.Popen(
        coinsuper_command() + ["trades", "BTC_USD", "--url", broker.ws_url, "--qos", str(qos),
                               "--format", "raw", "--timeout", "6", "-v"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env())
    lines: list = []
    try:
        while b"subscribed" not in client.stderr.readline():
            pass
        read_lines(client.stdout, lines)
        publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        publisher.reconnect_delay_set(0.1, 0.5)
        publisher.connect("127.0.0.1", broker.tcp_port)
        publisher.loop_start()
        for i in range(300):
            publisher.publish(topic, str(i).encode(), qos=qos)
            if i == 100:
                broker.stop()
                broker.start()
            time.sleep(0.01)
        wait_until(lambda: len(lines) and int(lines[-1][1].split()[-1]) >= 250, 15, "late messages")
        publisher.loop_stop()
        client.wait(timeout=15)
    finally:
        client.kill()
        broker.stop()
    seen = [int(line.split()[-1]) for _, line in lines]  # -v: "topic payload"
    assert seen == sorted(set(seen)), "a message was printed twice or out of order"
    assert seen[0] == 0 and seen[-1] == 299
    assert any(n < 100 for n in seen) and sum(n > 150 for n in seen) > 100
    assert client.returncode == 0
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
    stop(sandbox)


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
    env = clean_env(**{k: v for k, v in exports.items() if k.startswith("COINSUPER_")})
    result = run_coinsuper(["account", "--cafile", ca, "--count", "3", "-v"], env=env)
    assert result.returncode == 0, result.stderr
    secret = exports["COINSUPER_SECRET_KEY"].encode()
    assert secret not in result.stdout + result.stderr
    topics = run_coinsuper(["topics", "account"], env=env)
    assert secret not in topics.stdout + topics.stderr
    assert exports["COINSUPER_ACCESS_KEY"].encode() not in topics.stdout
