"""The files of `coinsuper export` (export_files.py) under SIGKILL: nothing under a final
name, the temporary file hidden from readers' globs, and removed by the next export once
its process is gone (another running export's is left alone)."""
from __future__ import annotations

import gzip
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from conftest import SAMPLES, clean_env, coinsuper_command
from test_export import ENV

DAY = 1_796_256_001_000_000_000  # 2026-12-03 00:00:01 UTC


def long_recording(path: Path, members: int) -> int:
    """A gzip recording of `members` x 1,000 depth pushes (one member written again and
    again, as a recorder run many times appends members): long to export, quick to
    make. Returns the number of pushes."""
    depth = (SAMPLES / "depth.json").read_bytes().decode()
    start = json.dumps({"recv_ns": DAY, "event": "start", "format": 1}) + "\n"
    lines = "".join(json.dumps({"recv_ns": DAY + i, "topic": ENV + "depth/BTC_USD",
                                "payload": depth}) + "\n" for i in range(1000))
    member = gzip.compress(lines.encode(), compresslevel=1)
    with open(path, "wb") as out:
        out.write(gzip.compress(start.encode()))
        for _ in range(members):
            out.write(member)
    return members * 1000


def wait_for(condition, process: subprocess.Popen, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        if process.poll() is not None:
            raise AssertionError(f"the export ended ({process.returncode}) before {what}")
        time.sleep(0.01)
    raise AssertionError(f"no {what} within {timeout} s")


@pytest.mark.parametrize("fmt, suffix", [("tardis", ".csv.gz"), ("parquet", ".parquet")])
def test_sigkill_leaves_no_file_under_a_final_name_and_the_next_export_cleans(
        tmp_path, fmt, suffix):
    rec = tmp_path / "long.jsonl.gz"
    pushes = long_recording(rec, 40)  # seconds to export: killed long before
    out = tmp_path / "out"
    process = subprocess.Popen(coinsuper_command() + ["export", str(rec), "--out", str(out),
                                                      "--format", fmt],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env=clean_env())
    try:
        [partial] = wait_for(lambda: list(out.glob(".*.partial-*")), process, 30,
                             "temporary file")
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=10) == -signal.SIGKILL
    finally:
        process.kill()
        process.wait(timeout=10)
        process.stderr.close()
    name = f"coinsuper_quotes_2026-12-03_BTC_USD{suffix}"
    assert [p.name for p in out.iterdir()] == [partial.name]
    assert partial.name == f".{name}.partial-{socket.gethostname()}-{process.pid}"
    assert list(out.glob(f"*{suffix}")) == []  # a reader's glob does not take it
    result = subprocess.run(coinsuper_command() + ["export", str(rec), "--out", str(out),
                                                   "--format", fmt, "--channel", "depth"],
                            capture_output=True, text=True, timeout=120, env=clean_env())
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "coinsuper: removed 1 temporary file that an export killed before it finished "
        "left behind", f"coinsuper: exported 1 file, {pushes:,} rows, into {out}"]
    assert [p.name for p in out.iterdir()] == [name]


def test_the_temporary_files_of_running_exports_and_other_hosts_are_left_alone(tmp_path):
    rec = tmp_path / "r.jsonl.gz"
    long_recording(rec, 1)
    out = tmp_path / "out"
    out.mkdir()
    host = socket.gethostname()
    ended = subprocess.Popen(["true"])  # a PID whose process is gone
    ended.wait(timeout=10)
    mine = out / f".coinsuper_trades_2026-12-01_BTC_USD.csv.gz.partial-{host}-{os.getpid()}"
    other = out / (f".coinsuper_trades_2026-12-01_BTC_USD.csv.gz.partial-elsewhere-"
                   f"{ended.pid}")
    stale = out / f".coinsuper_trades_2026-12-02_BTC_USD.parquet.partial-{host}-{ended.pid}"
    unrelated = out / f".notes.partial-{host}-{ended.pid}"
    for path in (mine, other, stale, unrelated):
        path.write_bytes(b"half")
    result = subprocess.run(coinsuper_command() + ["export", str(rec), "--out", str(out)],
                            capture_output=True, text=True, timeout=60, env=clean_env())
    assert result.returncode == 0, result.stderr
    assert "removed 1 temporary file" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [mine.name, other.name, unrelated.name, "coinsuper_quotes_2026-12-03_BTC_USD.csv.gz"])


@pytest.mark.parametrize("fmt", ["tardis", "parquet"])
def test_a_recording_cut_short_is_said_and_what_came_before_is_written(tmp_path, fmt):
    """A recorder killed mid-write leaves a cut gzip member: as replay does, the export
    says so in one line and writes every whole line before the cut."""
    rec = tmp_path / "cut.jsonl.gz"
    long_recording(rec, 2)
    data = rec.read_bytes()
    rec.write_bytes(data[:len(data) - 200])  # into the second member
    result = subprocess.run(coinsuper_command() + ["export", str(rec), "--out",
                                                   str(tmp_path / "o"), "--format", fmt],
                            capture_output=True, text=True, timeout=60, env=clean_env())
    assert result.returncode == 0, result.stderr
    said, summary = result.stderr.splitlines()
    assert "ends in the middle of a compressed block" in said
    rows = int(summary.split(", ")[1].split()[0].replace(",", ""))
    assert 1000 <= rows < 2000 and summary.startswith("coinsuper: exported 1 file, ")
