"""The relay's target protocol (relay/target.py) and registry (relay/registry.py): the
command drives any target through start, wait_ready, check, close and status only, so
a fake target registered under its own scheme relays the sandbox in this process; the
registry chooses by --to's scheme; the MQTT publisher answers status() as the protocol
says."""
from __future__ import annotations

import threading

import pytest
from test_relay_e2e import recorded

from coinsuper_cli.cli.main import main
from coinsuper_cli.errors import ConnectFailed, UsageError
from coinsuper_cli.relay import registry as targets
from coinsuper_cli.relay.queue import RelayQueue
from coinsuper_cli.relay.registry import TargetKind
from coinsuper_cli.relay.target import TargetSettings, TargetStatus


class FakeTarget:
    """A target that holds what it takes from the queue, and nothing but the protocol:
    __slots__, so that the command reading any other attribute fails the test.

    Args:
        ready: wait_ready's answer (False: the target is never reached).
        fail_after: check() raises ConnectFailed once the target has taken this many.
    """

    __slots__ = ("queue", "settings", "calls", "taken", "ready", "fail_after", "_lock")

    def __init__(self, queue: RelayQueue, settings: TargetSettings, *, ready: bool = True,
                 fail_after: int | None = None) -> None:
        self.queue, self.settings = queue, settings
        self.calls: list[tuple] = []
        self.taken: list = []
        self.ready, self.fail_after = ready, fail_after
        self._lock = threading.Lock()

    def start(self) -> None:
        self.calls.append(("start",))

    def wait_ready(self, timeout):
        self.calls.append(("wait_ready", timeout))
        return self.ready

    def check(self) -> None:
        with self._lock:  # a fake's "thread": what is queued goes out at each check
            self.taken += self.queue.take(1000)
        if self.fail_after is not None and len(self.taken) >= self.fail_after:
            raise ConnectFailed("relay target fake://t: gone")

    def close(self, drain: float) -> None:
        self.calls.append(("close", drain))
        with self._lock:
            self.taken += self.queue.take(10_000)

    def status(self) -> TargetStatus:
        return TargetStatus("fake://t", state="connected", published=len(self.taken),
                            delivered=len(self.taken), reconnects=2)


class Opened(list):
    """The fake targets opened; `options` go to the next one."""

    options: dict


@pytest.fixture
def fake(monkeypatch):
    """Registers the scheme fake://; gives the list of targets opened."""
    opened = Opened()
    opened.options = options = {}

    def open_fake(queue, settings):
        opened.append(FakeTarget(queue, settings, **options))
        return opened[-1]
    monkeypatch.setitem(targets.TARGETS, "fake", TargetKind(
        check_url=lambda url: url, check=lambda settings: None, open=open_fake,
        describe=lambda settings: "relay to   fake"))
    return opened




def test_the_command_drives_a_fake_target_through_the_protocol_only(fake, tmp_path, capsys):
    record = tmp_path / "relay.jsonl"
    code = main(["relay", "BTC_USD", "--sandbox", "--to", "fake://t", "--timeout", "2",
                 "--record", str(record)])
    err = capsys.readouterr().err
    assert code == 0, err
    [target] = fake
    assert target.calls[0] == ("start",) and target.calls[1][0] == "wait_ready"
    assert target.calls[-1] == ("close", 3.0)  # DRAIN_SECONDS, whatever stopped it
    assert target.settings.url == "fake://t" and len(target.settings.topics) == 4
    want = recorded(record)
    assert len(want) >= 4
    assert [(o.topic, o.payload) for o in target.taken] == want  # byte for byte, in order
    assert all(o.recv_ns > 0 for o in target.taken)
    # The status line reads the target's status(): its URL, state and counts.
    line = err.strip().splitlines()[-1]
    assert line.startswith(f"coinsuper: relay: in {len(want)} (") and \
        f"out {len(want)} (" in line, line
    assert line.endswith("fake://t connected (lost 2×)"), line


def test_a_target_never_ready_ends_at_timeout_and_is_closed_at_once(fake, capsys):
    fake.options["ready"] = False
    code = main(["relay", "BTC_USD", "--sandbox", "--to", "fake://t", "--timeout", "0.5"])
    assert code == 0, capsys.readouterr().err
    assert [c[0] for c in fake[0].calls] == ["start", "wait_ready", "close"]
    assert fake[0].calls[1] == ("wait_ready", 0.5) and fake[0].calls[2] == ("close", 0)


def test_a_target_that_gives_up_stops_the_relay_with_its_error(fake, capsys):
    fake.options["fail_after"] = 1
    code = main(["relay", "BTC_USD", "--sandbox", "--to", "fake://t", "--timeout", "20"])
    err = capsys.readouterr().err
    assert code == 4 and "relay target fake://t: gone" in err, (code, err)
    assert fake[0].calls[-1] == ("close", 3.0)


# -- the registry -------------------------------------------------------------------------

def test_the_scheme_chooses_the_target_in_one_place():
    assert {scheme for scheme in targets.TARGETS} >= {"mqtt", "mqtts", "ws", "wss", "redis",
                                                       "rediss"}
    assert targets.kind_of("MQTT://h") is targets.kind_of("wss://h")
    assert targets.kind_of("redis://h") is targets.kind_of("rediss://h")
    assert targets.kind_of("redis://h") is not targets.kind_of("mqtt://h")
    with pytest.raises(UsageError, match="unsupported target URL 'http://\\*\\*\\*@h'"):
        targets.kind_of("http://u:s3cret@h")
    assert targets.check_target_url("REDIS://h:1/3") == "redis://h:1/3"
    assert targets.check_target_url("MQTTS://h") == "mqtts://h"


def test_options_that_do_not_apply_to_a_target_are_refused():
    with pytest.raises(UsageError, match="--max-len applies to redis:// targets only"):
        targets.check_target(TargetSettings("mqtt://h", max_len=10))
    with pytest.raises(UsageError, match="--to-qos applies to MQTT targets"):
        targets.check_target(TargetSettings("redis://h", qos=2))
    targets.check_target(TargetSettings("mqtt://h", qos=2))
    targets.check_target(TargetSettings("redis://h", max_len=10))


def test_the_mqtt_target_reports_the_publishers_status():
    target = targets.open_target(RelayQueue(10), TargetSettings("mqtt://u:s3cret@h:1884",
                                                                qos=1))
    assert target.status() == TargetStatus("mqtt://***@h:1884", state="connecting")
    target.close(0)  # never started: nothing to wait for
