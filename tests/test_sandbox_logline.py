# What the sandbox's log shows of a network string, and how often it writes.
from __future__ import annotations

from coinsuper_cli.sandbox.logline import LogLimiter, masked, shown


def test_shown_is_printable_quoted_and_short():
    assert shown("plain/topic") == "'plain/topic'"
    assert shown("\x1b[2J\x9b\x00\x7f") == "'\\x1b[2J\\x9b\\x00\\x7f'"
    long = shown("\x1b" + "x" * 65_000)
    assert long.startswith("'\\x1b" + "x" * 79 + "'") and long.endswith("…(+64921 chars)")


def test_masked_keeps_the_ends_alone():
    assert masked("ACCE0123456789abcdef012345673456") == "ACCE…3456"
    assert masked("short") == "*****"
    assert masked("\x1b]0;" + "k" * 40 + "\x07\x9b") == "\\x1b]0;…kk\\x07\\x9b"


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_limiter_burst_then_rate_then_says_how_many_were_held_back():
    clock, lines = Clock(), []
    log = LogLimiter(lines.append, clock, rate=10, burst=5)
    for i in range(100):
        log(f"line {i}")
    assert lines == [f"line {i}" for i in range(5)] and log.suppressed == 95
    log.flush()  # no token yet: still held back
    assert len(lines) == 5
    clock.now += 0.5  # five lines' worth
    log.flush()
    assert lines[-1] == "95 more log lines suppressed (at most 10 a second are written)"
    log("after")
    assert lines[-1] == "after" and log.suppressed == 0
    clock.now += 3600  # the burst refills, no further
    for i in range(10):
        log("again")
    assert lines.count("again") == 5


def test_limiter_escapes_what_a_caller_forgot():
    lines = []
    LogLimiter(lines.append, Clock())("closed: \x1b]0;owned\x07")
    assert lines == ["closed: \\x1b]0;owned\\x07"]
