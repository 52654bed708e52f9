"""Output for scripts through the installed command against the sandbox: csv and tsv of
every channel read back to the jsonl values, --since now, exit 6, bad values, and the
README's "Scripting" recipes as written."""
import csv
import io
import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
from test_scripting import as_rows
from conftest import clean_env, coinsuper_command, start_sandbox, stop_sandbox

README = Path(__file__).resolve().parent.parent / "README.md"
UNREACHABLE = ["--url", "mqtt://127.0.0.1:1"]  # a check that came after connecting: exit 4


def coinsuper(*args, timeout=60, cwd=None):
    return subprocess.run(coinsuper_command() + list(args), capture_output=True,
                          timeout=timeout, env=clean_env(), cwd=cwd)


def read_table(data: bytes, delimiter=","):
    return list(csv.reader(io.StringIO(data.decode()), delimiter=delimiter))


def test_trades_as_csv_is_a_header_and_count_rows():
    done = coinsuper("trades", "BTC_USD", "--sandbox", "--count", "20", "--format", "csv")
    assert done.returncode == 0, done.stderr
    rows = read_table(done.stdout)
    assert rows[0] == ["channel", "recv", "symbol", "ts", "price", "qty", "side"]
    assert len(rows) == 21 and all(row[0] == "trade" and len(row) == 7 for row in rows[1:])


def test_one_book_as_tsv_is_fifteen_levels_a_side():
    done = coinsuper("book", "BTC_USD", "--sandbox", "--count", "1", "--format", "tsv")
    assert done.returncode == 0, done.stderr
    rows = read_table(done.stdout, "\t")
    assert len(rows) == 31
    assert [row[5] for row in rows[1:]] == ["ask"] * 15 + ["bid"] * 15
    assert [int(row[6]) for row in rows[1:16]] == list(range(15))


def test_since_now_skips_the_backlog_and_waits_for_new_trades():
    start = time.time_ns() // 1_000_000
    plain = coinsuper("trades", "BTC_USD", "--sandbox", "--count", "3", "--format", "jsonl")
    assert any(json.loads(line)["ts"] < start for line in plain.stdout.splitlines()), \
        "the first push repeats trades from before the start"
    start = time.time_ns() // 1_000_000
    done = coinsuper("trades", "BTC_USD", "--sandbox", "--since", "now", "--count", "3",
                     "--format", "jsonl")
    assert done.returncode == 0, done.stderr
    stamps = [json.loads(line)["ts"] for line in done.stdout.splitlines()]
    assert len(stamps) == 3 and all(ts >= start for ts in stamps)


def test_a_timeout_before_the_count_is_exit_6_and_what_came_was_printed():
    done = coinsuper("trades", "BTC_USD", "--sandbox", "--count", "100000", "--timeout", "3")
    assert done.returncode == 6
    printed = done.stdout.splitlines()
    assert printed and all(json.loads(line)["channel"] == "trade" for line in printed)
    assert done.stderr.decode().splitlines() == [
        f"coinsuper: --timeout 3 passed after {len(printed)} of --count 100000 records"]
    done = coinsuper("trades", "BTC_USD", "--sandbox", "--timeout", "0.5")
    assert done.returncode == 0 and done.stderr == b""


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    """A recording of every channel, public and private, from a sandbox running 20
    times faster than the exchange."""
    folder = tmp_path_factory.mktemp("scripting")
    sandbox, exports = start_sandbox("--ws-port", "0", "--tcp-port", "0", "--speed", "20")
    try:
        for name, args in (("public", ["watch", "BTC_USD", "--count", "60"]),
                           ("private", ["account", "--count", "15"])):
            done = subprocess.run(
                coinsuper_command() + args + ["--timeout", "30", "--format", "raw",
                                              "--record", str(folder / f"{name}.jsonl")],
                capture_output=True, timeout=60, env=clean_env(**exports))
            assert done.returncode == 0, done.stderr
    finally:
        stop_sandbox(sandbox)
    return folder


CHANNELS = [("public", "depth"), ("public", "book"), ("public", "kline"),
            ("public", "trade"), ("private", "asset"), ("private", "order"),
            ("private", "fill")]


