"""A hostile broker cannot reach the user's terminal: control characters in payloads,
topics and messages are shown escaped in the live views, the status line and stderr;
jsonl escapes C1 controls too; raw stays byte for byte in a pipe. And a broker that never
releases a QoS 2 packet id is said once (-v) and counted."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from conftest import clean_env, run_coinsuper
from fakes import FakeClock, FakeNetwork, FakeTransport, publishes
from peer import ScriptedPeer
from rich.console import Console
from test_live_terminal import Pane

from coinsuper_cli.api.channels import Feed, new_parser
from coinsuper_cli.api.stream import Limits, ListSource, Message, pump
from coinsuper_cli.cli.core import Environment
from coinsuper_cli.errors import Finished
from coinsuper_cli.live.dashboard import Dashboard
from coinsuper_cli.live.model import LiveModel
from coinsuper_cli.mqtt.packets import Publish
from coinsuper_cli.net.plans import Credentials, Target, private_plan
from coinsuper_cli.net.runner import Connection, RunOptions
from coinsuper_cli.output.sinks import JsonlSink, RawSink
from coinsuper_cli.printable import escape_json_line, printable, printable_bytes

SAMPLES = Path(__file__).parent / "samples"
TITLE = "\x1b]0;pwned\x07"  # retitles the terminal
CLEAR = "\x1b[2J"  # clears it
CSI = "\x9b2J"  # the same with the one-character C1 introducer
CREDENTIALS = Credentials("me@x.io", "ACCESSKEY123456", "SECRET")


def hostile_order() -> bytes:
    order = json.loads((SAMPLES / "order_change.constructed.json").read_text())
    order.update(orderNo=f"1{TITLE}2", state=f"NEW{TITLE}{CLEAR}{CSI}")
    return json.dumps(order).encode()


def test_printable_escapes_c0_del_and_c1_and_keeps_the_rest():
    assert printable("ok ünïcode ✓") == "ok ünïcode ✓"
    assert printable(TITLE + CLEAR + CSI + "\x7f\x00") == \
        "\\x1b]0;pwned\\x07\\x1b[2J\\x9b2J\\x7f\\x00"
    assert printable_bytes(b"\xff\x1b[2J\xe2\x9c\x93") == "\\xff\\x1b[2J✓".encode()
    assert escape_json_line('{"a":"\x9b\x9d"}') == '{"a":"\\u009b\\u009d"}'


def order_feed():
    return Feed("env/order", "order", None, new_parser("order"))


def test_jsonl_escapes_c1_controls_and_keeps_the_values():
    out = io.BytesIO()
    pump(ListSource([[Message(order_feed(), hostile_order(), 0)]]),
         JsonlSink(out, warn=pytest.fail))
    line = out.getvalue()
    assert not any(0x80 <= ord(c) <= 0x9f for c in line.decode()) and b"\x1b" not in line
    assert json.loads(line)["state"] == f"NEW{TITLE}{CLEAR}{CSI}"  # the data is intact


def test_raw_is_byte_for_byte_in_a_pipe_and_escaped_on_a_terminal():
    payload = hostile_order()
    pipe, terminal = io.BytesIO(), io.BytesIO()
    for sink in (RawSink(pipe), RawSink(terminal, terminal=True, with_topic=True)):
        pump(ListSource([[Message(order_feed(), payload, 0)]]), sink)
    assert pipe.getvalue() == payload + b"\n"
    assert b"\x1b" not in terminal.getvalue() and b"\\u001b" in terminal.getvalue()


def test_stderr_lines_show_control_characters_escaped():
    stderr = io.StringIO()
    env = Environment(io.StringIO(), io.BytesIO(), stderr, False, False, input)
    env.warn(f"ignored a message on unsubscribed topic a{TITLE}b")
    assert "\x1b" not in stderr.getvalue() and "a\\x1b]0;pwned\\x07b" in stderr.getvalue()


def test_the_live_views_and_status_line_never_draw_a_control_character():
    plan = private_plan(Target("ws://h/mqtt", credentials=CREDENTIALS), ("order",))
    model = LiveModel([plan], url="ws://h/mqtt", sandbox=False)
    feed = plan.feeds[0]
    model.apply(feed, feed.parse(hostile_order()), recv_ms=1_541_512_249_000)
    model.note = f"protocol error: {CLEAR}"
    console = Console(file=io.StringIO(), width=160, height=12, color_system=None,
                      force_terminal=True)
    console.print(Dashboard(model.snapshot(), now_ms=1_541_512_249_000, now=0.0))
    screen = console.file.getvalue()
    assert "NEW\\x1b]0;pwned\\x07\\x1b[2J\\x9b2J" in screen  # the state, shown escaped
    assert "error: \\x1b[2J" in screen  # the status line's note
    assert not any(c in screen for c in "\x1b\x07\x9b")


def test_a_hostile_payload_cannot_retitle_or_clear_a_real_terminal(tmp_path):
    def script(peer):
        topic = peer.sign_in()
        peer.send(Publish(topic, hostile_order()))
        peer.wait_closed(timeout=20)

    peer = ScriptedPeer(script)
    pane = Pane(tmp_path, ["orders", "--url", peer.url, "--email", "me@x.io",
                           "--access-key", "ACCESSKEY123456", "--secret-key", "S",
                           "--format", "live", "--timeout", "8"], 120, 20)
    try:
        screen = pane.wait_for(lambda lines: any("pwned" in line for line in lines), 10,
                               "the hostile order")
        title = pane._tmux("display-message", "-p", "-t", "live", "#{pane_title}")
        assert "pwned" not in title
        assert any("\\x1b]0;pwned" in line for line in screen)
        assert any("Open orders" in line for line in screen)  # not cleared away
        pane.send("q")
        assert pane.exit_status() == 0
    finally:
        pane.close()
        peer.close()


def test_a_hostile_topic_in_a_log_line_reaches_stderr_escaped():
    def script(peer):
        peer.sign_in()
        peer.send(Publish(f"x{TITLE}{CSI}", b"{}"), Publish("x", b"{}"))
        peer.wait_closed()

    peer = ScriptedPeer(script)
    result = run_coinsuper(["trades", "BTC_USD", "--url", peer.url, "-v", "--timeout", "1.5",
                            "--stale-after", "0"], env=clean_env())
    peer.close()
    assert result.returncode == 0, result.stderr
    assert b"ignored a message on unsubscribed topic x\\x1b]0;pwned" in result.stderr
    assert b"\x1b" not in result.stderr and "\x9b".encode() not in result.stderr


def test_a_qos2_packet_id_never_released_is_logged_once_and_counted():
    clock = FakeClock()
    topic = "env/t"
    pushes = tuple(publishes(topic, b"m%d" % i, qos=2, first_id=7) for i in range(4))
    transport = FakeTransport(clock, pushes=pushes)
    log, repeats = [], []
    plan = private_plan(Target("mqtt://h", credentials=CREDENTIALS), ("order",))
    plan = plan.__class__(plan.url, plan.sign_in,
                          (Feed(topic, "trade", "BTC_USD", lambda p: [p]),), 2)
    connection = Connection(plan, RunOptions(stale_after=None, log=log.append,
                                             on_repeat=lambda: repeats.append(1)),
                            connect=FakeNetwork(transport), clock=clock.clock)
    written = []

    class Sink:
        wants_records = True

        def write(self, message, records):
            written.append(message.payload)

        def skipped(self, message, problem):
            pass

        def flush(self):
            pass

    with pytest.raises(Finished):
        pump(connection, Sink(), Limits(timeout=5), clock=clock.now)
    assert written == [b"m0"] and len(repeats) == 3
    said = [line for line in log if "QoS 2 packet id 7" in line]
    assert len(said) == 1 and "reused, without DUP" in said[0]
