"""Recordings made by hand, by another program or by an attacker: `replay` and `sandbox
--replay` exit 2 for a file that is not a recording, skip (and count) bad lines, stay
within 100 MB whatever the file unpacks to, and let nothing from it drive the terminal.
Memory is the child's own VmHWM, sampled while it runs (wait4's ru_maxrss would count the
forked test process)."""
from __future__ import annotations

import gzip
import json
import os
import subprocess
import threading
import time
import zlib
from pathlib import Path

import pytest
from conftest import clean_env, coinsuper_command, run_coinsuper
from hypothesis import HealthCheck, given, settings, strategies as st

T0 = 1_795_730_093_000_000_000
TRADES = "exchange_ha_prod_hk/api/ws/v1/market/tickers/"
TRADE = ('[{"symbol":"BTC/USD","price":"100.5","quantity":"0.1","action":"BUY",'
         '"timestamp":17957300930%02d}]')  # %d: a trade's own number, 0..99
START = json.dumps({"recv_ns": T0, "event": "start", "format": 1, "version": "t",
                    "command": ["coinsuper", "trades"]}) + "\n"
PEAK_LIMIT = 100 * 1024 * 1024
KILL_ABOVE = 400 * 1024 * 1024  # the old code would take GBs: spare the machine


def message_line(topic: str, payload: str, recv_ns: int = T0) -> str:
    return json.dumps({"recv_ns": recv_ns, "topic": topic, "payload": payload},
                      separators=(",", ":"), ensure_ascii=False) + "\n"


