"""Soak: a million trade pushes through `coinsuper trades --format jsonl`, with memory
flat: the de-duplication state is bounded and nothing accumulates per message."""
import json
import subprocess
import threading
import time

import pytest
from conftest import clean_env, coinsuper_command
from loopback import process_memory
from peer import ScriptedPeer

from coinsuper_cli.mqtt.codec import encode
from coinsuper_cli.mqtt.packets import Publish

pytestmark = pytest.mark.slow

MESSAGES = 1_000_000
BATCH = 2_000


def push(ts: int) -> bytes:
    """The trade at `ts` and the one before it, newest first, as the exchange repeats."""
    return json.dumps([
        {"symbol": "BTC/USD", "price": f"{6000 + t % 1000}.25", "quantity": "0.0100",
         "action": "BUY" if t % 2 else "SELL", "timestamp": t} for t in (ts, ts - 1)
    ], separators=(",", ":")).encode()


def test_a_million_messages_keep_memory_flat(tmp_path):
    # Set once a tenth and nine tenths of the pushes are out: the peer's sends block
    # while coinsuper's socket is full, so coinsuper is then about as far along.
    early, late = threading.Event(), threading.Event()

    def flood(peer):
        topic = peer.sign_in()
        for start in range(1, MESSAGES + 1, BATCH):
            peer.send_bytes(b"".join(encode(Publish(topic, push(ts)))
                                     for ts in range(start, start + BATCH)))
            sent = start + BATCH - 1
            if sent >= MESSAGES // 10:
                early.set()
            if sent >= MESSAGES * 9 // 10:
                late.set()
        peer.wait_closed(timeout=120)

    peer = ScriptedPeer(flood)
    out = tmp_path / "out.jsonl"
    started = time.monotonic()
    with out.open("wb") as sink:
        # count: the first push has two new trades, each later one has one
        client = subprocess.Popen(
            coinsuper_command() + ["trades", "BTC_USD", "--url", peer.url, "--format",
                                   "jsonl", "--count", str(MESSAGES + 1), "--stale-after", "0"],
            stdout=sink, stderr=subprocess.PIPE, env=clean_env())
    try:
        rss = {}
        for name, reached in (("early", early), ("late", late)):
            while not reached.wait(timeout=1):  # returns at once when set
                assert client.poll() is None and not peer.errors, (
                    f"the flood stopped before the {name} sample: {peer.errors}")
            rss[name] = process_memory(client.pid)[0]
        client.wait(timeout=240)
    finally:
        client.kill()
        _, err = client.communicate()
    elapsed = time.monotonic() - started
    assert client.returncode == 0, err
    peer.close()
    with out.open("rb") as lines:
        count = sum(1 for _ in lines)
    assert count == MESSAGES + 1
    mib = {name: value / 2**20 for name, value in rss.items()}
    print(f"\nsoak: {MESSAGES} messages in {elapsed:.1f} s ({MESSAGES / elapsed:,.0f}/s), "
          f"RSS {mib['early']:.1f} -> {mib['late']:.1f} MiB")
    assert mib["late"] - mib["early"] < 10, f"RSS grew {mib['late'] - mib['early']:.1f} MiB"
