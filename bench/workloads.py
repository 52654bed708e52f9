# The messages the benchmark publishes: trade pushes and depth payloads made by the
# sandbox's simulated exchange, cached on disk because simulating takes a few seconds.
#
# Trade pushes repeat the latest 50 trades, and coinsuper's jsonl prints each trade once,
# so a cycled list would print nothing after its first lap. Instead every lap is the same
# pushes moved 10^8 ms later: all timestamps share the prefix "17000", and lap c rewrites
# it to 17000 + c with one bytes.replace (C speed, so the publisher keeps up). Each lap
# then prints exactly as many records as the first.
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from coinsuper_cli.api import channels

CACHE = Path(tempfile.gettempdir()) / "coinsuper-bench"
SYMBOL = "BTC_USD"
# After the simulator's 60 s warm-up, so every timestamp of every push starts with 17000.
START_MS = 1_700_010_000_000
_PREFIX = b'"timestamp":17000'
_LAP_SPAN_MS = 10**8  # what one step of the prefix adds
BOOK_STEP = "0.01"


@dataclass(frozen=True)
class Workload:
    """A list of distinct payloads, repeated in laps, and the records each one yields.

    Args:
        name: "trades" or "depth".
        command: the coinsuper command that subscribes to it.
        channel: the exchange channel (its name in coinsuper_cli.api.channels).
        base: the distinct payloads of one lap.
        records: jsonl records printed for each payload of a lap (trades: new trades).
        shift_laps: rewrite timestamps per lap (trades), or repeat payloads as they are.
    """

    name: str
    command: str
    channel: str
    base: tuple[bytes, ...]
    records: tuple[int, ...]
    shift_laps: bool
    step: str | None = None  # the book's aggregation step, part of its topic

    def topic(self, env: str) -> str:
        fields = {"symbol": SYMBOL} if self.step is None else {"symbol": SYMBOL,
                                                               "step": self.step}
        return channels.get(self.channel).topic(env, **fields)

    def payload(self, i: int) -> bytes:
        lap, k = divmod(i, len(self.base))
        if not self.shift_laps or lap == 0:
            return self.base[k]
        return self.base[k].replace(_PREFIX, b'"timestamp":%05d' % (17000 + lap))

    def records_of(self, i: int) -> int:
        """jsonl records that the payload i prints, when 0..i-1 came before it."""
        return self.records[i % len(self.base)]

    def total_records(self, start: int, stop: int) -> int:
        return sum(self.records_of(i) for i in range(start, stop))

    def size(self, i: int) -> int:
        return len(self.base[i % len(self.base)])


def _simulate_trades(count: int, seed: int) -> list[bytes]:
    from coinsuper_cli.sandbox.market import SimulatedExchange

    market = SimulatedExchange(seed=seed, symbols=[SYMBOL], start_ms=START_MS)
    pushes, last, now = [], None, START_MS
    while len(pushes) < count:
        now += 100
        market.advance(now)
        push = market.tickers(SYMBOL)
        if push != last:  # the exchange pushes when a trade happens
            pushes.append(push)
            last = push
    if now - START_MS >= _LAP_SPAN_MS // 2:
        raise ValueError("too many trade pushes for one lap of the timestamp rewrite")
    return pushes


def _simulate_depth(count: int, seed: int) -> list[bytes]:
    from coinsuper_cli.sandbox.market import SimulatedExchange

    market = SimulatedExchange(seed=seed, symbols=[SYMBOL], start_ms=START_MS)
    payloads, now = [], START_MS
    for _ in range(count):
        now += 500
        market.advance(now)
        payloads.append(market.depth(SYMBOL))
    return payloads


def _simulate_book(count: int, seed: int) -> list[bytes]:
    from coinsuper_cli.sandbox.market import SimulatedExchange

    market = SimulatedExchange(seed=seed, symbols=[SYMBOL], start_ms=START_MS)
    payloads, now = [], START_MS
    for _ in range(count):
        now += 500
        market.advance(now)
        payloads.append(market.order_book(SYMBOL, BOOK_STEP))
    return payloads


