"""The runner in-process: backoff, the stop switch, and several connections at once."""
import threading
import time

from peer import ScriptedPeer

from coinsuper_cli.exchange import public_sign_in
from coinsuper_cli.mqtt.packets import Disconnect, Publish
from coinsuper_cli.payloads import Feed
from coinsuper_cli.runner import ConnectionPlan, RunOptions, backoff_delay, run_connections


def test_backoff_doubles_from_half_a_second_to_thirty_with_jitter():
    low = [backoff_delay(n, uniform=lambda a, b: a) for n in range(1, 12)]
    high = [backoff_delay(n, uniform=lambda a, b: b) for n in range(1, 12)]
    assert high[:7] == [0.5, 1, 2, 4, 8, 16, 30]
    assert high[7:] == [30] * 4 and low[0] == 0.25 and low[-1] == 15
    assert backoff_delay(10_000, uniform=lambda a, b: b) == 30


def plan_for(url: str, topic: str) -> ConnectionPlan:
    feed = Feed(topic, "trade", "BTC_USD", lambda payload: [payload])
    return ConnectionPlan(url, lambda: public_sign_in(topic), (feed,))


def test_the_stop_switch_ends_every_connection_with_a_goodbye():
    goodbyes = []

    def script(peer):
        peer.send(Publish(peer.sign_in(), b"hello"))
        goodbyes.append(peer.wait_closed())

    peers = [ScriptedPeer(script), ScriptedPeer(script)]
    stop = threading.Event()
    got = []
    plans = [plan_for(p.url, f"env/t{i}") for i, p in enumerate(peers)]
    runner = threading.Thread(target=run_connections, args=(
        plans, RunOptions(stop=stop), lambda feed, payload: got.append(payload), lambda: None))
    runner.start()
    deadline = time.monotonic() + 10
    while len(got) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    stopped_at = time.monotonic()
    stop.set()
    runner.join(timeout=5)
    assert not runner.is_alive() and time.monotonic() - stopped_at < 1.5
    for peer in peers:
        peer.close()
    assert got == [b"hello", b"hello"]
    assert goodbyes == [[Disconnect()], [Disconnect()]]
