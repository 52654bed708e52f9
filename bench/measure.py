# One measurement each: throughput into a file, publish-to-stdout latency, start-up
# time, memory across many messages, and the CPU cost of the live view. Every function
# cleans up the processes it starts, whatever happens.
from __future__ import annotations

import bisect
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness import Broker, Publisher, Subject, coinsuper_command
from loopback import process_cpu_seconds, process_memory, stop_process


class BenchError(RuntimeError):
    """A case could not be measured (a subscriber died, stalled or printed wrong)."""


def _expected_lines(subject: Subject, workload, n: int) -> int:
    """Lines printed for the retained message 0 and the n published after it."""
    return workload.total_records(0, n + 1) if subject.counts_records else n + 1


def _wait_for(condition, process: subprocess.Popen, timeout: float, what: str,
              errors: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            detail = errors.read_text(errors="replace")[-500:] if errors else ""
            raise BenchError(f"{what}: subscriber exited with {process.returncode} {detail}")
        if time.monotonic() > deadline:
            raise BenchError(f"{what}: timed out after {timeout:g} s")
        time.sleep(0.002)


# ------------------------------------------------------------------------- throughput

def throughput(broker: Broker, publisher: Publisher, subject: Subject, workload, n: int,
               env: str, workdir: Path, on_ready=None) -> float:
    """Messages per second from the first publish to the last byte in the output file.

    The subscriber first receives one retained message, so it is connected and
    subscribed before the clock starts; then n messages are published at once.
    `on_ready(process)` runs just before that (to attach a profiler).
    """
    topic = workload.topic(env)
    publisher.send(Publisher.packet(topic, workload.payload(0), retain=True))
    expected = _expected_lines(subject, workload, n)
    out, err = workdir / f"{env}.out", workdir / f"{env}.err"
    data = b"".join(Publisher.packet(topic, workload.payload(i)) for i in range(1, n + 1))
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(subject.command(broker, workload, env, expected),
                                   stdout=stdout, stderr=stderr)
    try:
        _wait_for(lambda: out.stat().st_size > 0, process, 20, subject.name, err)
        if on_ready:
            on_ready(process)
        start = time.time()
        publisher.send(data)
        try:
            process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            raise BenchError(f"{subject.name}: not done after 120 s") from None
        end = out.stat().st_mtime_ns / 1e9  # the last write, not the process's exit
    finally:
        stop_process(process)
    lines = out.read_bytes().count(b"\n")
    out.unlink()
    if process.returncode != 0 or lines != expected:
        raise BenchError(f"{subject.name}: exit {process.returncode}, {lines} lines, "
                         f"expected {expected}: {err.read_text(errors='replace')[-300:]}")
    return n / (end - start)


# ------------------------------------------------------------------------ line reader

class LineClock:
    """Reads a subscriber's stdout pipe in a thread and notes when each line arrived."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.lines = 0
        self.marks: list[tuple[int, float]] = []  # (lines so far, monotonic time)
        self._fd = process.stdout.fileno()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self._fd, 1 << 16)
            except OSError:
                return
            if not chunk:
                return
            now = time.monotonic()
            newlines = chunk.count(b"\n")
            if newlines:
                self.lines += newlines
                self.marks.append((self.lines, now))

    def time_of_line(self, line: int) -> float | None:
        """When line number `line` (1-based) had been read."""
        i = bisect.bisect_left(self.marks, (line, 0.0))
        return self.marks[i][1] if i < len(self.marks) else None

    def join(self) -> None:
        self._thread.join(timeout=5)


# ---------------------------------------------------------------------------- latency

def latency(broker: Broker, publisher: Publisher, subject: Subject, workload, n: int,
            rate: float, env: str, workdir: Path) -> list[float]:
    """Seconds from each publish to its last line on the subscriber's stdout."""
    topic = workload.topic(env)
    publisher.send(Publisher.packet(topic, workload.payload(0), retain=True))
    packets = [Publisher.packet(topic, workload.payload(i)) for i in range(n + 1)]
    err = workdir / f"{env}.err"
    with err.open("wb") as stderr:
        process = subprocess.Popen(subject.command(broker, workload, env, None),
                                   stdout=subprocess.PIPE, stderr=stderr)
    clock = LineClock(process)
    sent = [0.0] * (n + 1)
    try:
        _wait_for(lambda: clock.lines > 0, process, 20, subject.name, err)
        first = clock.lines
        start = time.monotonic()
        for i in range(1, n + 1):
            pause = start + i / rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            sent[i] = time.monotonic()
            publisher.send(packets[i])
        expected = _expected_lines(subject, workload, n)
        _wait_for(lambda: clock.lines >= expected, process, 10, subject.name, err)
    finally:
        stop_process(process)
        clock.join()
    delays = []
    for i in range(1, n + 1):
        if subject.counts_records and not workload.records_of(i):
            continue
        line = (_expected_lines(subject, workload, i) if subject.counts_records
                else i + first)
        delays.append(clock.time_of_line(line) - sent[i])
    return delays


# ----------------------------------------------------------------------------- memory

@dataclass
class MemoryTrace:
    messages: list[int] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)
    peak: int = 0
    seconds: float = 0.0


