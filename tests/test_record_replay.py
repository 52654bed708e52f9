"""Record and replay: the recording's format, rotation, a killed recorder, pacing with a
fake clock, and round trips of the installed command against the sandbox, whose replayed
jsonl must equal, byte for byte, what the recording run printed."""
from __future__ import annotations

import base64
import gzip
import json
import re
import signal
import subprocess
import threading
import time
import warnings
from pathlib import Path

import pytest
from conftest import (clean_env, coinsuper_command, run_coinsuper, sandbox_env,
                      start_sandbox, stop_sandbox, wait_until)
from fakes import FakeClock
from hypothesis import given, settings, strategies as st
from loopback import free_port, stop_process
from test_live_terminal import Pane

from coinsuper_cli.api.channels import Feed, feed_of
from coinsuper_cli.api.stream import Message
from coinsuper_cli.errors import UsageError
from coinsuper_cli.output.times import parse_time_ns
from coinsuper_cli.recordings import reader as recording_module, replay as replay_module
from coinsuper_cli.recordings.replay import Recording, Selection, expand
from coinsuper_cli.recordings.reader import Truncated, read_lines
from coinsuper_cli.recordings.writer import Recorder, check_path
from coinsuper_cli.sandbox.account import demo_account

# The replay's escape decoder warns of the \\u escapes it leaves to the JSON decoder; the
# replay module ignores that warning, which pytest shows again in each test.
pytestmark = pytest.mark.filterwarnings("ignore:invalid escape sequence:DeprecationWarning")

TRADES = "env/api/ws/v1/market/tickers/BTC_USD"
HOUR_NS = 3600 * 10**9
T0 = 1_795_715_589_721_123_456  # 2026-11-26 17:33:09 UTC


def message(payload: bytes, recv_ns: int, topic: str = TRADES) -> Message:
    return Message(feed_of(topic), payload, recv_ns)


def lines_of(path) -> list[dict]:
    return [json.loads(line) for line in read_lines(str(path))]


@pytest.mark.parametrize("suffix", ["jsonl", "jsonl.gz", "jsonl.zst"])
def test_a_recording_keeps_every_payload_exactly_and_is_appended_to(tmp_path, suffix):
    path = tmp_path / f"r.{suffix}"
    for run in range(2):
        recorder = Recorder(str(path), command=["trades", "BTC_USD"])
        recorder.begin(T0 + run)
        recorder.write(message(b'[{"a":"\xc3\xa9 \\u001b"}]', T0 + 10), None)
        recorder.write(message(b"\xff\xfe not utf-8", T0 + 20), None)
        recorder.event(T0 + 30, "disconnected", reason="lost")
        recorder.close()
    lines = lines_of(path)
    assert [line.get("event") for line in lines] == ["start", None, None, "disconnected"] * 2
    start = lines[0]
    assert start["format"] == 1 and start["command"] == ["trades", "BTC_USD"]
    assert lines[1] == {"recv_ns": T0 + 10, "topic": TRADES,
                        "payload": '[{"a":"é \\u001b"}]'}
    assert "payload" not in lines[2] and lines[2]["payload_b64"] == "//4gbm90IHV0Zi04"
    replayed = [m.payload for m in Recording([str(path)], warn=pytest.fail).messages()
                if isinstance(m, Message)]
    assert replayed == [b'[{"a":"\xc3\xa9 \\u001b"}]', b"\xff\xfe not utf-8"] * 2


def test_strftime_fields_rotate_the_file_in_utc(tmp_path):
    recorder = Recorder(str(tmp_path / "%Y-%m-%d" / "%H.jsonl"), command=[])
    for i in range(3):
        recorder.write(message(b"[%d]" % i, T0 + i * HOUR_NS), None)
    recorder.close()
    files = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.jsonl"))
    assert files == ["2026-11-26/17.jsonl", "2026-11-26/18.jsonl", "2026-11-26/19.jsonl"]
    for name in files:  # each file starts with its own start line
        assert [line.get("event") for line in lines_of(tmp_path / name)] == ["start", None]
    played = expand([str(tmp_path / "*" / "*.jsonl")])
    assert [Path(p).name for p in played] == ["17.jsonl", "18.jsonl", "19.jsonl"]


