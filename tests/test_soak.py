"""Soak: a million trade pushes through `coinsuper trades --format jsonl`, with memory
flat: the de-duplication state is bounded and nothing accumulates per message."""
import json
import subprocess
import time
from pathlib import Path

from conftest import clean_env, coinsuper_command
from peer import ScriptedPeer

from coinsuper_cli.mqtt.codec import encode
from coinsuper_cli.mqtt.packets import Publish

MESSAGES = 1_000_000
BATCH = 2_000


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def push(ts: int) -> bytes:
    """The trade at `ts` and the one before it, newest first, as the exchange repeats."""
    return json.dumps([
        {"symbol": "BTC/USD", "price": f"{6000 + t % 1000}.25", "quantity": "0.0100",
         "action": "BUY" if t % 2 else "SELL", "timestamp": t} for t in (ts, ts - 1)
    ], separators=(",", ":")).encode()


def test_a_million_messages_keep_memory_flat(tmp_path):
    progress = {"sent": 0}

    def flood(peer):
        topic = peer.sign_in()
        for start in range(1, MESSAGES + 1, BATCH):
            peer.send_bytes(b"".join(encode(Publish(topic, push(ts)))
                                     for ts in range(start, start + BATCH)))
            progress["sent"] = start + BATCH - 1
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
        samples = {}
        while client.poll() is None:
            sent = progress["sent"]
            if sent >= MESSAGES // 10 and "early" not in samples:
                samples["early"] = rss_kib(client.pid)
            if sent >= MESSAGES * 9 // 10 and "late" not in samples:
                samples["late"] = rss_kib(client.pid)
            time.sleep(0.05)
            assert time.monotonic() - started < 240, "soak took too long"
    elapsed = time.monotonic() - started
    assert client.returncode == 0, client.stderr.read()
    peer.close()
    with out.open("rb") as lines:
        count = sum(1 for _ in lines)
    assert count == MESSAGES + 1
    growth_mib = (samples["late"] - samples["early"]) / 1024
    print(f"\nsoak: {MESSAGES} messages in {elapsed:.1f} s ({MESSAGES / elapsed:,.0f}/s), "
          f"RSS {samples['early'] / 1024:.1f} -> {samples['late'] / 1024:.1f} MiB")
    assert growth_mib < 10, f"RSS grew {growth_mib:.1f} MiB"
