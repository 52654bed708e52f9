"""A recording or stdout that cannot be written (a full disk, /dev/full) is one line that
names the file and the error, exit 7 (PRODUCT.md, "Exit codes"), never a traceback; the
recording is closed as far as it got, and what was written before stays replayable."""
from __future__ import annotations

import errno
import gzip
import io
import json
import shutil
import subprocess

import pytest
from conftest import clean_env, coinsuper_command, run_coinsuper
from fakes import FakeClock

from coinsuper_cli.api.channels import feed_of
from coinsuper_cli.api.stream import Message
from coinsuper_cli.errors import WriteFailed
from coinsuper_cli.recordings import writer as recording
from coinsuper_cli.recordings.reader import Truncated, read_lines
from coinsuper_cli.recordings.writer import Recorder

TRADES = "env/api/ws/v1/market/tickers/BTC_USD"
T0 = 1_795_715_589_721_123_456
FULL = "No space left on device"


class FullDisk(io.RawIOBase):
    """A file on a disk with `room` bytes left: writes go to the real file until then,
    the last one in part, as the kernel does, then ENOSPC."""

    def __init__(self, path, room: int) -> None:
        self._file = open(path, "ab")
        self.room = room

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        if self.room <= 0:
            raise OSError(errno.ENOSPC, FULL)
        taken = bytes(data[:self.room])
        self._file.write(taken)
        self._file.flush()
        self.room -= len(taken)
        return len(taken)

    def close(self) -> None:
        self._file.close()
        super().close()


@pytest.mark.parametrize("suffix", ["jsonl", "jsonl.gz"])
def test_a_disk_that_fills_is_write_failed_once_and_what_was_written_stays_readable(
        tmp_path, monkeypatch, suffix):
    path = tmp_path / f"r.{suffix}"

    def open_on_full_disk(name):
        raw = io.BufferedWriter(FullDisk(name, room=3000), 1024)
        stream = gzip.GzipFile(fileobj=raw, mode="ab") if name.endswith(".gz") else raw

        def flush():
            stream.flush()
            raw.flush()
        return stream, flush
    monkeypatch.setattr(recording, "_open_for_append", open_on_full_disk)
    clock = FakeClock()
    recorder = Recorder(str(path), command=["trades"], monotonic=clock.now)
    recorder.begin(T0)
    payload = ('[{"price":"%d"}]' % 10**40).encode()
    with pytest.raises(WriteFailed) as failed:
        for i in range(10_000):
            recorder.write(Message(feed_of(TRADES), payload + b" " * (i % 7), T0 + i), None)
            clock.sleep(1.0)
            recorder.flush()  # a second later: it reaches the disk
    assert str(failed.value) == (f"cannot write the recording {path}: {FULL} (what was "
                                 "written before it stays readable)")
    # Once: the command is ending, and what comes meanwhile is not written.
    recorder.write(Message(feed_of(TRADES), payload, T0), None)
    recorder.flush()
    recorder.close()
    lines = []
    try:
        for line in read_lines(str(path)):
            lines.append(json.loads(line))
    except Truncated:
        pass  # the disk filled in the middle of a line or a compressed block
    assert lines[0]["event"] == "start" and len(lines) > 5
    assert all(line["payload"].startswith(payload.decode()) for line in lines[1:])
    replayed = run_coinsuper(["replay", str(path), "--format", "raw"])
    assert replayed.returncode == 0
    assert replayed.stdout.splitlines()[0] == payload


def test_record_to_dev_full_is_one_line_and_exit_7():
    done = run_coinsuper(["trades", "BTC_USD", "--sandbox", "--record", "/dev/full",
                          "--count", "1"])
    assert done.returncode == 7, done.stderr
    assert done.stderr.decode() == (f"coinsuper: cannot write the recording /dev/full: "
                                    f"{FULL} (what was written before it stays "
                                    "readable)\n")


@pytest.mark.parametrize("args", [
    ["trades", "BTC_USD", "--sandbox", "--count", "3"],
    ["book", "BTC_USD", "--sandbox", "--count", "1", "--format", "csv"],
    ["depth", "BTC_USD", "--sandbox", "--count", "1", "--format", "raw"],
    ["sandbox", "--ws-port", "0", "--tcp-port", "0"],
])
def test_stdout_that_cannot_be_written_is_one_line_and_exit_7(args):
    with open("/dev/full", "wb") as full:
        done = subprocess.run(coinsuper_command() + args, stdout=full,
                              stderr=subprocess.PIPE, env=clean_env(), timeout=30)
    assert done.returncode == 7, done.stderr
    assert done.stderr.decode() == f"coinsuper: cannot write to stdout: {FULL}\n"


def test_replay_to_a_full_stdout_is_exit_7(tmp_path):
    path = tmp_path / "r.jsonl"
    made = run_coinsuper(["trades", "BTC_USD", "--sandbox", "--count", "1", "--record",
                          str(path)])
    assert made.returncode == 0, made.stderr
    with open("/dev/full", "wb") as full:
        done = subprocess.run(coinsuper_command() + ["replay", str(path), "--format",
                                                     "jsonl"],
                              stdout=full, stderr=subprocess.PIPE, env=clean_env(),
                              timeout=30)
    assert (done.returncode, done.stderr.decode()) == (
        7, f"coinsuper: cannot write to stdout: {FULL}\n")


@pytest.mark.parametrize("suffix, room", [("jsonl", 24), ("jsonl.gz", 8)])  # kB
def test_a_real_disk_that_fills_mid_recording(tmp_path, suffix, room):
    """A small tmpfs of its own (a private mount namespace: nothing is left mounted),
    nearly full, so that the recording fills it after a few messages."""
    if not shutil.which("unshare"):
        pytest.skip("no unshare (util-linux) to mount a small filesystem")
    probe = subprocess.run(["unshare", "--mount", "sh", "-c",
                            f"mount -t tmpfs -o size=64k tmpfs {tmp_path}"],
                           capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {probe.stderr.decode().strip()}")
    disk, kept = tmp_path / "disk", tmp_path / f"kept.{suffix}"
    disk.mkdir()
    command = " ".join(coinsuper_command() + [
        "depth", "BTC_USD", "ETH_USD", "ETH_BTC", "--sandbox", "--format", "jsonl",
        "--record", f"{disk}/r.{suffix}", "--timeout", "60"])
    script = (f"mount -t tmpfs -o size=256k tmpfs {disk} && "
              f"head -c {(256 - room) * 1024} /dev/zero > {disk}/filler && "
              f"{command} > /dev/null 2> {tmp_path}/err; echo $? > {tmp_path}/code; "
              f"cp {disk}/r.{suffix} {kept}")
    subprocess.run(["unshare", "--mount", "sh", "-c", script], env=clean_env(),
                   timeout=90, check=True)
    err = (tmp_path / "err").read_text()
    assert (tmp_path / "code").read_text().strip() == "7", err
    assert err == (f"coinsuper: cannot write the recording {disk}/r.{suffix}: {FULL} "
                   "(what was written before it stays readable)\n")
    replayed = run_coinsuper(["replay", str(kept), "--format", "raw"])
    assert replayed.returncode == 0, replayed.stderr
    assert len(replayed.stdout.splitlines()) >= 3
