#!/usr/bin/env python
# The benchmark in one command: `python bench/run.py` (a few minutes) or `--full` (adds
# 1,000,000-message memory runs and a longer live-view sample). Starts its own mosquitto
# and prints one Markdown table; every ratio is taken within one repetition, then the
# median over repetitions is shown with its spread (min-max).
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

# Its sibling modules import as top-level names: Python puts a script's own directory
# first on sys.path.
import measure
import workloads
from harness import Broker, Publisher, Subject, coinsuper_command

SUBJECTS = (
    Subject("coinsuper raw, ws", "coinsuper", "ws", "raw"),
    Subject("coinsuper raw, mqtt", "coinsuper", "mqtt", "raw"),
    Subject("coinsuper jsonl, ws", "coinsuper", "ws", "jsonl"),
    Subject("coinsuper jsonl, mqtt", "coinsuper", "mqtt", "jsonl"),
    Subject("mosquitto_sub, mqtt", "mosquitto_sub", "mqtt"),
    Subject("paho-mqtt, ws", "paho", "ws"),
    Subject("paho-mqtt, mqtt", "paho", "mqtt"),
)
MOSQUITTO, PAHO_WS = "mosquitto_sub, mqtt", "paho-mqtt, ws"


def spread(values: list[float], fmt: str = "{:.0f}") -> str:
    if len(values) == 1:
        return fmt.format(values[0])
    return (fmt.format(statistics.median(values)) + " (" + fmt.format(min(values)) + "–"
            + fmt.format(max(values)) + ")")


def throughput_rows(broker, publisher, workdir, args) -> list[str]:
    rows = []
    for workload, n in ((workloads.trades(), args.messages),
                        (workloads.depth(), args.messages)):
        rates: dict[str, list[float]] = {s.name: [] for s in SUBJECTS}
        for rep in range(args.repeat):
            order = SUBJECTS if rep % 2 == 0 else tuple(reversed(SUBJECTS))
            for k, subject in enumerate(order):
                env = f"tp_{workload.name}_{rep}_{k}"
                rate = measure.throughput(broker, publisher, subject, workload, n, env,
                                          workdir)
                rates[subject.name].append(rate)
                print(f"  {workload.name:6} rep {rep + 1}: {subject.name:24} {rate:9.0f} "
                      "msg/s", file=sys.stderr)
        per_push = workload.total_records(1, n + 1) / n
        for subject in SUBJECTS:
            mine = rates[subject.name]
            to_mosq = [a / b for a, b in zip(mine, rates[MOSQUITTO])]
            to_paho = [a / b for a, b in zip(mine, rates[PAHO_WS])]
            note = (f"; {statistics.median(mine) * per_push:.0f} records/s"
                    if subject.counts_records and per_push != 1 else "")
            rows.append(f"| {workload.name}: {subject.name} | {spread(mine)} msg/s{note} | "
                        f"{spread(to_mosq, '{:.2f}')} | {spread(to_paho, '{:.2f}')} |")
    return rows


