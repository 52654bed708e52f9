# The keyboard side of the live app: the terminal in cbreak mode (keys arrive one at a
# time, unechoed, while Ctrl-C still interrupts), always restored on the way out, and a
# read that waits for a key at most `timeout` seconds, which paces the redraw loop.
from __future__ import annotations

import os
import select
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO


class Keys:
    """Reads what was typed; without a terminal to read from, just waits."""

    def __init__(self, fd: int | None) -> None:
        self._fd = fd

    def read(self, timeout: float) -> str:
        if self._fd is None:
            time.sleep(timeout)
            return ""
        ready, _, _ = select.select([self._fd], [], [], timeout)
        if not ready:
            return ""
        data = os.read(self._fd, 64)
        if not data:  # end of input: stop reading it, keep waiting
            self._fd = None
        return data.decode("utf-8", "replace")


@contextmanager
def cbreak_keys(stream: TextIO) -> Iterator[Keys]:
    """Keys typed on `stream`, with the terminal in cbreak mode until the block ends."""
    try:
        import termios
        import tty

        fd = stream.fileno()
        saved = termios.tcgetattr(fd) if os.isatty(fd) else None
    except (ImportError, AttributeError, OSError, ValueError):
        saved = None
    if saved is None:
        yield Keys(None)
        return
    try:
        tty.setcbreak(fd, termios.TCSANOW)
        yield Keys(fd)
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