def test_lines_reach_the_file_once_a_second_not_per_message(tmp_path):
    clock = FakeClock()
    path = tmp_path / "r.jsonl.gz"
    recorder = Recorder(str(path), command=[], monotonic=clock.now)
    recorder.write(message(b"[1]", T0), None)
    recorder.flush()
    size = path.stat().st_size
    clock.sleep(1.0)
    recorder.flush()
    assert path.stat().st_size > size  # the gzip block was flushed to the file
    with gzip.open(path) as f:  # readable up to there although the file is not closed
        assert f.read1(10_000).count(b"\n") == 2


@pytest.mark.parametrize("suffix", ["jsonl", "jsonl.gz", "jsonl.zst"])
def test_a_truncated_end_is_reported_after_the_complete_lines(tmp_path, suffix):
    path = tmp_path / f"r.{suffix}"
    clock = FakeClock()
    recorder = Recorder(str(path), command=[], monotonic=clock.now)
    for i in range(5):
        recorder.write(message(b"[%d]" % i, T0 + i), None)
        clock.sleep(1.0)
        recorder.flush()  # a second later: what was written reaches the file
    recorder.close()
    path.write_bytes(path.read_bytes()[:-3])  # a recorder killed in its last write
    got = []
    with pytest.raises(Truncated):
        for line in read_lines(str(path)):
            got.append(line)
    assert len(got) >= 5  # the start line and the messages flushed before the cut


@pytest.mark.parametrize("path", ["", "a\x00b", "/", "/proc/no/such/%Q"])
def test_record_paths_that_cannot_be_written_are_usage_errors(path):
    with pytest.raises(UsageError):
        check_path(path)
        Recorder(path, command=[]).begin(T0)


def test_times_are_iso_8601_in_utc_or_milliseconds():
    assert parse_time_ns("1795715589721") == 1_795_715_589_721_000_000
    assert parse_time_ns("2026-11-26T16:33:09Z") == parse_time_ns("2026-11-26 16:33:09")
    assert parse_time_ns("2026-11-26T17:33:09+01:00") == parse_time_ns("2026-11-26T16:33:09")
    with pytest.raises(UsageError):
        parse_time_ns("yesterday")


def recording_of(tmp_path, spans_s: float, n: int) -> str:
    path = tmp_path / "paced.jsonl"
    recorder = Recorder(str(path), command=[])
    for i in range(n):
        recorder.write(message(b"[%d]" % i, T0 + int(i * spans_s / (n - 1) * 1e9)), None)
    recorder.event(T0 + int(spans_s * 1e9), "disconnected", reason="gone")
    recorder.close()
    return str(path)


def test_speed_keeps_the_recorded_pacing_that_many_times_faster(tmp_path):
    clock = FakeClock()
    events = []
    recording = Recording([recording_of(tmp_path, 10.0, 11)], speed=10, warn=pytest.fail,
                          now=clock.now, sleep=clock.sleep, on_event=events.append)
    played = []
    for batch in recording.batches():
        played += [(round(clock.t - 1000, 3), m.payload) for m in batch]
    assert [t for t, _ in played] == pytest.approx([i * 0.1 for i in range(11)], abs=0.01)
    assert [e["event"] for e in events] == ["start", "disconnected"]


def test_pause_and_a_change_of_speed_move_on_from_where_the_replay_is(tmp_path):
    clock = FakeClock()
    recording = Recording([recording_of(tmp_path, 10.0, 11)], speed=1, warn=pytest.fail,
                          now=clock.now, sleep=clock.sleep)
    times = []
    for batch in recording.batches():
        for _ in batch:
            times.append(round(clock.t - 1000, 3))
            if len(times) == 3:  # at 2 s: pause for 5 s of the clock, then go twice as fast
                recording.paused = True
                clock.sleep(5)
                recording.paused = False
                recording.set_speed(2)
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert gaps[:2] == pytest.approx([1, 1], abs=0.01)
    assert gaps[3:] == pytest.approx([0.5] * 7, abs=0.01)
    assert 5 <= gaps[2] <= 5.8  # the pause, then half a second


