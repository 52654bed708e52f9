# `coinsuper export` measured: its speed beside `coinsuper replay --format csv` on the same
# recording (ratios within each repetition), and its peak memory on a 1,000,000-push
# recording, read as VmHWM from /proc/self/status by the exporting process itself at
# its end (ru_maxrss of a child counts what its parent had before exec), with VmRSS
# sampled from outside while it runs to show that memory stays flat.
from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import workloads
from harness import coinsuper_command

BASE_NS = 1_795_000_000_000_000_000  # 2026-11-18 08:53:20 UTC: every push in one day
# Runs `coinsuper export ARGS` in this process, then says its own peak and its exit code.
_IN_PROCESS = ("import sys\n"
               "from coinsuper_cli.cli import main\n"
               "code = main(sys.argv[1:])\n"
               "peak = [l for l in open('/proc/self/status') if l.startswith('VmHWM')]\n"
               "print(peak[0].split()[1], code)\n")


def record(path: Path, kinds: list, n: int) -> None:
    """A recording of n pushes, taken in turn from each workload in `kinds`."""
    from coinsuper_cli.channels import feed_of
    from coinsuper_cli.recording import Recorder
    from coinsuper_cli.stream import Message

    recorder = Recorder(str(path), command=["bench"])
    feeds = [(kind, feed_of(kind.topic("bench"))) for kind in kinds]
    for i in range(n):
        kind, feed = feeds[i % len(feeds)]
        recorder.write(Message(feed, kind.payload(i // len(feeds)), BASE_NS + i * 1000),
                       None)
    recorder.close()


def speed_rows(workdir: Path, n: int, repeat: int) -> list[str]:
    """msg/s of replay --format csv, export (tardis) and export --format parquet on
    recordings of n trade, depth and book pushes."""
    coinsuper = coinsuper_command()
    rows = []
    for kind in (workloads.trades(), workloads.depth(), workloads.book()):
        path = workdir / f"export-{kind.name}.jsonl.gz"
        record(path, [kind], n)
        out = workdir / f"out-{kind.name}"
        cases = {
            "replay --format csv": [coinsuper, "replay", str(path), "--speed", "max",
                                    "--format", "csv"],
            "export": [coinsuper, "export", str(path), "--out", str(out), "--overwrite"],
            "export --format parquet": [coinsuper, "export", str(path), "--out", str(out),
                                        "--overwrite", "--format", "parquet"],
        }
        rates: dict[str, list[float]] = {name: [] for name in cases}
        for rep in range(repeat):
            for name, command in cases.items():
                started = time.monotonic()
                subprocess.run(command, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, check=True, timeout=1800)
                rates[name].append(n / (time.monotonic() - started))
                print(f"  export {kind.name:6} rep {rep + 1}: {name:26} "
                      f"{rates[name][-1]:9.0f} msg/s", file=sys.stderr)
        replay = rates["replay --format csv"]
        for name, mine in rates.items():
            ratios = [a / b for a, b in zip(mine, replay)]
            rows.append(f"| {n:,} {kind.name} pushes: coinsuper {name} | {_spread(mine)} "
                        f"msg/s | × replay csv {_spread(ratios, '{:.2f}')} | |")
    return rows


def memory_rows(workdir: Path, n: int) -> list[str]:
    """Peak RSS of exports of n pushes (trades, depth and book in turn), both formats."""
    path = workdir / "export-memory.jsonl.zst"
    started = time.monotonic()
    record(path, [workloads.trades(), workloads.depth(), workloads.book()], n)
    print(f"  export memory: recorded {n:,} pushes in {time.monotonic() - started:.0f} s "
          f"({path.stat().st_size / 1e6:.0f} MB)", file=sys.stderr)
    rows = []
    for fmt in ("tardis", "parquet"):
        out = workdir / f"out-memory-{fmt}"
        process = subprocess.Popen(
            [sys.executable, "-c", _IN_PROCESS, "export", str(path), "--out", str(out),
             "--overwrite", "--format", fmt], stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True)
        samples, started = [], time.monotonic()
        while process.poll() is None:
            try:
                with open(f"/proc/{process.pid}/status") as status:
                    rss = [line for line in status if line.startswith("VmRSS")]
                samples.append(int(rss[0].split()[1]) / 1024 if rss else 0)
            except OSError:
                pass
            time.sleep(0.5)
            if time.monotonic() - started > 3600:
                process.kill()
                raise RuntimeError("the export did not end within an hour")
        peak_kb, code = process.stdout.read().split()
        assert code == "0", code
        seconds = time.monotonic() - started
        tenths = [samples[len(samples) * k // 10] for k in (1, 5, 9)] if samples else []
        rows.append(f"| memory, {n:,} pushes (trades, depth, book): coinsuper export "
                    f"--format {fmt} | peak RSS {int(peak_kb) / 1024:.1f} MB (VmHWM); RSS "
                    f"at 10/50/90%: {', '.join(f'{mb:.1f}' for mb in tenths)} MB; "
                    f"{n / seconds:,.0f} msg/s | | |")
    return rows


def _spread(values: list[float], fmt: str = "{:,.0f}") -> str:
    ordered = sorted(values)
    median = ordered[len(ordered) // 2]
    return f"{fmt.format(median)} ({fmt.format(ordered[0])}–{fmt.format(ordered[-1])})"


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="coinsuper export: speed and memory")
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--memory-messages", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=("speed", "memory"))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="coinsuper-bench-export-") as tmp:
        if args.only in (None, "speed"):
            rows += speed_rows(Path(tmp), args.messages, args.repeat)
        if args.only in (None, "memory"):
            rows += memory_rows(Path(tmp), args.memory_messages)
    print("| case | median (min–max) | ratio | |")
    print("|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
