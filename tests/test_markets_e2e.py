"""`coinsuper markets` through the installed command against the sandbox: ticker and
alert records in a pipe, --only-alerts with --count and --timeout, the output options,
the plan, and every bad value as exit 2 with one line."""
import csv
import dataclasses
import io
import json
from decimal import Decimal

import pytest
from conftest import run_coinsuper

from coinsuper_cli.api.exchange import SANDBOX_MARKETS
from coinsuper_cli.api.records import Ticker
from coinsuper_cli.output.shape import keys

TICKER_KEYS = ["channel", "recv", "symbol", "ts", "last", "open", "high", "low", "volume",
               "change", "change_pct", "bid", "ask", "spread"]


def records(result) -> list[dict]:
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_the_sandbox_board_has_a_ticker_for_every_market_it_runs():
    found = records(run_coinsuper(["markets", "--sandbox", "--count", "40",
                                   "--format", "jsonl"]))
    assert {r["symbol"] for r in found} == set(SANDBOX_MARKETS)
    assert all(list(r) == TICKER_KEYS and r["channel"] == "ticker" for r in found)
    for r in found:  # a ticker comes once both the day candle and the depth have
        spread = Decimal(r["ask"]) - Decimal(r["bid"])
        assert Decimal(r["spread"]) == spread and isinstance(r["spread"], str)


def test_an_alert_that_holds_is_one_record_and_exit_0():
    result = run_coinsuper(["markets", "BTC_USD", "--sandbox", "--alert", "BTC_USD>0",
                            "--only-alerts", "--count", "1"])
    [alert] = records(result)
    assert list(alert) == ["channel", "recv", "symbol", "rule", "value"]
    assert alert["channel"] == "alert" and alert["rule"] == "BTC_USD>0"
    assert float(alert["value"]) > 0 and result.stderr == b""


def test_an_alert_that_never_fires_is_exit_6_on_timeout():
    result = run_coinsuper(["markets", "BTC_USD", "--sandbox", "--alert",
                            "BTC_USD>99999999", "--only-alerts", "--count", "1",
                            "--timeout", "3"])
    assert result.returncode == 6 and result.stdout == b""
    assert b"--timeout 3 passed after 0 of --count 1" in result.stderr


def test_tickers_and_alerts_mix_in_jsonl_alerts_after_their_ticker():
    found = records(run_coinsuper(["markets", "BTC_USD", "ETH_BTC", "--sandbox", "--alert",
                                   "ETH_BTC>0", "--count", "6", "--format", "jsonl"]))
    channels = [r["channel"] for r in found]
    assert channels.count("alert") == 1
    alert = channels.index("alert")
    assert found[alert - 1]["channel"] == "ticker" and found[alert - 1]["symbol"] == "ETH_BTC"
    assert found[alert]["value"] == found[alert - 1]["last"]


def test_csv_fields_and_template_work_for_tickers():
    table = run_coinsuper(["markets", "BTC_USD", "--sandbox", "--count", "2", "--format",
                           "csv"])
    assert table.returncode == 0, table.stderr
    rows = list(csv.reader(io.StringIO(table.stdout.decode())))
    assert rows[0] == list(keys("ticker")) == TICKER_KEYS
    assert all(len(row) == len(TICKER_KEYS) and row[2] == "BTC_USD" for row in rows[1:])
    fields = records(run_coinsuper(["markets", "BTC_USD", "--sandbox", "--count", "1",
                                    "--fields", "symbol,last,change_pct"]))
    assert list(fields[0]) == ["symbol", "last", "change_pct"]
    line = run_coinsuper(["markets", "BTC_USD", "--sandbox", "--count", "1", "--template",
                          "{symbol} {last} {change_pct}%"])
    assert line.returncode == 0 and line.stdout.decode().startswith("BTC_USD ")


def test_the_plan_is_a_day_candle_and_depth_a_market():
    result = run_coinsuper(["topics", "markets", "BTC_USD", "ETH_BTC"])
    assert result.returncode == 0, result.stderr
    topics = [line.split()[-1] for line in result.stdout.decode().splitlines()
              if line.strip().startswith("topic")]
    assert topics == [
        "exchange_ha_prod_hk/api/ws/v1/market/kline/BTC_USD/86400000",
        "exchange_ha_prod_hk/api/ws/v1/market/kline/ETH_BTC/86400000",
        "exchange_ha_prod_hk/api/ws/v1/market/depth/BTC_USD",
        "exchange_ha_prod_hk/api/ws/v1/market/depth/ETH_BTC"]