def test_selection_by_channel_symbol_and_time(tmp_path):
    path = tmp_path / "r.jsonl"
    recorder = Recorder(str(path), command=[])
    eth = "env/api/ws/v1/market/tickers/ETH_USD"
    depth = "env/api/ws/v1/market/depth/BTC_USD"
    for i, topic in enumerate([TRADES, eth, depth, TRADES]):
        recorder.write(message(b"[%d]" % i, T0 + i * 10**9, topic), None)
    recorder.write(Message(Feed("not/a/channel", "trade", None, list), b"[4]", T0), None)
    recorder.close()
    warnings = []

    def played(selection):
        return [m.payload for m in Recording([str(path)], selection=selection,
                                             warn=warnings.append).messages()
                if isinstance(m, Message)]

    assert played(Selection()) == [b"[0]", b"[1]", b"[2]", b"[3]"]
    assert warnings == ["skipped the messages on not/a/channel: not a topic of any channel"]
    assert played(Selection(channels=frozenset({"trade"}))) == [b"[0]", b"[1]", b"[3]"]
    assert played(Selection(symbols=frozenset({"ETH_USD"}))) == [b"[1]"]
    assert played(Selection(start_ns=T0 + 10**9, end_ns=T0 + 3 * 10**9)) == [b"[1]", b"[2]"]



def test_feeds_are_found_by_topic_alone_within_the_selection_and_the_scan(tmp_path):
    """What the live view's panes and csv's one channel come from: the first lines'
    topics, the selected ones, without reading a payload (a base64 one included)."""
    path = tmp_path / "r.jsonl"
    recorder = Recorder(str(path), command=[])
    depth = "env/api/ws/v1/market/depth/BTC_USD"
    eth = "env/api/ws/v1/market/tickers/ETH_USD"
    recorder.write(message(b"[0]", T0, TRADES), None)
    recorder.event(T0, "connected", url="ws://h/mqtt")
    recorder.write(message(b"\xff not UTF-8", T0 + 10**9, depth), None)
    recorder.write(message(b"[2]", T0 + 2 * 10**9, eth), None)
    recorder.close()

    def feeds(selection=Selection(), scan=20_000):
        recording = Recording([str(path)], selection=selection, warn=pytest.fail)
        return [feed.topic for feed in recording.feeds(scan)]

    assert feeds() == [TRADES, depth, eth]
    assert feeds(scan=2) == [TRADES, depth]
    assert feeds(Selection(channels=frozenset({"trade"}))) == [TRADES, eth]
    assert feeds(Selection(start_ns=T0 + 1, end_ns=T0 + 2 * 10**9)) == [depth]


# The installed command against the sandbox.

@pytest.mark.parametrize("command", [["watch", "BTC_USD"], ["account"]])
def test_replayed_jsonl_equals_what_the_recording_run_printed(tmp_path, command):
    path = tmp_path / "r.jsonl.zst"
    recorded = run_coinsuper(command + ["--sandbox", "--timeout", "4", "--format", "jsonl",
                                        "--record", str(path)], timeout=30)
    assert recorded.returncode == 0, recorded.stderr
    assert recorded.stdout.count(b"\n") >= 4
    replayed = run_coinsuper(["replay", str(path), "--speed", "max", "--format", "jsonl"])
    assert replayed.returncode == 0 and replayed.stderr == b""
    assert replayed.stdout == recorded.stdout
    if command == ["account"]:  # and no secret of the demo account is in the file
        account = demo_account(1)
        text = b"".join(read_lines(str(path))).decode()
        assert account.secret_key not in text and account.access_key not in text
        assert "api_private" not in text and "password" not in text


