"""End to end: the installed `coinsuper` command against the sandbox, both a separately
started `coinsuper sandbox` and the in-process `--sandbox`, for every channel."""
import json
import re
import signal
import subprocess
import time
from decimal import Decimal

import pytest
from conftest import clean_env, coinsuper_command, read_until, run_coinsuper, sandbox_env, \
    start_sandbox, stop_sandbox

COMMANDS = {
    "depth": (["depth", "BTC_USD"], "depth"),
    "book": (["book", "ETH_BTC"], "book"),
    "kline": (["kline", "ETH_USD", "--interval", "5m"], "kline"),
    "trades": (["trades", "BTC_USD"], "trade"),
    "assets": (["assets"], "asset"),
    "orders": (["orders"], "order"),
    "fills": (["fills"], "fill"),
}


@pytest.fixture(scope="module")
def sandbox():
    """`coinsuper sandbox` on free ports, at 5x speed; yields its printed exports."""
    process, exports = start_sandbox("--ws-port", "0", "--tcp-port", "0", "--speed", "5",
                                     "--seed", "7")
    yield exports
    stop_sandbox(process)


def records(stdout: bytes) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_the_sandbox_prints_paste_ready_exports(sandbox):
    assert re.fullmatch(r"ws://127\.0\.0\.1:\d+/mqtt", sandbox["COINSUPER_URL"])
    assert "@" in sandbox["COINSUPER_EMAIL"]
    assert re.fullmatch(r"[0-9a-f]{32}", sandbox["COINSUPER_ACCESS_KEY"])
    assert re.fullmatch(r"[0-9a-f]{32}", sandbox["COINSUPER_SECRET_KEY"])


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_channel_streams_from_a_separate_sandbox(sandbox, name):
    args, channel = COMMANDS[name]
    env = sandbox_env(sandbox)
    result = run_coinsuper(args + ["--count", "3", "--qos", str(len(name) % 3)], env=env)
    assert result.returncode == 0, result.stderr
    lines = records(result.stdout)
    assert len(lines) == 3 and {line["channel"] for line in lines} == {channel}


@pytest.mark.parametrize("name", ["trades", "fills"])
def test_mqtt_over_tcp_works_too(sandbox, name):
    args, channel = COMMANDS[name]
    env = sandbox_env(sandbox)
    result = run_coinsuper(args + ["--count", "2", "--url", sandbox["tcp_url"]], env=env)
    assert result.returncode == 0, result.stderr
    assert [line["channel"] for line in records(result.stdout)] == [channel, channel]


def test_a_wrong_secret_is_refused_with_exit_3(sandbox):
    env = sandbox_env(sandbox)
    env["COINSUPER_SECRET_KEY"] = "0" * 32
    result = run_coinsuper(["orders"], env=env)
    assert result.returncode == 3
    assert result.stderr.decode() == (
        "coinsuper: the broker refused the sign-in: CONNACK 5: not authorized\n")


def test_another_emails_topics_are_refused_with_exit_5(sandbox):
    env = sandbox_env(sandbox)
    result = run_coinsuper(["book", "BTC_USD", "--step", "0.5"], env=env)
    assert result.returncode == 5, result.stderr
    assert "refused the subscription" in result.stderr.decode()


@pytest.mark.serial
@pytest.mark.parametrize("name", list(COMMANDS))
def test_in_process_sandbox_first_record_within_two_seconds(name):
    args, channel = COMMANDS[name]
    started = time.monotonic()
    process = subprocess.Popen(coinsuper_command() + args + ["--sandbox"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env())
    try:
        first = read_until(process, process.stdout, b"\n", timeout=10)[0]
        elapsed = time.monotonic() - started
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=10)
    assert json.loads(first)["channel"] == channel, err
    assert elapsed < 2.0, f"first record after {elapsed:.2f} s"
    assert process.returncode == 130 and b"Traceback" not in err


def test_the_readme_pipeline_prints_twenty_trades():
    shell = subprocess.run(
        ["bash", "-c", '"$@" | jq -c .; exit "${PIPESTATUS[0]}"', "_", *coinsuper_command(),
         "trades", "BTC_USD", "--sandbox", "--count", "20"],
        capture_output=True, timeout=60, env=clean_env())
    assert shell.returncode == 0, shell.stderr
    trades = records(shell.stdout)
    assert len(trades) == 20
    assert all(t["channel"] == "trade" and t["symbol"] == "BTC_USD" for t in trades)
    assert [t["ts"] for t in trades] == sorted(t["ts"] for t in trades)  # oldest first
    assert len({json.dumps(t, sort_keys=True) for t in trades}) == 20  # each trade once


def test_account_channels_agree_on_a_fill(sandbox):
    """A fill, its order and its balances arrive together and agree."""
    # The separate sandbox runs at 5x: 40 records take under 2 s, not 8 as with --sandbox.
    result = run_coinsuper(["account", "--count", "40"], env=sandbox_env(sandbox), timeout=60)
    assert result.returncode == 0, result.stderr
    lines = records(result.stdout)
    # each fill is pushed before its order and balances: skip one cut off by --count
    fills = [r for r in lines[:-3] if r["channel"] == "fill"]
    orders = {r["order_no"]: r for r in lines if r["channel"] == "order"}
    assets = [r for r in lines if r["channel"] == "asset"]
    assert fills and orders and assets
    for fill in fills:
        assert fill["order_no"] in orders
        assert fill["side"] == orders[fill["order_no"]]["side"]
    for asset in assets:
        assert Decimal(asset["available"]) <= Decimal(asset["total"])
        assert re.fullmatch(r"\d+\.\d{30}", asset["total"])
