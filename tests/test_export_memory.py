"""`coinsuper export` keeps a flat memory: its peak (VmHWM, read by the exporting process
itself at its end) is about the same for 50,000 and 250,000 pushes of depth and order
book, and the csv export stays under 80 MB. Parquet's floor is pyarrow's own: importing
it takes 50-65 MB resident (bench/export_cases.py and README "Performance"), and its
peak settles within the first 100,000 pushes or so (measured: 101 MB at 20,000, 107.6
at 200,000, 109.0 at 400,000): the row groups' transient buffers meet at their worst a
few times before the peak is reached, and a Parquet file keeps each row group's
metadata until it is closed at the end of its day."""
from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SAMPLES, clean_env
from test_export import ENV

DAY = 1_796_256_001_000_000_000  # 2026-12-03 00:00:01 UTC
# Runs `coinsuper ARGS` in this process, then prints its own peak (kB) and exit code.
IN_PROCESS = ("import sys\n"
              "from coinsuper_cli.cli.main import main\n"
              "code = main(sys.argv[1:])\n"
              "peak = [l for l in open('/proc/self/status') if l.startswith('VmHWM')]\n"
              "print(peak[0].split()[1], code)\n")


def recording(path: Path, thousands: int) -> None:
    """`thousands` x 1,000 pushes, depth and order book in turn (one gzip member
    written again and again: quick to make)."""
    depth = (SAMPLES / "depth.json").read_text()
    book = (SAMPLES / "orderbook.json").read_text()
    start = json.dumps({"recv_ns": DAY, "event": "start", "format": 1}) + "\n"
    lines = "".join(json.dumps(
        {"recv_ns": DAY + i, "topic": ENV + ("depth/BTC_USD" if i % 2 else
                                             "orderBook/BTC_USD/0.01"),
         "payload": depth if i % 2 else book}) + "\n" for i in range(1000))
    member = gzip.compress(lines.encode(), compresslevel=1)
    with open(path, "wb") as out:
        out.write(gzip.compress(start.encode()))
        for _ in range(thousands):
            out.write(member)


def peak_mb(rec: Path, out: Path, fmt: str) -> float:
    result = subprocess.run([sys.executable, "-c", IN_PROCESS, "export", str(rec), "--out",
                             str(out), "--format", fmt, "--overwrite"], capture_output=True,
                            text=True, timeout=600, env=clean_env())
    kb, code = result.stdout.split()
    assert code == "0", result.stderr
    return int(kb) / 1024


@pytest.mark.slow
@pytest.mark.parametrize("fmt, most", [("tardis", 80), ("parquet", 160)])
def test_the_peak_does_not_grow_with_the_recording(tmp_path, fmt, most):
    short, long = tmp_path / "short.jsonl.gz", tmp_path / "long.jsonl.gz"
    recording(short, 50)
    recording(long, 250)
    small = peak_mb(short, tmp_path / "a", fmt)
    large = peak_mb(long, tmp_path / "b", fmt)
    assert large <= most, (small, large)
    assert large - small <= 6, (small, large)  # flat: five times the pushes, not more MB
