"""The progress bar of `coinsuper export` (export_progress.py): drawn on a terminal (a
pseudo-terminal here) with files, messages, MB read of the compressed size and the time
left, warnings above it; nothing but the summary line on a pipe."""
from __future__ import annotations

import fcntl
import gzip
import io
import os
import pty
import re
import select
import struct
import subprocess
import termios
import time

from conftest import clean_env, coinsuper_command, run_coinsuper
from test_export_files import long_recording

from coinsuper_cli.recordings.export_progress import ProgressBar

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")


def run_on_a_terminal(args: list[str], timeout: float = 60) -> tuple[int, bytes]:
    """Runs coinsuper with stderr on a pseudo-terminal of 150 columns; what it drew."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 150, 0, 0))
    process = subprocess.Popen(coinsuper_command() + args, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=slave,
                               # rich reads COLUMNS before the terminal's size: a
                               # COLUMNS=80 inherited from the test run narrowed the bar.
                               env=clean_env(TERM="xterm-256color", COLUMNS="150",
                                             LINES="40"))
    os.close(slave)
    drawn = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the process and its terminal are gone
                    break
                if not data:
                    break
                drawn += data
            elif process.poll() is not None:
                break
        else:
            raise AssertionError(f"export did not end within {timeout} s: {drawn[-500:]!r}")
        assert process.wait(timeout=10) is not None
        assert process.stdout.read() == b""  # nothing on stdout
    finally:
        process.kill()
        process.wait(timeout=10)
        process.stdout.close()
        os.close(master)
    return process.returncode, drawn


def test_a_terminal_gets_a_bar_of_files_messages_mb_and_time_left(tmp_path):
    rec = tmp_path / "long.jsonl.gz"
    pushes = long_recording(rec, 40)
    with open(rec, "ab") as more:  # a bad line: its warning goes above the bar
        more.write(gzip.compress(b"not a recorded line\n"))
    size_mb = rec.stat().st_size / 1e6
    status, drawn = run_on_a_terminal(["export", str(rec), "--out", str(tmp_path / "o")])
    assert status == 0, drawn[-2000:]
    screens = [ANSI.sub(b"", part).decode() for part in re.split(rb"\r|\n", drawn)]
    bars = [line for line in screens if line.startswith("file ")]
    assert len(bars) >= 3, screens
    last = bars[-1]
    assert re.fullmatch(rf"file 1/1 +{pushes:,} messages \([0-9,]+/s\) ━+ 100% "
                        rf"{size_mb:.1f}/{size_mb:.1f} MB [0-9.]+ [kM]B/s 0:00:00 *", last), last
    # The bar moved through the file (how much is read of it), not only at its end.
    middle = [int(m[1]) for line in bars if (m := re.search(r" ([0-9]+)% ", line))]
    assert any(0 < percent < 100 for percent in middle), bars
    assert middle == sorted(middle)
    lines = [line.strip() for line in screens if line.startswith("coinsuper: ")]
    assert lines[0].startswith("coinsuper: ") and "skipped a line that is not a recorded" \
        in lines[0]
    assert lines[-1] == f"coinsuper: exported 1 file, {pushes:,} rows, into {tmp_path / 'o'}"


def test_a_pipe_gets_no_bar_only_the_summary_line(tmp_path):
    rec = tmp_path / "r.jsonl.gz"
    pushes = long_recording(rec, 2)
    result = run_coinsuper(["export", str(rec), "--out", str(tmp_path / "o")])
    assert result.returncode == 0
    assert result.stderr.decode() == (f"coinsuper: exported 1 file, {pushes:,} rows, into "
                                      f"{tmp_path / 'o'}\n")


def test_how_much_is_read_is_the_readers_offset_in_each_file_in_turn(tmp_path):
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_bytes(b"x" * 5000)
    second.write_bytes(b"y" * 3000)
    screen = io.StringIO()
    bar = ProgressBar([str(first), str(second)], screen, warn=print)
    try:
        assert bar._read() == 0  # nothing open yet
        with open(first, "rb", buffering=0) as reader:
            reader.read(1200)
            assert bar._read() == 1200
            reader.read(800)
            assert bar._read() == 2000
        with open(second, "rb", buffering=0) as reader:
            reader.read(100)
            assert bar._read() == 5000 + 100
            with open(first, "rb", buffering=0) as again:  # a file done is not gone back to
                again.read(10)
                assert bar._read() == 5100
    finally:
        bar.close()