def _cached(name: str, count: int, seed: int, simulate) -> list[bytes]:
    path = CACHE / f"{name}-{count}-seed{seed}.txt"
    if path.exists():
        return path.read_bytes().split(b"\n")[:-1]
    payloads = simulate(count, seed)
    assert all(b"\n" not in p for p in payloads)
    CACHE.mkdir(exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_bytes(b"".join(p + b"\n" for p in payloads))
    tmp.replace(path)
    return payloads


def trades(count: int = 5000, seed: int = 7) -> Workload:
    base = _cached("trades", count, seed, _simulate_trades)
    parse = channels.new_parser("trade")
    records = tuple(len(parse(p)) for p in base)
    workload = Workload("trades", "trades", "trade", tuple(base), records, True)
    # Check the promise of the header: a second lap prints what the first printed.
    for i in range(len(base), len(base) + 200):
        got = len(parse(workload.payload(i)))
        if got != workload.records_of(i):
            raise AssertionError(f"lap 2 push {i} printed {got} records, "
                                 f"not {workload.records_of(i)}")
    return workload


def depth(count: int = 2000, seed: int = 7) -> Workload:
    base = _cached("depth", count, seed, _simulate_depth)
    return Workload("depth", "depth", "depth", tuple(base), (1,) * len(base), False)


def book(count: int = 2000, seed: int = 7) -> Workload:
    """Order book pushes (15 levels a side): export writes three rows of each."""
    base = _cached("book", count, seed, _simulate_book)
    return Workload("book", "book", "book", tuple(base), (1,) * len(base), False, BOOK_STEP)


# -- the relay's cost ------------------------------------------------------------------
# `coinsuper relay` and `coinsuper trades --format raw` receive the same trade pushes;
# the relay republishes them into a second broker. Each run's whole CPU time and peak
# RSS come from wait4 at its exit (start-up included); the cost per 1,000 messages is
# the difference between a run of n messages and one of a few, so start-up cancels out.

def relay_costs(source, target, publisher, workload, n: int, env: str,
                coinsuper: str) -> dict[str, tuple[float, int]]:
    """{subject: (CPU seconds, peak RSS bytes)} for n messages after a retained one.

    The peak is the process's own VmHWM, sampled while it runs: wait4's ru_maxrss would
    count the memory of the benchmark that forked it. The pushes go out in chunks, so
    that a million of them need not be built at once."""
    import os
    import subprocess
    import threading
    import time

    from harness import Publisher
    from loopback import process_memory

    topic = workload.topic(env)
    publisher.send(Publisher.packet(topic, workload.payload(0), retain=True))
    common = ["--url", source.url("mqtt"), "--env", env, "--count", str(n + 1)]
    subjects = {
        "raw": [coinsuper, "trades", "BTC_USD", "--format", "raw", *common],
        "relay": [coinsuper, "relay", "BTC_USD", "--channels", "trade",
                  "--to", target.tcp_url, "--buffer", str(n + 10), *common],
    }
    # Each record of each push as a jsonl line too, ~1.9 a push, each its own message.
    subjects["normalized"] = [*subjects["relay"], "--normalized",
                              "--buffer", str(3 * n + 10)]
    results = {}
    for name, command in subjects.items():
        process = subprocess.Popen(command, stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL)
        peak = [0]

        def sample(pid=process.pid, peak=peak) -> None:
            while True:
                try:
                    peak[0] = max(peak[0], process_memory(pid)[1])
                except (OSError, KeyError):  # gone, or a zombie without memory
                    return
                time.sleep(0.1)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        if name == "raw":
            process.stdout.readline()  # the retained message: subscribed
        else:
            time.sleep(1.5)  # connected both ways (it prints nothing)

        def send() -> None:
            for start in range(1, n + 1, 2000):
                publisher.send(b"".join(Publisher.packet(topic, workload.payload(i))
                                        for i in range(start, min(start + 2000, n + 1))))
        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        if name == "raw":
            for _ in process.stdout:
                pass
        _, status, usage = os.wait4(process.pid, 0)
        sender.join()
        sampler.join()
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            raise RuntimeError(f"{name}: exit {process.returncode}")
        results[name] = (usage.ru_utime + usage.ru_stime, peak[0])
    return results
