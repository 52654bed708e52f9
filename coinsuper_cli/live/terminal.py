# The keyboard side of the live app: the terminal in cbreak mode (keys arrive one at a
# time, unechoed, while Ctrl-C still interrupts), always restored on the way out, and a
# read that waits for a key at most `timeout` seconds, which paces the redraw loop; and
# Ctrl-Z, which must hand the terminal back before the process stops.
from __future__ import annotations

import os
import select
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO


class Keys:
    """Reads what was typed; without a terminal to read from, just waits."""

    def __init__(self, fd: int | None, saved: list | None = None) -> None:
        self._fd = fd
        self._saved = saved

    def release(self) -> None:
        """Gives the terminal its own settings back (before a Ctrl-Z stop)."""
        if self._fd is not None and self._saved is not None:
            import termios

            termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)

    def reclaim(self) -> None:
        """Takes cbreak mode again (after `fg`)."""
        if self._fd is not None and self._saved is not None:
            import termios
            import tty

            tty.setcbreak(self._fd, termios.TCSANOW)

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
        yield Keys(fd, saved)
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


@contextmanager
def suspendable(keys: Keys, console, redraw) -> Iterator[None]:
    """Ctrl-Z gives the terminal back (its own settings, the normal screen, a cursor)
    before the process stops, and `fg` takes it again and asks for a redraw."""
    import signal
    import threading

    if not hasattr(signal, "SIGTSTP") or threading.current_thread() is not \
            threading.main_thread():
        yield
        return

    def stop(signum, frame) -> None:
        # The shell takes the terminal back as soon as it sees the job stop, perhaps
        # before this runs; from the background, setting the terminal would stop us by
        # SIGTTOU, and the `fg` meant for the stop below would only undo that one.
        previous_ttou = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
        try:
            keys.release()
            console.set_alt_screen(False)
            console.show_cursor(True)
        finally:
            signal.signal(signal.SIGTTOU, previous_ttou)
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTSTP)  # stops here until SIGCONT
        signal.signal(signal.SIGTSTP, stop)
        keys.reclaim()
        console.set_alt_screen(True)
        console.show_cursor(False)
        redraw()

    previous = signal.signal(signal.SIGTSTP, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTSTP, previous)