def hwm(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise KeyError("VmHWM")  # a zombie


def run_measured(args: list[str], timeout: float = 60.0) -> tuple[int, str, int, float]:
    """(exit status, stderr, peak RSS in bytes, seconds) of `coinsuper ARGS`; killed past
    KILL_ABOVE or `timeout`."""
    started = time.monotonic()
    process = subprocess.Popen(coinsuper_command() + args, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, env=clean_env())
    peak = [0]

    def sample() -> None:
        while process.poll() is None:
            try:
                peak[0] = max(peak[0], hwm(process.pid))
            except (OSError, KeyError):
                return
            if peak[0] > KILL_ABOVE or time.monotonic() - started > timeout:
                process.kill()
                return
            time.sleep(0.01)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    with process.stderr:
        stderr = process.stderr.read().decode()
    process.wait(timeout=timeout + 10)
    sampler.join(5)
    return process.returncode, stderr, peak[0], time.monotonic() - started


def gzip_of_zeros(path: Path, size: int, head: bytes = b"") -> Path:
    """A gzip member of `head` then `size` zero bytes, written streamingly: a block of
    zeros compressed with a full flush (which forgets the history) repeats as it is."""
    mib = 1024 * 1024
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(b"\0" * mib) + compressor.flush(zlib.Z_FULL_FLUSH)
    crc = zlib.crc32(head)
    zeros = b"\0" * mib
    with path.open("wb") as file:
        file.write(b"\x1f\x8b\x08\0\0\0\0\0\0\xff")  # RFC 1952 header, no name
        first = zlib.compressobj(9, zlib.DEFLATED, -15)
        file.write(first.compress(head) + first.flush(zlib.Z_FULL_FLUSH))
        for _ in range(size // mib):
            file.write(block)
            crc = zlib.crc32(zeros, crc)
        file.write(compressor.flush(zlib.Z_FINISH))
        file.write(crc.to_bytes(4, "little") + ((len(head) + size) % 2**32).to_bytes(4, "little"))
    return path


def zstd_of(path: Path, head: bytes, repeated: bytes, size: int) -> Path:
    """One zstandard frame of `head` then `repeated` until `size` bytes."""
    import zstandard

    with path.open("wb") as file, \
            zstandard.ZstdCompressor(level=3).stream_writer(file, closefd=False) as writer:
        writer.write(head)
        piece = repeated * max(1, (1024 * 1024) // len(repeated))
        for _ in range(size // len(piece)):
            writer.write(piece)
    return path


# -- not a recording: exit 2, the file named ---------------------------------------------

@pytest.mark.parametrize("name, content", [
    ("empty.jsonl", b""),
    ("capture.txt", b"exchange_ha_prod_hk/api/ws/v1/market/tickers/BTC_USD {\"a\":1}\n" * 3),
    ("text.gz", b'{"recv_ns":1,"event":"start"}\n'),
    ("text.zst", b"hello\n"),
    ("random.bin", os.urandom(4096)),
    ("empty.gz", b""),
])
def test_a_file_that_is_not_a_recording_is_exit_2_naming_it(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    for args in (["replay", str(path), "--format", "jsonl"],
                 ["sandbox", "--replay", str(path), "--ws-port", "0", "--tcp-port", "0"]):
        result = run_coinsuper(args)
        assert result.returncode == 2, result.stderr
        lines = result.stderr.decode().strip().splitlines()
        assert len(lines) == 1 and str(path) in lines[0] and "not a recording" in lines[0]
        assert "JSON lines that --record writes" in lines[0]
        assert "Traceback" not in result.stderr.decode()


def test_dev_zero_is_not_a_recording_quickly_and_flat():
    for args in (["replay", "/dev/zero"], ["sandbox", "--replay", "/dev/zero"]):
        status, stderr, peak, seconds = run_measured(args, timeout=30)
        assert status == 2, stderr
        assert "/dev/zero is not a recording" in stderr and "longer than" in stderr
        assert peak < PEAK_LIMIT and seconds < 10, (peak, seconds)


# -- bounded in bytes --------------------------------------------------------------------

@pytest.fixture(scope="module")
def bombs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bombs")
    start = START.encode()
    line = message_line(TRADES + "BTC_USD", TRADE % 1).encode()
    return {
        # 4 GiB of zeros without a newline, alone and after a recording's first line
        "gzip": gzip_of_zeros(folder / "zeros.jsonl.gz", 4 << 30),
        "gzip after a start": gzip_of_zeros(folder / "late.jsonl.gz", 4 << 30, start),
        "zstd": zstd_of(folder / "zeros.jsonl.zst", b"", b"\0" * 4096, 4 << 30),
        "zstd after a start": zstd_of(folder / "late.jsonl.zst", start, b"\0" * 4096,
                                      4 << 30),
        # one line of 200 MB between good ones
        "200 MB line": gzip_of_zeros(folder / "long.jsonl.gz", 200 << 20, start + line),
        # one frame of 500 MB of repeated good lines
        "repeated lines": zstd_of(folder / "lines.jsonl.zst", start, line, 500 << 20),
    }


@pytest.mark.slow  # gigabytes unpacked, or a million lines
@pytest.mark.parametrize("kind", ["gzip", "zstd"])
def test_a_bomb_without_a_newline_is_not_a_recording(bombs, kind):
    assert bombs[kind].stat().st_size < 10 << 20  # small on disk
    for args in (["replay", str(bombs[kind])], ["sandbox", "--replay", str(bombs[kind])]):
        status, stderr, peak, seconds = run_measured(args)
        assert status == 2 and "is not a recording" in stderr, stderr
        assert peak < PEAK_LIMIT and seconds < 10, (peak, seconds)


@pytest.mark.slow  # gigabytes unpacked, or a million lines
@pytest.mark.parametrize("kind", ["gzip after a start", "zstd after a start"])
def test_a_bomb_after_a_first_line_is_skipped_as_one_long_line(bombs, kind):
    status, stderr, peak, seconds = run_measured(
        ["replay", str(bombs[kind]), "--format", "jsonl", "--timeout", "3"])
    assert status == 0, stderr
    assert stderr.count("longer than") == 1, stderr
    assert peak < PEAK_LIMIT and seconds < 15, (peak, seconds)


@pytest.mark.slow  # gigabytes unpacked, or a million lines
def test_a_200_mb_line_is_skipped_with_one_warning_and_the_next_lines_play(bombs, tmp_path):
    path = bombs["200 MB line"]
    # a good line after the long one: a second member (as a second recorder run adds)
    with path.open("ab") as file:
        file.write(gzip.compress(b"\n" + message_line(TRADES + "BTC_USD", TRADE % 2).encode()))
    result = run_coinsuper(["replay", str(path), "--format", "jsonl"], timeout=60)
    assert result.returncode == 0, result.stderr
    times = [json.loads(line)["ts"] % 100 for line in result.stdout.splitlines()]
    assert times == [1, 2]
    stderr = result.stderr.decode()
    assert stderr.count("longer than") == 1 and "Traceback" not in stderr, stderr
    status, stderr, peak, seconds = run_measured(["replay", str(path), "--format", "raw"])
    assert status == 0 and peak < PEAK_LIMIT, (stderr, peak)


@pytest.mark.slow  # gigabytes unpacked, or a million lines
def test_one_zstd_frame_of_repeated_lines_plays_flat(bombs):
    path = str(bombs["repeated lines"])
    status, stderr, peak, seconds = run_measured(
        ["replay", path, "--format", "raw", "--timeout", "4"])
    assert status == 0 and peak < PEAK_LIMIT and seconds < 15, (stderr, peak, seconds)


def sandbox_peak(path: Path, *extra: str, until: str = "the recording ended",
                 timeout: float = 60) -> tuple[int, str]:
    """The peak RSS of `sandbox --replay PATH -v` once it logs `until`, and its stderr."""
    process = subprocess.Popen(
        coinsuper_command() + ["sandbox", "--replay", str(path), "--ws-port", "0",
                               "--tcp-port", "0", "--speed", "1000", "-v", *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=clean_env())
    lines: list[str] = []
    peak = 0
    reader = threading.Thread(target=lambda: lines.extend(
        line.decode() for line in iter(process.stderr.readline, b"")), daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and process.poll() is None:
            peak = max(peak, hwm(process.pid))
            if any(until in line for line in lines) or peak > KILL_ABOVE:
                break
            time.sleep(0.02)
        else:
            raise AssertionError("no " + until + ":\n" + "".join(lines))
    finally:
        process.kill()
        process.wait(10)
        reader.join(5)
        process.stderr.close()
    return peak, "".join(lines)


@pytest.mark.slow  # gigabytes unpacked, or a million lines
def test_sandbox_replay_of_a_200_mb_line_stays_flat(bombs):
    peak, stderr = sandbox_peak(bombs["200 MB line"])
    assert peak < PEAK_LIMIT, peak
    assert stderr.count("longer than") == 1, stderr


# -- many topics -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def million_topics(tmp_path_factory):
    path = tmp_path_factory.mktemp("topics") / "topics.jsonl.gz"
    with gzip.open(path, "wb", compresslevel=1) as file:
        file.write(START.encode())
        for block in range(100):
            file.write("".join(message_line(f"{TRADES}S{block * 10_000 + i}_USD",
                                            TRADE % (i % 100))
                               for i in range(10_000)).encode())
    return path


@pytest.mark.slow  # gigabytes unpacked, or a million lines
def test_a_million_topics_are_capped_said_once_and_flat(million_topics):
    status, stderr, peak, seconds = run_measured(
        ["replay", str(million_topics), "--format", "raw"], timeout=120)
    assert status == 0, stderr
    assert stderr.count("more than 10,000 topics") == 1, stderr
    assert peak < PEAK_LIMIT, peak


@pytest.mark.slow  # gigabytes unpacked, or a million lines
def test_sandbox_replay_of_a_million_topics_is_capped_and_flat(million_topics):
    peak, stderr = sandbox_peak(million_topics, timeout=120)
    assert stderr.count("more than 10,000 topics") == 1, stderr
    assert peak < PEAK_LIMIT, peak


# -- valid JSON of the wrong shape -------------------------------------------------------

GOOD_TOPIC = TRADES + "BTC_USD"
HOSTILE_LINES = [
    b'[1,2]', b'"text"', b'null', b'1', b'{}',
    *(b'{"recv_ns":%s,"topic":"%s","payload":"[]"}' % (value, GOOD_TOPIC.encode())
      for value in (b'"1"', b'null', b'[]', b'1.5', b'NaN', b'Infinity', b'1e300', b'-1',
                    b'true', b'1' + b'0' * 30)),
    *(b'{"recv_ns":%d,"topic":"%s","payload":%s}' % (T0, GOOD_TOPIC.encode(), value)
      for value in (b'1', b'null', b'{}', b'[]', b'true', b'"\\ud800"')),
    *(b'{"recv_ns":%d,"topic":"%s","payload_b64":%s}' % (T0, GOOD_TOPIC.encode(), value)
      for value in (b'"!!!"', b'"abc"', b'1', b'null')),
    *(b'{"recv_ns":%d,"topic":%s,"payload":"[]"}' % (T0, value)
      for value in (b'1', b'null', b'[]', b'"\\ud800"', b'"\xff\xfe"', b'"a\\u001b]0;x\\u0007"')),
    b'{"recv_ns":%d,"topic":"\xff\xfe","payload":"[]"}' % T0,  # the fast path's shape
    b'{"recv_ns":%d,"event":1}' % T0,
    b'{"recv_ns":%d,"event":"disconnected","reason":[1]}' % T0,
    b'[' * 100_000,
    b'\x00\x01\x02 not json',
]


def good_line(i: int) -> bytes:
    return message_line(GOOD_TOPIC, TRADE % i, T0 + i).encode()


def played(path: Path, warned: list) -> list[int]:
    from coinsuper_cli.recordings.replay import Recording

    return [m.recv_ns - T0 for m in Recording([str(path)], warn=warned.append).messages()
            if not isinstance(m, dict)]


def test_each_wrong_shape_is_skipped_counted_and_the_good_lines_kept(tmp_path):
    path = tmp_path / "r.jsonl"
    body = START.encode() + good_line(0)
    for i, line in enumerate(HOSTILE_LINES, 1):
        body += line + b"\n" + good_line(i % 100)
    path.write_bytes(body)
    warned: list = []
    assert played(path, warned) == [i % 100 for i in range(len(HOSTILE_LINES) + 1)]
    # the topic with ESC in it is a line of the right shape, on a topic of no channel
    assert len(warned) == 3, warned
    assert "skipped a line that is not a recorded message or event" in warned[0]
    assert "skipped the messages on a\\x1b]0;x\\x07: not a topic" in warned[1]
    assert warned[2] == f"skipped {len(HOSTILE_LINES) - 1:,} bad lines in {path}"
    # and the command: exit 0, every good record out, no NaN, no traceback
    result = run_coinsuper(["replay", str(path), "--format", "jsonl"])
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == len(HOSTILE_LINES) + 1  # fewer than 100
    assert b"NaN" not in result.stdout and b"Traceback" not in result.stderr


@pytest.mark.parametrize("line", HOSTILE_LINES[:12])
def test_a_file_of_bad_lines_only_is_exit_2(tmp_path, line):
    path = tmp_path / "r.jsonl"
    path.write_bytes((line + b"\n") * 3)
    result = run_coinsuper(["replay", str(path), "--format", "jsonl"])
    assert result.returncode == 2 and b"is not a recording" in result.stderr, result.stderr


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                max_size=3), max_leaves=6)
SHAPED = st.fixed_dictionaries({}, optional={
    "recv_ns": JSON_VALUES, "topic": st.sampled_from([GOOD_TOPIC, "x/y"]) | JSON_VALUES,
    "payload": JSON_VALUES, "payload_b64": JSON_VALUES, "event": JSON_VALUES,
    "reason": JSON_VALUES}).map(lambda d: json.dumps(d).encode())
HOSTILE = (st.sampled_from(HOSTILE_LINES) | SHAPED
           | st.binary(max_size=64).map(lambda b: b.replace(b"\n", b"")))


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.tuples(st.booleans(), HOSTILE), max_size=12))
def test_hostile_lines_among_good_ones_never_lose_a_good_one(tmp_path, lines):
    path = tmp_path / "r.jsonl"
    body, expected = START.encode(), []
    for i, (good, hostile) in enumerate(lines):
        body += hostile + b"\n"
        if good:
            body += good_line(i)
            expected.append(i)
    path.write_bytes(body)
    warned: list = []
    assert played(path, warned) == expected
    assert len(warned) <= 3


# -- a member cut in the middle of the file ----------------------------------------------

@pytest.mark.parametrize("suffix", ["gz", "zst"])
def test_a_member_cut_mid_file_is_passed_over_and_the_next_one_read(tmp_path, suffix):
    import zstandard

    def packed(data: bytes) -> bytes:
        return gzip.compress(data) if suffix == "gz" else \
            zstandard.ZstdCompressor().compress(data)

    first = START.encode() + b"".join(good_line(i) for i in range(50))
    second = START.encode() + b"".join(good_line(i) for i in range(50, 60))
    cut = packed(first)
    cut = cut[:len(cut) * 2 // 3]  # a recorder killed mid-write, then run again
    path = tmp_path / f"r.jsonl.{suffix}"
    path.write_bytes(cut + packed(second))
    warned: list = []
    got = played(path, warned)
    assert got[-10:] == list(range(50, 60)) and got[:-10] == list(range(len(got) - 10))
    assert len(warned) == 1 and "was passed over" in warned[0], warned
    result = run_coinsuper(["replay", str(path), "--format", "jsonl"])
    assert result.returncode == 0 and len(result.stdout.splitlines()) == len(got)
    assert b"passed over" in result.stderr and b"only the last" not in result.stderr