def memory(broker: Broker, publisher: Publisher, subject: Subject, workload, n: int,
           env: str, workdir: Path, *, checkpoints: tuple[int, ...],
           window: int = 2000) -> MemoryTrace:
    """RSS of the subscriber at each checkpoint (messages received) up to n messages.

    The publisher stays at most `window` messages ahead of the subscriber's output, so
    neither the broker's queue nor the pipe hides a slow subscriber.
    """
    topic = workload.topic(env)
    publisher.send(Publisher.packet(topic, workload.payload(0), retain=True))
    err = workdir / f"{env}.err"
    with err.open("wb") as stderr:
        process = subprocess.Popen(subject.command(broker, workload, env, None),
                                   stdout=subprocess.PIPE, stderr=stderr)
    clock = LineClock(process)
    trace = MemoryTrace()
    # lines_after[m]: lines printed once message m has been handled.
    lines_after = [0] * (n + 1)
    total = 0
    for m in range(n + 1):
        total += workload.records_of(m) if subject.counts_records else 1
        lines_after[m] = total
    pending = sorted({c for c in checkpoints if c <= n} | {n})
    try:
        _wait_for(lambda: clock.lines > 0, process, 20, subject.name, err)
        start = time.monotonic()
        sent = 0  # messages 1..sent published
        while pending:
            done = bisect.bisect_right(lines_after, clock.lines) - 1  # messages handled
            if done >= pending[0]:
                rss, peak = process_memory(process.pid)
                trace.messages.append(pending.pop(0))
                trace.rss.append(rss)
                trace.peak = peak
                continue
            if sent < n and sent - done < window:
                batch = range(sent + 1, min(sent + 500, n) + 1)
                publisher.send(b"".join(Publisher.packet(topic, workload.payload(i))
                                        for i in batch))
                sent = batch[-1]
                continue
            if process.poll() is not None:
                raise BenchError(f"{subject.name} exited with {process.returncode}")
            if time.monotonic() - start > 3600:
                raise BenchError(f"{subject.name}: memory run took over an hour")
            time.sleep(0.001)
        trace.seconds = time.monotonic() - start
    finally:
        stop_process(process)
        clock.join()
    return trace


# ---------------------------------------------------------------------------- startup

def wall_times(command: list[str], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=True, timeout=30)
        times.append(time.perf_counter() - start)
    return times


def time_to_first_line(command: list[str], timeout: float = 30) -> float:
    start = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        clock = LineClock(process)
        _wait_for(lambda: clock.lines > 0, process, timeout, " ".join(command[1:3]))
        return clock.marks[0][1] - start
    finally:
        stop_process(process)


def imports_rich(args: list[str]) -> bool:
    """Whether running coinsuper with these arguments imports rich."""
    probe = ("import sys\nfrom coinsuper_cli.cli.main import main\nmain(sys.argv[1:])\n"
             "print(any(m == 'rich' or m.startswith('rich.') for m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True,
                            timeout=60)
    return result.stdout.strip().splitlines()[-1] == b"True"


# --------------------------------------------------------------------------- live view

def has_live_view() -> bool:
    result = subprocess.run([coinsuper_command(), "watch", "--help"], capture_output=True,
                            text=True, timeout=30)
    return "live" in result.stdout


def live_view_cpu(command: list[str], seconds: float, *, warmup: float = 3.0) -> float:
    """CPU seconds per minute of a live view drawing into a 120x40 pseudo-terminal."""
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = dict(os.environ, TERM="xterm-256color", COLUMNS="120", LINES="40")
    process = subprocess.Popen(command, stdin=slave, stdout=slave, stderr=slave, env=env,
                               start_new_session=True)
    os.close(slave)

    def drain() -> None:
        while True:
            try:
                if not os.read(master, 1 << 16):
                    return
            except OSError:
                return

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        time.sleep(warmup)
        if process.poll() is not None:
            raise BenchError(f"live view exited with {process.returncode}")
        before = process_cpu_seconds(process.pid)
        time.sleep(seconds)
        if process.poll() is not None:
            raise BenchError(f"live view exited with {process.returncode}")
        used = process_cpu_seconds(process.pid) - before
    finally:
        stop_process(process)
        os.close(master)
        reader.join(timeout=2)
    return used * 60 / seconds