@pytest.mark.parametrize("recording, channel", CHANNELS)
def test_csv_and_tsv_of_every_channel_read_back_to_the_jsonl_values(recordings, recording,
                                                                     channel):
    path = str(recordings / f"{recording}.jsonl")
    replay = ("replay", path, "--channel", channel, "--speed", "max")
    jsonl = [json.loads(line) for line in coinsuper(*replay, "--format", "jsonl")
             .stdout.splitlines()]
    assert jsonl, f"the recording holds no {channel}"
    expected = as_rows(jsonl)
    for fmt, delimiter in (("csv", ","), ("tsv", "\t")):
        done = coinsuper(*replay, "--format", fmt)
        assert done.returncode == 0, done.stderr
        rows = read_table(done.stdout, delimiter)
        assert rows[1:] == expected, fmt


def test_replay_refuses_csv_of_a_recording_of_several_channels(recordings):
    done = coinsuper("replay", str(recordings / "public.jsonl"), "--format", "csv")
    assert done.returncode == 2
    assert "takes one channel" in done.stderr.decode() and done.stdout == b""


def test_fields_and_time_in_a_replay(recordings):
    done = coinsuper("replay", str(recordings / "public.jsonl"), "--channel", "trade",
                     "--fields", "price,ts", "--time", "iso", "--count", "2")
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(lines) == 2 and all(list(obj) == ["price", "ts"] for obj in lines)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", obj["ts"])
               for obj in lines)


@pytest.mark.parametrize("args, names", [
    (["trades", "BTC_USD", "--fields", "ts,bogus"], "no key 'bogus' in trade records"),
    (["trades", "BTC_USD", "--fields", ""], "--fields"),
    (["trades", "BTC_USD", "--fields", "ts,,price"], "--fields"),
    (["trades", "BTC_USD", "--template", "{nope}"], "no key 'nope'"),
    (["trades", "BTC_USD", "--template", "{ts:when}"], "a time takes"),
    (["trades", "BTC_USD", "--template", "{"], "--template"),
    (["trades", "BTC_USD", "--time", "hours"], "--time"),
    (["trades", "BTC_USD", "--since", "yesterday"], "--since"),
    (["trades", "BTC_USD", "--since", ""], "--since"),
    (["trades", "BTC_USD", "--format", "raw", "--since", "now"], "--since"),
    (["trades", "BTC_USD", "--format", "raw", "--fields", "ts"], "--fields"),
    (["trades", "BTC_USD", "--format", "live", "--template", "{ts}"], "--template"),
    (["trades", "BTC_USD", "--no-header"], "--no-header"),
    (["watch", "BTC_USD", "--format", "csv"], "takes one channel"),
    (["account", "--format", "tsv", "--email", "a@b.c", "--access-key", "k",
      "--secret-key", "s"], "takes one channel"),
])
def test_bad_values_exit_2_with_one_line_before_connecting(args, names):
    done = coinsuper(*args, *UNREACHABLE)
    err = done.stderr.decode()
    assert done.returncode == 2, err
    lines = [line for line in err.splitlines() if "shows in ps" not in line]
    assert len(lines) == 1 and names in lines[0] and "Traceback" not in err


def readme_recipes() -> list[str]:
    """The commands of the README's "Scripting" code block."""
    section = README.read_text().split("## Scripting", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line and not line.startswith("#")]


def test_the_readme_scripting_recipes_run_as_written(tmp_path):
    recipes = readme_recipes()
    assert len(recipes) == 4
    env = clean_env(PATH=os.path.dirname(coinsuper_command()[0]) + os.pathsep
                    + os.environ["PATH"])
    outputs = []
    for recipe in recipes:
        done = subprocess.run(["bash", "-c", "set -o pipefail; " + recipe], cwd=tmp_path,
                              env=env, capture_output=True, timeout=60)
        assert done.returncode == 0, (recipe, done.stderr)
        outputs.append(done.stdout.decode())
    spreadsheet = read_table((tmp_path / "trades.csv").read_bytes())
    assert spreadsheet[0][0] == "channel" and len(spreadsheet) == 21
    best = [line.split() for line in outputs[1].splitlines()]
    assert len(best) == 3 and all(len(row) == 3 and float(row[1]) < float(row[2])
                                  for row in best)  # a bid below an ask
    log = outputs[2].splitlines()
    assert len(log) == 5 and all(re.fullmatch(
        r"\d{4}-\d\d-\d\dT[\d:.]{12}Z BTC_USD ( buy|sell) [\d.]+ @ [\d.]+", line)
        for line in log)
    assert outputs[3].count("\n") == 1 and "price" in outputs[3]