def test_a_recorder_killed_mid_stream_loses_at_most_its_last_second(tmp_path):
    path = tmp_path / "r.jsonl.gz"
    client = subprocess.Popen(
        coinsuper_command() + ["trades", "BTC_USD", "--sandbox", "--format", "jsonl",
                               "--record", str(path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env())
    printed: list = []

    def read():
        for line in iter(client.stdout.readline, b""):
            printed.append((time.monotonic(), line))
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    wait_until(lambda: len(printed) >= 2 and time.monotonic() - printed[0][0] > 2.5, 20,
               "a few seconds of trades")
    client.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    client.wait()
    reader.join(timeout=5)
    replayed = run_coinsuper(["replay", str(path), "--format", "jsonl"])
    assert replayed.returncode == 0
    warnings = replayed.stderr.decode().splitlines()
    assert len(warnings) <= 1 and all("was killed?" in w for w in warnings)
    kept = set(replayed.stdout.splitlines())
    older = [line.rstrip(b"\n") for t, line in printed if t < killed_at - 1.5]
    assert older and all(line in kept for line in older)


def test_a_recording_with_a_reconnect_replays_each_trade_once(tmp_path):
    path = tmp_path / "r.jsonl"
    ports = ["--ws-port", str(free_port()), "--tcp-port", str(free_port()), "--speed", "4"]
    sandbox, exports = start_sandbox(*ports)
    client = subprocess.Popen(
        coinsuper_command() + ["trades", "BTC_USD", "-v", "--format", "jsonl", "--record",
                               str(path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=sandbox_env(exports))
    try:
        wait_until(lambda: path.exists() and path.read_bytes().count(b'"topic"') >= 2, 15,
                   "recorded messages")
        sandbox.kill()
        sandbox.wait()
        wait_until(lambda: b'"disconnected"' in path.read_bytes(), 15, "the disconnection")
        sandbox, _ = start_sandbox(*ports)
        wait_until(lambda: path.read_bytes().count(b'"subscribed"') >= 2, 20,
                   "the second subscription")
        # A push or two after the reconnect: messages recorded after the second
        # subscription.
        wait_until(lambda: path.read_bytes().rsplit(b'"subscribed"', 1)[1].count(b'"topic"')
                   >= 2, 15, "messages after the reconnect")
    finally:
        stop_process(client, signal.SIGINT, timeout=10)
        stop_sandbox(sandbox)
    printed = client.stdout.read()
    replayed = run_coinsuper(["replay", str(path), "--format", "jsonl"])
    assert replayed.returncode == 0
    assert replayed.stdout == printed
    trades = [json.loads(line) for line in printed.splitlines()]
    keys = [(t["ts"], t["price"], t["qty"], t["side"]) for t in trades]
    assert len(keys) == len(set(keys))  # each trade once across the reconnect
    events = [line.get("event") for line in lines_of(path) if "event" in line]
    assert events.count("disconnected") == 1 and events.count("subscribed") == 2


def test_speed_10_takes_about_a_tenth_of_the_recorded_time(tmp_path):
    path = recording_of(tmp_path, 3.0, 4)
    started = time.monotonic()
    result = run_coinsuper(["replay", path, "--speed", "10", "--format", "raw"])
    took = time.monotonic() - started
    assert result.returncode == 0 and result.stdout.count(b"\n") == 4
    assert took < 3.0  # 0.3 s of pacing plus start-up, far from the 3 recorded seconds


def test_the_live_replay_view_shows_the_replay_mark_and_quits_with_q(tmp_path):
    path = tmp_path / "r.jsonl"
    recorded = run_coinsuper(["trades", "BTC_USD", "--sandbox", "--timeout", "3",
                              "--format", "jsonl", "--record", str(path)], timeout=30)
    assert recorded.returncode == 0
    # A gap early in the recording, where the recorder lost its link.
    lines = path.read_bytes().splitlines(keepends=True)
    first = next(i for i, line in enumerate(lines) if b'"topic"' in line)
    gap = {"recv_ns": json.loads(lines[first])["recv_ns"], "event": "disconnected",
           "reason": "no message for 15 s"}
    lines.insert(first + 1, json.dumps(gap).encode() + b"\n")
    path.write_bytes(b"".join(lines))
    pane = Pane(tmp_path, ["replay", str(path)], 100, 20)
    try:
        recorded = re.compile(r"REPLAY x1 +recorded 20\d\d-\d\d-\d\d \d\d:\d\d:\d\d +1 gap")
        screen = pane.wait_for(lambda lines: any(recorded.search(line) for line in lines), 10,
                               "the replay mark, the recorded time and the gap")
        assert any("Trades BTC_USD" in line for line in screen)
        pane.send(" ")
        pane.wait_for(lambda lines: any("REPLAY paused" in line for line in lines), 5,
                      "the pause")
        pane.send("q")
        assert pane.exit_status() == 0
    finally:
        pane.close()


@pytest.mark.parametrize("args", [
    ["replay"], ["replay", "/no/such/file.jsonl"], ["replay", "/no/such/*.jsonl"],
    ["replay", "x.jsonl", "--speed", "0"], ["replay", "x.jsonl", "--speed", "fast"],
    ["replay", "x.jsonl", "--channel", "ticker"], ["replay", "x.jsonl", "--from", "soon"],
    ["replay", "x.jsonl", "--from", "2026-01-02", "--to", "2026-01-01"],
    ["trades", "BTC_USD", "--record", ""], ["trades", "BTC_USD", "--record", "/"],
])
def test_bad_replay_and_record_arguments_are_usage_errors(args):
    result = run_coinsuper(args)
    assert result.returncode == 2 and result.stdout == b""
    assert result.stderr.count(b"\n") == 1 and b"a bug" not in result.stderr


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=60) | st.text(max_size=60).map(str.encode))
def test_every_payload_replays_exactly_whichever_way_its_line_is_read(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("prop") / "r.jsonl"
    recorder = Recorder(str(path), command=[])
    for payload in (data, b'"' + data + b'\\', b'[{"q":"\\"' + data + b'"}]'):
        recorder.write(message(payload, T0), None)
    recorder.close()
    played = [m.payload for m in Recording([str(path)], warn=pytest.fail).messages()
              if isinstance(m, Message)]
    assert played == [data, b'"' + data + b'\\', b'[{"q":"\\"' + data + b'"}]']



# The fast read of a message line (the escape decoder) against the JSON decoder.

ESCAPES = ["\\", "\\u", "\\\\u", "\\u00e9", "\\/", "/", '"', '\\"', "\u2028", "\u00e9",
           "\x00", "\x1f", "\x7f", "\t", "\n", "\r", "\b", "\f", "u", "\U0001f600"]
PAYLOADS = st.lists(st.sampled_from(ESCAPES) | st.text(max_size=8), max_size=12).map("".join)
# How a message line is written: as the Recorder writes it; \u escapes for all that is not
# ASCII; \/ for each slash too; with spaces (not the Recorder's shape); as payload_b64.
STYLES = ["recorder", "ascii", "slash", "spaced", "b64"]


def message_line(payload: str, recv_ns: int, style: str) -> bytes:
    if style == "b64":
        b64 = base64.b64encode(payload.encode()).decode()
        return json.dumps({"recv_ns": recv_ns, "topic": TRADES, "payload_b64": b64},
                          separators=(",", ":")).encode()
    if style == "spaced":
        return json.dumps({"recv_ns": recv_ns, "topic": TRADES, "payload": payload}).encode()
    text = json.dumps(payload, ensure_ascii=style != "recorder")
    if style == "slash":
        text = text.replace("/", "\\/")
    return f'{{"recv_ns":{recv_ns},"topic":"{TRADES}","payload":{text}}}'.encode()


def read_slowly(lines: list[bytes]) -> list:
    """What a replay plays of complete lines, each read by the JSON decoder."""
    played = []
    for line in lines:
        item = json.loads(line)
        if "event" in item:
            played.append(item)
        elif "payload" in item:
            played.append((item["recv_ns"], item["payload"].encode("utf-8")))
        else:
            played.append((item["recv_ns"], base64.b64decode(item["payload_b64"])))
    return played


def replayed(path: str, warned: list) -> list:
    return [m if isinstance(m, dict) else (m.recv_ns, m.payload)
            for m in Recording([path], warn=warned.append).messages()]


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(st.tuples(PAYLOADS, st.sampled_from(STYLES + ["event"])), min_size=1,
                      max_size=8),
       read_size=st.sampled_from([1, 7, 64, 4096]), suffix=st.sampled_from(["jsonl",
                                                                            "jsonl.gz"]),
       cut=st.integers(0, 5))
def test_fast_reads_equal_the_json_decoder_byte_for_byte(tmp_path_factory, lines, read_size,
                                                         suffix, cut):
    written = [json.dumps({"recv_ns": T0 + i, "event": "disconnected", "reason": payload},
                          separators=(",", ":")).encode()
               if style == "event" else message_line(payload, T0 + i, style)
               for i, (payload, style) in enumerate(lines)]
    text = b"".join(line + b"\n" for line in written)
    if cut:  # a killed recorder: the last line cut short
        text = text[:-cut] if len(written[-1]) >= cut else text + written[-1][:cut]
    whole = text.split(b"\n")[:-1]
    path = tmp_path_factory.mktemp("fast") / f"r.{suffix}"
    path.write_bytes(gzip.compress(text) if suffix.endswith(".gz") else text)
    warned: list = []
    with pytest.MonkeyPatch.context() as patch:
        # Reads of a few bytes put a read's boundary inside lines, escapes and newlines.
        patch.setattr(recording_module, "READ_SIZE", read_size)
        patch.setattr(recording_module, "GZIP_READ_SIZE", read_size)
        got = replayed(str(path), warned)
    assert got == read_slowly(whole)
    assert warned == ([f"{path} ends in the middle of a line (a recorder that was killed?): "
                       "that last line was skipped"] if cut else [])


@pytest.mark.parametrize("payload", ["\\u00e9", "\\\\u00e9", "\u2028", "a\\/b", "\\", "\x01"])
def test_payloads_the_escape_decoder_leaves_to_the_json_decoder(tmp_path, payload):
    path = tmp_path / "r.jsonl"
    lines = [message_line(payload, T0, style) for style in ("recorder", "ascii", "slash")]
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    expected = [(T0, payload.encode())] * 3
    assert replayed(str(path), []) == expected
    with warnings.catch_warnings():  # warnings as errors: the same bytes
        warnings.simplefilter("error")
        assert replayed(str(path), []) == expected


def test_raw_replay_of_escapes_prints_each_payload_exactly_and_warns_of_nothing(tmp_path):
    path = tmp_path / "r.jsonl.gz"
    payloads = ["\\u00e9 \u00e9", "\u2028", "a\\/b/c", '{"q":"\\"x\\\\"}', "\x1b[2J"]
    lines = [message_line(p, T0 + i, style) for i, p in enumerate(payloads)
             for style in ("recorder", "ascii", "slash")]
    lines.insert(2, b'{"recv_ns":%d,"event":"disconnected","reason":"gone"}' % T0)
    path.write_bytes(gzip.compress(b"".join(line + b"\n" for line in lines)))
    result = run_coinsuper(["replay", str(path), "--speed", "max", "--format", "raw"])
    assert result.returncode == 0 and result.stderr == b""
    assert result.stdout == b"".join(p.encode() + b"\n" for p in payloads for _ in range(3))


def test_a_line_across_reads_and_a_cut_end_are_read_as_whole_lines(tmp_path, monkeypatch):
    monkeypatch.setattr(recording_module, "READ_SIZE", 5)
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"a":1}\n\n{"bb":"' + b"x" * 20 + b'"}\n{"c":')
    got = []
    with pytest.raises(Truncated):
        for line in read_lines(str(path)):
            got.append(line)
    assert got == [b'{"a":1}', b"", b'{"bb":"' + b"x" * 20 + b'"}']


def test_lines_not_in_the_recorders_shape_are_read_by_the_json_decoder(tmp_path):
    path = tmp_path / "r.jsonl"
    lines = [f'{{"recv_ns":{T0},"topic":"{TRADES}","payload":"}}',  # its quote is its end
             f'{{"recv_ns":{T0},"topic":"{TRADES}","payload":""}}',
             f'{{"recv_ns":{T0},"topic":"{TRADES}","payload":"\\\\"}}',
             f'{{"recv_ns":{T0},"topic":"{TRADES}","payload":"a\\\\u"}}',
             f'{{"recv_ns":{T0},"topic":"{TRADES}","payload":"\\u12"}}',  # not JSON
             f'{{"recv_ns":{T0},"topic":"{TRADES}","payload":"\\"}}']  # not JSON
    path.write_text("".join(line + "\n" for line in lines))
    warned: list = []
    assert replayed(str(path), warned) == [(T0, b""), (T0, b"\\"), (T0, b"a\\u")]
    assert warned == [f"{path}: skipped a line that is not a recorded message or event: "
                      "not JSON (further bad lines are only counted)",
                      f"skipped 3 bad lines in {path}"]


@pytest.mark.parametrize("read_size", [10, 100, 1 << 16])
def test_max_speed_batches_hold_every_message_in_order_and_events_go_to_on_event(
        tmp_path, monkeypatch, read_size):
    monkeypatch.setattr(recording_module, "READ_SIZE", read_size)
    monkeypatch.setattr(replay_module, "MAX_BATCH", 3)
    path = tmp_path / "r.jsonl"
    recorder = Recorder(str(path), command=[])
    for i in range(10):
        recorder.write(message(b"[%d]" % i, T0 + i), None)
        if i in (4, 5):
            recorder.event(T0 + i, "disconnected", reason=str(i))
    recorder.close()
    events: list = []
    batches = list(Recording([str(path)], warn=pytest.fail, on_event=events.append).batches())
    assert all(0 < len(batch) <= 3 for batch in batches)
    assert [m.payload for batch in batches for m in batch] == [b"[%d]" % i for i in range(10)]
    assert [e["event"] for e in events] == ["start", "disconnected", "disconnected"]
    # --to ends the replay there, --from starts it there
    selection = Selection(start_ns=T0 + 2, end_ns=T0 + 7)
    played = [m.payload for batch in Recording([str(path)], selection=selection,
                                                warn=pytest.fail).batches() for m in batch]
    assert played == [b"[%d]" % i for i in range(2, 7)]


def test_compressed_recordings_are_unpacked_ahead_in_a_thread_that_ends_with_the_read(
        tmp_path, monkeypatch):
    import gzip
    import threading

    from coinsuper_cli.recordings import reader as recording_reader

    path = tmp_path / "many.jsonl.gz"
    lines = [json.dumps({"recv_ns": i, "topic": "t", "payload": "x" * (i % 5000)}).encode()
             for i in range(3000)]
    path.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    unpacked_in = set()
    decompressobj = recording_reader.zlib.decompressobj

    class Noting:
        """A gzip member's decompressor that notes the thread it unpacks in."""

        def __init__(self, *args, **kwargs):
            self.inner = decompressobj(*args, **kwargs)

        def decompress(self, *args):
            unpacked_in.add(threading.current_thread().name)
            return self.inner.decompress(*args)

        def __getattr__(self, name):
            return getattr(self.inner, name)

    monkeypatch.setattr(recording_reader.zlib, "decompressobj", Noting)
    assert list(recording_reader.read_lines(str(path))) == lines
    assert unpacked_in == {"coinsuper-unpack"}
    reading = recording_reader.read_lines(str(path))
    assert next(reading) == lines[0]  # then stopped early, the unpacking full ahead
    reading.close()
    assert not [t for t in threading.enumerate() if t.name == "coinsuper-unpack"]
    unpacked_in.clear()
    assert recording_reader.first_time(str(path)) == 0  # one line: nothing ahead
    assert unpacked_in == {threading.current_thread().name}
