"""The relay into brokers that are not Mosquitto: a private RabbitMQ node with its MQTT
plugin (Debian's rabbitmq-server, started here on free loopback ports), which grants
QoS 2 as 1 and turns '.' in topics into '/', and the relay's topic check against
Mosquitto, with and without leave to subscribe to its probe."""
from __future__ import annotations

import re
import time
from collections import Counter

import pytest
from conftest import Mosquitto, _need_mosquitto, start_sandbox, stop_sandbox, wait_until
from loopback import RabbitMQ
from test_relay_e2e import ENV, PahoSubscribers, Relay, recorded

from coinsuper_cli.relay.probe import check_topics
from coinsuper_cli.relay.publisher import TargetOptions

BOOK = f"{ENV}/api/ws/v1/market/orderBook/BTC_USD/0.01"


@pytest.fixture(scope="module")
def rabbit(tmp_path_factory):
    if not RabbitMQ.available():
        pytest.skip("rabbitmq-server is not installed (Debian's rabbitmq-server package: "
                    ".ci/run installs it)")
    node = RabbitMQ(tmp_path_factory.mktemp("rabbit"))
    print(f"RabbitMQ started in {node.started_in:.1f} s")
    yield node
    node.stop()


def check(url: str) -> list[str]:
    said: list[str] = []
    check_topics(TargetOptions(url), url, [BOOK, f"{ENV}/api/ws/v1/market/depth/BTC_USD"],
                 warn=said.append, log=said.append)
    return said


def test_the_relay_at_qos2_forwards_everything_into_rabbitmq_and_names_its_rewrite(
        rabbit, tmp_path):
    """RabbitMQ answers QoS 2 with PUBACK: with the old code the relay stalled after
    its first 100 messages while saying "connected". A sandbox at 8× speed gives it
    several windows' worth."""
    sandbox, exports = start_sandbox("--ws-port", "0", "--tcp-port", "0", "--speed", "8")
    paho = PahoSubscribers(rabbit.tcp_port, 1, qos=1, prefix="rabbit")
    for client in paho.clients:  # guest may sign in from loopback
        client.username_pw_set("guest", "guest")
    try:
        paho.wait_subscribed()
        relay = Relay(tmp_path, ["BTC_USD", "ETH_BTC", "--url", exports["COINSUPER_URL"],
                                 "--to", rabbit.tcp_url, "--to-qos", "2", "--timeout", "10"])
        assert relay.wait(40) == 0, relay.log
        want = recorded(relay.record)
        summary = relay.summary()
        wait_until(lambda: len(paho.received[0]) >= len(want), 10, "every payload")
    finally:
        paho.stop()
        stop_sandbox(sandbox)
    log = relay.log
    assert len(want) > 250, len(want)  # well past the 100-message window
    assert summary["in"] == summary["out"] == len(want) and summary["dropped"] == 0, log
    # Every payload, each once, on its topic as RabbitMQ rewrites it.
    assert Counter(paho.received[0]) == Counter((t.replace(".", "/"), p) for t, p in want)
    assert log.count("downgraded QoS 2 to 1") == 1, log
    assert log.splitlines()[-1].endswith(", QoS 2 downgraded to 1")
    assert (f"relay: the broker at mqtt://***@127.0.0.1:{rabbit.tcp_port} rewrites topics "
            f"('{BOOK}' arrives as '{BOOK.replace('.', '/')}'): consumers of that topic "
            "will not find it") in log
    assert "stopped acknowledging" not in log and "lost (" not in log
    print(f"{len(want)} messages relayed into RabbitMQ at --to-qos 2")


def test_the_topic_check_against_rabbitmq_names_the_rewrite_of_the_book(rabbit):
    started = time.monotonic()
    said = check(rabbit.tcp_url)
    assert len(said) == 1 and "rewrites topics" in said[0] and "'.../" not in said[0]
    assert re.search(r"arrives as '.*/BTC_USD/0/01'", said[0])
    assert time.monotonic() - started < 5


def test_the_topic_check_against_mosquitto_finds_nothing_to_say(tmp_path):
    _need_mosquitto()
    broker = Mosquitto(tmp_path)
    try:
        assert check(broker.tcp_url) == [
            f"relay → {broker.tcp_url}: topics arrive unchanged"]
    finally:
        broker.stop()


def test_a_broker_that_refuses_the_probe_is_said_to_be_unchecked(tmp_path):
    """An ACL that lets anyone read and write only the exchange's topics: Mosquitto
    grants the probe's subscription but never delivers on it (a broker may also refuse
    it with SUBACK 0x80); the check gives up in its 5 s, saying it could not check."""
    _need_mosquitto()
    acl = tmp_path / "acl"
    acl.write_text(f"topic readwrite {ENV}/#\n")
    broker = Mosquitto(tmp_path, conf=[f"acl_file {acl}"])
    try:
        started = time.monotonic()
        said = check(broker.tcp_url)
        assert said == [f"relay: could not check that the broker at {broker.tcp_url} keeps "
                        "topics unchanged (the probe message did not come back within 5 s)"]
        assert time.monotonic() - started < 6
    finally:
        broker.stop()


def test_a_refused_probe_subscription_ends_the_check_at_once():
    from fakes import FakeClock, FakeNetwork, FakeTransport

    from coinsuper_cli.mqtt.packets import Publish, Subscribe
    from coinsuper_cli.relay.probe import ProbeFailed, delivered_topic

    clock = FakeClock()
    broker = FakeTransport(clock, granted=(0x80,))
    with pytest.raises(ProbeFailed, match="refused the probe's subscription"):
        delivered_topic(TargetOptions("mqtt://u:p@fake"), "coinsuper/probe/x/0.01",
                        connect=FakeNetwork(broker), monotonic=clock.now)
    assert broker.of_kind(Subscribe)[0].topics == (("coinsuper/probe/x/0.01", 0),)
    assert not broker.of_kind(Publish) and broker.closed and clock.now() == 1000.0
    silent = FakeTransport(clock)  # grants, never delivers: the deadline ends it
    with pytest.raises(ProbeFailed, match="did not come back within 5 s"):
        delivered_topic(TargetOptions("mqtt://fake"), "coinsuper/probe/x/0.01",
                        connect=FakeNetwork(silent), monotonic=clock.now)
    assert clock.now() == pytest.approx(1005.0) and silent.of_kind(Publish)