def latency_rows(broker, publisher, workdir, args) -> list[str]:
    rows = []
    workload = workloads.trades()
    subjects = [s for s in SUBJECTS if s.name in (
        "coinsuper raw, ws", "coinsuper jsonl, ws", MOSQUITTO, PAHO_WS)]
    for subject in subjects:
        p50s, p99s = [], []
        for rep in range(args.repeat):
            delays = sorted(measure.latency(broker, publisher, subject, workload,
                                            args.latency_messages, 1000.0,
                                            f"lat_{rep}_{len(rows)}", workdir))
            p50s.append(delays[len(delays) // 2] * 1000)
            p99s.append(delays[int(len(delays) * 0.99)] * 1000)
        rows.append(f"| latency at 1,000 msg/s: {subject.name} | p50 {spread(p50s, '{:.2f}')}"
                    f" ms, p99 {spread(p99s, '{:.2f}')} ms | | |")
    return rows


def startup_rows(args) -> list[str]:
    coinsuper = coinsuper_command()
    rows = []
    for label, command in (("python -c pass (the floor)", [sys.executable, "-c", "pass"]),
                           ("coinsuper --version", [coinsuper, "--version"]),
                           ("coinsuper --help", [coinsuper, "--help"])):
        times = [t * 1000 for t in measure.wall_times(command, 10)]
        rows.append(f"| start-up: {label} | {spread(times, '{:.0f}')} ms | | |")
    for channel in ("depth", "trades"):
        times = [measure.time_to_first_line([coinsuper, channel, "BTC_USD", "--sandbox",
                                             "--format", "jsonl"]) * 1000
                 for _ in range(args.repeat)]
        rows.append(f"| start-up: `coinsuper {channel} BTC_USD --sandbox` to the first "
                    f"record | {spread(times, '{:.0f}')} ms | | |")
    return rows


def rich_rows(broker, publisher) -> list[str]:
    workload = workloads.trades()
    rows = []
    for fmt in ("raw", "jsonl"):
        env = f"rich_{fmt}"
        publisher.send(Publisher.packet(workload.topic(env), workload.payload(0), retain=True))
        found = measure.imports_rich(["trades", "BTC_USD", "--url", broker.url("mqtt"),
                                      "--env", env, "--format", fmt, "--count", "1"])
        rows.append(f"| `--format {fmt}` imports rich | {'yes' if found else 'no'} | | |")
    return rows


def memory_rows(broker, publisher, workdir, args) -> list[str]:
    rows = []
    n = args.memory_messages
    checkpoints = (10_000, n // 4, n // 2, 3 * n // 4, n)
    for subject, workload in ((SUBJECTS[0], workloads.trades()),
                              (SUBJECTS[2], workloads.trades())):
        trace = measure.memory(broker, publisher, subject, workload, n,
                               f"mem_{subject.fmt}", workdir, checkpoints=checkpoints)
        mb = [r / 2**20 for r in trace.rss]
        growth = mb[-1] - mb[0]
        path = ", ".join(f"{m:,}: {r:.1f}" for m, r in zip(trace.messages, mb))
        rows.append(f"| memory, {n:,} trade pushes: {subject.name} | peak RSS "
                    f"{trace.peak / 2**20:.1f} MB, growth after 10,000: {growth:+.1f} MB "
                    f"(RSS MB at {path}) | | |")
    return rows


def replay_rows(workdir: Path, args) -> list[str]:
    """`coinsuper replay --speed max` of a recording, jsonl, raw and csv, beside the
    pipeline a person would otherwise use on the same file: zcat | jq -c '.payload |
    fromjson'. csv's ratio to jsonl is in its row too."""
    import shutil
    import subprocess

    from coinsuper_cli.api.channels import feed_of
    from coinsuper_cli.api.stream import Message
    from coinsuper_cli.recordings.writer import Recorder

    if not shutil.which("jq"):
        return ["| replay | not measured: jq is not installed | | |"]
    coinsuper = coinsuper_command()
    n = args.replay_messages
    rows = []
    for workload in (workloads.trades(), workloads.depth()):
        path = workdir / f"replay-{workload.name}.jsonl.gz"
        recorder = Recorder(str(path), command=["bench"])
        feed = feed_of(workload.topic("bench"))
        for i in range(n):
            recorder.write(Message(feed, workload.payload(i), 1_795_000_000_000_000_000 + i),
                           None)
        recorder.close()
        cases = {
            "coinsuper replay --format jsonl": [coinsuper, "replay", str(path), "--speed",
                                                "max", "--format", "jsonl"],
            "coinsuper replay --format raw": [coinsuper, "replay", str(path), "--speed",
                                              "max", "--format", "raw"],
            "coinsuper replay --format csv": [coinsuper, "replay", str(path), "--speed",
                                              "max", "--format", "csv"],
            "zcat | jq -c '.payload | fromjson'": [
                "sh", "-c", f"zcat {path} | jq -c '.payload | fromjson'"],
        }
        rates: dict[str, list[float]] = {name: [] for name in cases}
        for rep in range(args.repeat):
            for name, command in cases.items():
                started = time.monotonic()
                # jq says once that the recording's first line (its start event) has no
                # payload; that line is not counted.
                subprocess.run(command, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, check=True)
                rates[name].append(n / (time.monotonic() - started))
                print(f"  replay {workload.name:6} rep {rep + 1}: {name:36} "
                      f"{rates[name][-1]:9.0f} msg/s", file=sys.stderr)
        jq = rates["zcat | jq -c '.payload | fromjson'"]
        jsonl = rates["coinsuper replay --format jsonl"]
        for name, mine in rates.items():
            to_jq = [a / b for a, b in zip(mine, jq)]
            to_jsonl = ""
            if name.endswith("csv"):
                ratios = [a / b for a, b in zip(mine, jsonl)]
                to_jsonl = f"× jsonl {spread(ratios, '{:.2f}')}"
            rows.append(f"| replay {n:,} {workload.name} pushes: {name} | {spread(mine)} "
                        f"msg/s | × jq {spread(to_jq, '{:.2f}')} | {to_jsonl} |")
    return rows


def relay_rows(broker, publisher, workdir, args) -> list[str]:
    """CPU per 1,000 relayed trade pushes of `coinsuper relay` into a second mosquitto,
    beside `coinsuper trades --format raw` receiving the same pushes, and each one's
    peak RSS over the run."""
    from loopback import Mosquitto

    target_dir = workdir / "relay-target"
    target_dir.mkdir()
    target = Mosquitto(target_dir)
    coinsuper = coinsuper_command()
    n, few = args.relay_messages, 1000
    try:
        per_k: dict[str, list[float]] = {"raw": [], "relay": [], "normalized": []}
        rss: dict[str, int] = {"raw": 0, "relay": 0, "normalized": 0}
        for rep in range(args.repeat):
            big = workloads.relay_costs(broker, target, publisher, workloads.trades(), n,
                                        f"relay_big_{rep}", coinsuper)
            small = workloads.relay_costs(broker, target, publisher, workloads.trades(),
                                          few, f"relay_small_{rep}", coinsuper)
            for name in per_k:
                per_k[name].append((big[name][0] - small[name][0]) / (n - few) * 1000)
                rss[name] = max(rss[name], big[name][1])
            print(f"  relay rep {rep + 1}: raw {per_k['raw'][-1]:.3f}, relay "
                  f"{per_k['relay'][-1]:.3f}, --normalized {per_k['normalized'][-1]:.3f} "
                  "CPU s per 1,000", file=sys.stderr)
    finally:
        target.stop()
    ratio = [r / w for r, w in zip(per_k["relay"], per_k["raw"])]
    normalized = [r / w for r, w in zip(per_k["normalized"], per_k["relay"])]
    return [f"| relay: `coinsuper relay` of {n:,} trade pushes into a second mosquitto | "
            f"{spread(per_k['relay'], '{:.3f}')} CPU s per 1,000, peak RSS "
            f"{rss['relay'] / 2**20:.1f} MB | × raw {spread(ratio, '{:.2f}')} | |",
            f"| relay: the same with `--normalized` | "
            f"{spread(per_k['normalized'], '{:.3f}')} CPU s per 1,000, peak RSS "
            f"{rss['normalized'] / 2**20:.1f} MB | × relay {spread(normalized, '{:.2f}')} | |",
            f"| relay: `coinsuper trades --format raw` of the same | "
            f"{spread(per_k['raw'], '{:.3f}')} CPU s per 1,000, peak RSS "
            f"{rss['raw'] / 2**20:.1f} MB | | |"]


def live_rows(args) -> list[str]:
    if not measure.has_live_view():
        return ["| live view: `coinsuper watch BTC_USD --sandbox` | not measured: this "
                "build has no `--format live` yet | | |"]
    per_minute = [measure.live_view_cpu([coinsuper_command(), "watch", "BTC_USD",
                                         "--sandbox", "--format", "live"], args.live_seconds)
                  for _ in range(max(1, args.repeat // 2))]
    return [f"| live view: `coinsuper watch BTC_USD --sandbox` (sandbox in-process) | "
            f"{spread(per_minute, '{:.2f}')} CPU s/min | | |", board_row(args)]


def board_row(args) -> str:
    """The markets board of eight markets, drawn from a sandbox in a process of its own,
    so that only the board's CPU is counted (target: 1.5 CPU s a minute)."""
    import re
    import subprocess

    from loopback import stop_process

    from coinsuper_cli.api.exchange import MARKETS

    sandbox = subprocess.Popen([coinsuper_command(), "sandbox", "--ws-port", "0",
                                "--tcp-port", "0", "--symbols", ",".join(MARKETS)],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        banner = ""
        while "COINSUPER_URL" not in banner:
            line = sandbox.stdout.readline()
            if not line:
                raise measure.BenchError("the sandbox did not start")
            banner += line
        url = re.search(r"ws://\S+", banner)[0]
        per_minute = [measure.live_view_cpu([coinsuper_command(), "markets", *MARKETS,
                                             "--url", url, "--format", "live"],
                                            args.live_seconds)
                      for _ in range(max(1, args.repeat // 2))]
    finally:
        stop_process(sandbox)
    return (f"| markets board: `coinsuper markets` of {len(MARKETS)} markets (sandbox in a "
            f"process of its own) | {spread(per_minute, '{:.2f}')} CPU s/min | 1.5 | |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full", action="store_true",
                        help="add 1,000,000-message memory runs and a 60 s live-view sample")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--messages", type=int, default=20_000,
                        help="messages per throughput run")
    parser.add_argument("--only", choices=("throughput", "latency", "startup", "memory",
                                           "live", "replay", "relay", "export"),
                        action="append")
    parser.add_argument("--replay-messages", type=int, default=100_000,
                        help="messages in each replayed recording")
    parser.add_argument("--relay-messages", type=int, default=None,
                        help="messages per relay cost run [default: 20,000; --full: "
                             "1,000,000]")
    args = parser.parse_args()
    if args.relay_messages is None:
        args.relay_messages = 1_000_000 if args.full else 20_000
    args.latency_messages = 3000
    args.memory_messages = 1_000_000 if args.full else 100_000
    args.live_seconds = 60 if args.full else 20
    parts = set(args.only or ("throughput", "latency", "startup", "memory", "live",
                              "replay", "relay", "export"))

    started = time.time()
    rows = []
    with tempfile.TemporaryDirectory(prefix="coinsuper-bench-") as tmp:
        workdir = Path(tmp)
        broker = Broker(workdir)
        try:
            publisher = Publisher(broker.tcp_port)
            if "throughput" in parts:
                rows += throughput_rows(broker, publisher, workdir, args)
            if "latency" in parts:
                rows += latency_rows(broker, publisher, workdir, args)
            if "startup" in parts:
                rows += startup_rows(args) + rich_rows(broker, publisher)
            if "memory" in parts:
                rows += memory_rows(broker, publisher, workdir, args)
            if "relay" in parts:
                rows += relay_rows(broker, publisher, workdir, args)
            publisher.close()
        finally:
            broker.stop()
        if "replay" in parts:
            rows += replay_rows(workdir, args)
        if "export" in parts:
            import export_cases  # bench/export_cases.py; also runs alone

            rows += export_cases.speed_rows(workdir, args.replay_messages, args.repeat)
            rows += export_cases.memory_rows(workdir, 1_000_000 if args.full else 100_000)
    if "live" in parts:
        rows += live_rows(args)

    print(f"coinsuper benchmark, {time.strftime('%Y-%m-%d')}, {platform.node()}: "
          f"{platform.machine()}, {_cpus()} CPUs, Python {platform.python_version()}, "
          f"{args.repeat} repetitions, {args.messages:,} messages per throughput run, "
          f"{time.time() - started:.0f} s in all\n")
    print("| case | median (min–max) | × mosquitto_sub | × paho-mqtt ws |")
    print("|---|---|---|---|")
    print("\n".join(rows))


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    main()
