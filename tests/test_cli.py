"""The Click layer in-process: help, aliases, `topics`, validation and the exit-code map."""
import hashlib

import pytest

from coinsuper_cli.cli.main import main
from coinsuper_cli.errors import (ConnectFailed, ExitStatus, Finished, SignInRefused,
                                  SubscriptionRefused, UsageError, exit_status)
from coinsuper_cli.mqtt.errors import ConnectionRefused, MalformedPacket


def md5(text):
    return hashlib.md5(text.encode()).hexdigest()


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def no_env(monkeypatch):
    for name in ("COINSUPER_URL", "COINSUPER_ENV", "COINSUPER_EMAIL", "COINSUPER_ACCESS_KEY",
                 "COINSUPER_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)


def test_topics_for_a_public_command_with_credentials(capsys):
    code, out, err = run(capsys, "topics", "book", "btc/usd", "eth_btc", "--email", "e@x.io",
                         "--access-key", "KEY")
    assert code == 0 and err == ""
    usd = "exchange_ha_prod_hk/api/ws/v1/market/orderBook/BTC_USD/0.01"
    btc = "exchange_ha_prod_hk/api/ws/v1/market/orderBook/ETH_BTC/0.00000001"
    assert out.count("connection ") == 2
    assert f"topic      {usd}" in out and f"topic      {btc}" in out
    assert md5("KEY") + md5("e@x.io") + md5(usd) in out
    assert "user name  api_subscriber" in out
    assert "url        wss://api-mqtt-premium.coinsuper.com:443/mqtt" in out


def test_topics_masks_private_secrets(capsys, monkeypatch):
    monkeypatch.setenv("COINSUPER_SECRET_KEY", "TOPSECRET")
    code, out, err = run(capsys, "topics", "account", "--email", "me@x.io", "--access-key",
                         "ACCESSKEY123456", "--env", "test_env")
    assert code == 0, err
    assert out.count("connection ") == 1
    for topic in ("test_env/api/ws/personal/v1/asset/change/me@x.io",
                  "test_env/ws/personal/v1/order/change/me@x.io",
                  "test_env/ws/personal/v1/trade/change/me@x.io"):
        assert f"topic      {topic}" in out
    assert "client id  ACCE…3456" in out
    assert "TOPSECRET" not in out and "ACCESSKEY123456" not in out
    password_line = next(line for line in out.splitlines() if "password" in line)
    email, timestamp, sign = password_line.split()[1].split(",")
    assert email == "me@x.io" and timestamp.isdigit() and "…" in sign


def test_topics_kline_alias_and_interval(capsys):
    code, out, _ = run(capsys, "topics", "candles", "ETH-BTC", "--interval", "1w")
    assert code == 0
    assert "exchange_ha_prod_hk/api/ws/v1/market/kline/ETH_BTC/604800000" in out


def test_topics_watch_uses_four_connections(capsys):
    code, out, _ = run(capsys, "topics", "watch", "BTC_USD")
    assert code == 0
    assert out.count("connection ") == 4
    assert "/market/tickers/BTC_USD" in out and "/market/depth/BTC_USD" in out


@pytest.mark.parametrize("command", ["topics", "replay", "export", "config", "sandbox",
                                     "completion", "", "\x1b[2J"])
def test_topics_refuses_non_streaming_commands(capsys, command):
    # replay and export once ran for real under `topics`, which refused only itself
    # and sandbox.
    code, out, err = run(capsys, "topics", command, "x", "--out", "/nonexistent/dir")
    assert code == 2 and "not a streaming command" in err and out == ""
    assert err.count("\n") == 1 and "\x1b" not in err


def test_a_bad_option_under_topics_points_at_the_command_that_takes_it(capsys):
    code, _, err = run(capsys, "topics", "orderbook", "BTC_USD", "--step", "")
    assert code == 2 and "(see 'coinsuper book --help')" in err


def test_secret_key_on_the_command_line_warns(capsys):
    code, out, err = run(capsys, "topics", "assets", "--email", "a@b.c", "--access-key", "K",
                         "--secret-key", "S3CR3T")
    assert code == 0
    assert "prefer COINSUPER_SECRET_KEY" in err and "S3CR3T" not in out + err


@pytest.mark.parametrize("alias, name", [("orderbook", "book"), ("candles", "kline"),
                                         ("tickers", "trades")])
def test_aliases_resolve(capsys, alias, name):
    code, out, _ = run(capsys, alias, "--help")
    assert code == 0 and f"Usage: coinsuper {name} " in out


def test_help_lists_every_command(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for name in ("depth", "book", "kline", "trades", "assets", "orders", "fills", "watch",
                 "account", "topics"):
        assert f"  {name} " in out


def test_bad_url_is_a_usage_error(capsys):
    code, _, err = run(capsys, "trades", "BTC_USD", "--url", "http://example.com")
    assert code == 2 and "unsupported broker URL" in err


def test_bad_env_is_a_usage_error(capsys):
    code, _, err = run(capsys, "trades", "BTC_USD", "--env", "prod/#")
    assert code == 2 and "malformed topic prefix" in err


def test_format_live_in_a_pipe_is_a_usage_error(capsys):
    code, _, err = run(capsys, "trades", "BTC_USD", "--format", "live")
    assert code == 2 and "needs a terminal" in err and err.count("\n") == 1


@pytest.mark.parametrize("error, status", [
    (Finished(), 0), (BrokenPipeError(), 0), (UsageError("x"), 2), (SignInRefused("x"), 3),
    (ConnectionRefused(5), 3), (ConnectFailed("x"), 4), (MalformedPacket("x"), 4),
    (SubscriptionRefused("x"), 5), (KeyboardInterrupt(), 130), (ZeroDivisionError(), 1),
])
def test_exit_status_map(error, status):
    assert exit_status(error) == status


def test_a_bug_exits_1_with_one_line_and_no_traceback(capsys, monkeypatch):
    import coinsuper_cli.cli.core as core

    def broken(*args, **kwargs):
        raise ZeroDivisionError("oops")

    monkeypatch.setattr(core, "stream", broken)
    code, _, err = run(capsys, "trades", "BTC_USD")
    assert code == ExitStatus.ERROR
    assert err.count("\n") == 1 and "Traceback" not in err and "a bug" in err
    code, _, err = run(capsys, "trades", "BTC_USD", "-v")
    assert code == 1 and "Traceback" in err


def test_ctrl_c_exits_130(capsys, monkeypatch):
    import coinsuper_cli.cli.core as core

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(core, "stream", interrupted)
    code, _, err = run(capsys, "trades", "BTC_USD")
    assert code == 130 and "Traceback" not in err


def test_python_dash_m_runs_the_same_cli():
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "coinsuper_cli", "topics", "trades",
                             "eth/btc"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "exchange_ha_prod_hk/api/ws/v1/market/tickers/ETH_BTC" in result.stdout


def test_start_up_imports_no_network_or_drawing_code():
    import subprocess
    import sys

    code = ("import sys, coinsuper_cli.cli.main; "
            "heavy = {'ssl', 'rich', 'websocket', 'coinsuper_cli.net.runner', 'coinsuper_cli.net.plans'}"
            " & set(sys.modules); assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_credentials_in_a_url_never_reach_messages(capsys):
    code, _, err = run(capsys, "trades", "BTC_USD", "--url", "http://user:hunter2@example.com")
    assert code == 2 and "hunter2" not in err and "***@example.com" in err


def test_topics_with_sandbox_shows_the_demo_account_without_starting_it(capsys):
    from coinsuper_cli.sandbox.account import demo_account

    account = demo_account(1)
    code, out, err = run(capsys, "topics", "account", "--sandbox")
    assert code == 0, err
    assert f"/ws/personal/v1/order/change/{account.email}" in out
    assert "url        ws://127.0.0.1:0/mqtt" in out
    assert account.secret_key not in out


CREDENTIALS = ["--email", "me@x.io", "--access-key", "AK", "--secret-key", "S"]


@pytest.mark.parametrize("args, option", [
    (["orders", "--email", "x/#", "--access-key", "AK", "--secret-key", "S"], "--email"),
    (["orders", "--email", "a b@x.io", "--access-key", "AK", "--secret-key", "S"], "--email"),
    (["trades", "BTC_USD", "--email", ""], "--email"),
    (["orders", "--access-key", "A K", "--email", "me@x.io", "--secret-key", "S"],
     "--access-key"),
    (["orders", *CREDENTIALS, "--secret-key", "a\x1b[2Jb"], "--secret-key"),
    (["trades", "BTC_USD", "--url", "ws://[::1"], "--url"),
    (["trades", "BTC_USD", "--url", ""], "--url"),
    (["trades", "BTC_USD", "--url", "ws://h:99999/mqtt"], "--url"),
    (["trades", "BTC_USD", "--url", "http://h/"], "--url"),
    (["trades", "BTC_USD", "--env", ""], "--env"),
    (["trades", "BTC_USD", "--env", "a/#"], "--env"),
    (["trades", "BTC_USD", "--env", "a\x00b"], "--env"),
    (["book", "BTC_USD", "--step", "0.01/#"], "--step"),
    (["kline", "BTC_USD", "--interval", "+"], "--interval"),
    (["trades", "BTC_USD", "--timeout", "nan"], "--timeout"),
    (["trades", "BTC_USD", "--stale-after", "inf"], "--stale-after"),
    (["trades", "BTC_+"], "SYMBOL"),
    (["sandbox", "--speed", "nan"], "--speed"),
])
def test_hostile_values_are_one_line_usage_errors_naming_the_option(capsys, args, option):
    code, out, err = run(capsys, *args, "--url", "mqtt://127.0.0.1:9") \
        if "--url" not in args and args[0] != "sandbox" else run(capsys, *args)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and option in err and "a bug" not in err, err


def test_a_cafile_without_a_certificate_is_a_usage_error(capsys, tmp_path):
    for text in ("", "hello", "-----BEGIN CERTIFICATE-----\nnot base64\n"):
        path = tmp_path / "ca.pem"
        path.write_text(text)
        code, _, err = run(capsys, "trades", "BTC_USD", "--cafile", str(path))
        assert code == 2 and err.count("\n") == 1 and "--cafile" in err, err


def test_a_secret_key_that_is_not_utf8_is_a_usage_error(capsys, monkeypatch):
    monkeypatch.setenv("COINSUPER_SECRET_KEY", b"s\xffs".decode("utf-8", "surrogateescape"))
    code, _, err = run(capsys, "orders", "--email", "me@x.io", "--access-key", "AK")
    assert code == 2 and err.count("\n") == 1 and "--secret-key" in err
    assert "not valid UTF-8" in err and "\udcff" not in err


def test_every_shared_option_is_a_field_of_the_options_values():
    from coinsuper_cli.cli.main import cli
    from coinsuper_cli.cli.offline import replay
    from coinsuper_cli.cli.options import OUTPUT_FIELDS, STREAM_FIELDS

    trades = cli.commands["trades"]
    # --config and --profile are not values a command gets: they fill in the others.
    names = {p.name for p in trades.params if p.expose_value} - {"symbols"}
    assert names == (set(STREAM_FIELDS) - {"output"}) | set(OUTPUT_FIELDS)
    assert set(OUTPUT_FIELDS) <= {p.name for p in replay.params}


def test_the_command_line_a_recording_keeps_has_no_secret():
    from coinsuper_cli.cli.main import public_command

    argv = ["orders", "--secret-key", "TOPSECRET", "--access-key", "ACCESSKEY123456",
            "--secret-key=TOPSECRET2", "--access-key=ACCESSKEY654321", "--url",
            "wss://user:hunter2@h/mqtt", "--email", "me@x.io"]
    public = " ".join(public_command(argv))
    for secret in ("TOPSECRET", "ACCESSKEY123456", "ACCESSKEY654321", "hunter2"):
        assert secret not in public
    assert "ACCE…3456" in public and "me@x.io" in public and "***@h" in public
