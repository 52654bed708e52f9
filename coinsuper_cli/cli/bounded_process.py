# A short-lived helper program (secret_key_command) run with everything bounded: at most
# `limit` bytes of its standard output are kept, it has `timeout` seconds, and it runs in
# a session of its own, so that whatever it started (`sh -c 'sleep 1000 & ...'`) is
# killed with it: its process group never outlives the call, whichever way the call ends
# (an answer, too much output, the timeout, Ctrl-C).
from __future__ import annotations

import os
import selectors
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass

POLL = 0.05       # how often a silent program is checked for having exited
KILL_WAIT = 5.0   # for a killed program to be reaped; SIGKILL cannot be caught


class OutputTooLong(Exception):
    """The program printed more than the limit; what it printed is not kept."""


@dataclass(frozen=True, slots=True)
class Completed:
    """A program that has exited: its status (negative: the signal) and its output."""

    returncode: int
    stdout: bytes


def run_bounded(argv: Sequence[str], *, limit: int, timeout: float) -> Completed:
    """Runs `argv` without a shell, stdin /dev/null, stderr the caller's.

    Raises what subprocess.Popen raises for a program that cannot start (OSError,
    ValueError), subprocess.TimeoutExpired when the program has not exited and closed
    its output within `timeout` seconds, OutputTooLong past `limit` bytes of output.
    """
    # A session of its own: the group can be killed whole, and Ctrl-C at the terminal
    # reaches coinsuper, which then kills the group, rather than the program alone.
    process = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, start_new_session=True)
    try:
        out = _read(process, limit, time.monotonic() + timeout, argv, timeout)
    finally:
        _kill_group(process)
    if process.returncode is None:  # pragma: no cover - not reaped even after SIGKILL
        raise subprocess.TimeoutExpired(list(argv), timeout)
    return Completed(process.returncode, out)


def _read(process: subprocess.Popen, limit: int, deadline: float, argv: Sequence[str],
          timeout: float) -> bytes:
    """The program's output until end of file, or until it has exited and the pipe is
    empty: a child it left behind (`cmd &`) may hold the pipe open for ever."""
    fd = process.stdout.fileno()
    chunks: list[bytes] = []
    size, exited = 0, False
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired(list(argv), timeout)
            if selector.select(0 if exited else min(left, POLL)):
                chunk = os.read(fd, min(65536, limit + 1 - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                if size > limit:
                    raise OutputTooLong(limit)
            elif exited:
                break  # what it printed before exiting was in the pipe: all read
            else:
                exited = process.poll() is not None
    return b"".join(chunks)


def _kill_group(process: subprocess.Popen) -> None:
    """SIGKILL to the program's process group, then the program reaped. Its group id
    is its pid, which the system gives no new process while a member of the group is
    left, so the signal cannot reach a stranger."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # nothing of the group is left
    process.stdout.close()
    try:
        process.wait(timeout=KILL_WAIT)
    except subprocess.TimeoutExpired:  # pragma: no cover - stuck in the kernel
        pass