@pytest.mark.parametrize("args, says", [
    (["--alert", "BTC_USD>>1"], "--alert"),
    (["--alert", "BTC_USD>1e9"], "--alert"),
    (["--alert", ""], "--alert"),
    (["--alert", "BTC_USD>\x1b[2J"], "--alert"),
    (["--alert", "XRP_BTC>1"], "not on the board"),
    (["--only-alerts"], "--only-alerts: there is no alert"),
    (["--format", "raw"], "--format raw does not apply to the markets board"),
    (["--quote", "U/SD"], "--quote"),
    (["--quote", ""], "--quote"),
    (["--alert", "BTC_USD>1", "--format", "csv"], "add --only-alerts, or use jsonl"),
    (["--fields", "symbol,nope"], "--fields: no key 'nope'"),
    (["BTC/USD/X"], "malformed symbol"),
])
def test_bad_values_are_exit_2_with_one_line(args, says):
    result = run_coinsuper(["markets", "BTC_USD", "--sandbox", "--count", "1", *args])
    err = result.stderr.decode()
    assert result.returncode == 2, err
    assert says in err and err.count("\n") == 1 and "\x1b" not in err
    assert "Traceback" not in err


def test_the_ticker_record_keys_are_the_contracts():
    assert [f.name for f in dataclasses.fields(Ticker)] == TICKER_KEYS[2:]


def test_a_recording_of_markets_replays_byte_for_byte_into_the_board(tmp_path):
    path = tmp_path / "markets.jsonl.gz"
    args = ["--alert", "ETH_BTC>0", "--format", "jsonl"]
    live = run_coinsuper(["markets", "--sandbox", "--count", "12", "--record", str(path),
                          *args])
    assert live.returncode == 0, live.stderr
    replayed = run_coinsuper(["replay", str(path), "--markets", *args])
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout == live.stdout and b'"channel":"alert"' in live.stdout
    alerts = run_coinsuper(["replay", str(path), "--markets", "--alert", "ETH_BTC>0",
                            "--only-alerts"])
    assert [r["channel"] for r in records(alerts)] == ["alert"]
    # without --markets, the day candles and the depth as recorded
    plain = records(run_coinsuper(["replay", str(path), "--format", "jsonl"]))
    assert {r["channel"] for r in plain} == {"kline", "depth"}


@pytest.mark.parametrize("args, says", [
    (["--alert", "BTC_USD>1"], "--alert: goes with --markets"),
    (["--only-alerts"], "--only-alerts: goes with --markets"),
    (["--markets", "--channel", "trade"], "leave out --channel"),
    (["--markets", "--format", "raw"], "--format raw does not apply to the markets board"),
    (["--markets", "--alert", "BTC_USD>>1"], "--alert"),
])
def test_replay_markets_refuses_what_does_not_apply(tmp_path, args, says):
    path = tmp_path / "r.jsonl"
    path.write_text('{"recv_ns": 1, "event": "start", "format": 1}\n')
    result = run_coinsuper(["replay", str(path), *args])
    err = result.stderr.decode()
    assert result.returncode == 2 and says in err and err.count("\n") == 1, err


def test_a_number_out_of_any_markets_range_is_skipped_with_a_line_not_a_bug(mosquitto):
    """A broker's kline with a last of 1 and 40 zeros, or 1e-999999: the board's ratios
    would overflow; the push is skipped as any unreadable payload is, and the board goes
    on."""
    from conftest import SAMPLES, Streamer, read_until

    env = "exchange_ha_prod_hk/api/ws/v1/market/"
    streamer = Streamer(["markets", "BTC_USD", "--url", mosquitto.tcp_url, "--count", "1",
                         "--format", "jsonl"])
    for _ in range(2):  # the day candle's connection and the depth's
        read_until(streamer.process, streamer.process.stderr, b"subscribed (granted", 10)
    good = (SAMPLES / "kline.json").read_bytes()
    mosquitto.publish(env + "depth/BTC_USD", (SAMPLES / "depth.json").read_bytes())
    for hostile in (good.replace(b'"6616.45"', b'"1' + b"0" * 40 + b'"'),
                    good.replace(b'"6616.40"', b"1e-999999", 1)):
        mosquitto.publish(env + "kline/BTC_USD/86400000", hostile)
    mosquitto.publish(env + "kline/BTC_USD/86400000", good)
    code, out, err = streamer.finish()
    assert code == 0, err
    assert json.loads(out)["last"] == "6616.45"
    assert err.count("out of any market's range") == 2 and "a bug" not in err
