# What the sandbox's log may show of what a client sent, and how often. Every string
# that came from the network is shortened and made printable before it reaches a
# terminal (C0 and C1 controls, ESC included, appear as \x1b-style escapes, never raw:
# printable.py's rule, the client's too); client ids and user names, which may be an
# access key, are masked; and a rate limit keeps a client from turning its packets into a
# flood of log lines.
from __future__ import annotations

import sys
from collections.abc import Callable

from ..printable import printable

SHOWN_CHARS = 80  # of a topic or any other network string in a log line
LOG_LINES_PER_SECOND = 20  # -v's steady rate; past it, lines are counted, not written
LOG_BURST = 50  # lines written at once before the rate applies


def warn_on_stderr(text: str) -> None:
    """One warning line on stderr, whatever came from the network in it escaped."""
    print(f"coinsuper: {printable(text)}", file=sys.stderr, flush=True)


def shown(text: str, limit: int = SHOWN_CHARS) -> str:
    """A network string for a log line: quoted, escaped, and cut to `limit` characters
    with a count of the rest."""
    if len(text) <= limit:
        return f"'{printable(text)}'"
    return f"'{printable(text[:limit])}'…(+{len(text) - limit} chars)"


def masked(text: str, keep: int = 4) -> str:
    """A client id or user name, which may be an access key: its ends alone
    (`ACCE…3456`), like `coinsuper topics` shows a key."""
    if len(text) <= 2 * keep:
        return "*" * len(text)
    return f"{printable(text[:keep])}…{printable(text[-keep:])}"


class LogLimiter:
    """A log callable that writes at most `rate` lines a second after a burst of `burst`
    (a token bucket) and says how many it held back once it may write again.

    Args:
        log: writes one line.
        clock: monotonic seconds (the broker's, so tests move it).
    """

    def __init__(self, log: Callable[[str], None], clock: Callable[[], float], *,
                 rate: float = LOG_LINES_PER_SECOND, burst: int = LOG_BURST) -> None:
        self._log = log
        self._clock = clock
        self._rate = rate
        self._burst = burst
        self._tokens = float(burst)
        self._at = clock()
        self.suppressed = 0  # lines held back since the last one written

    def _take(self) -> bool:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    def __call__(self, line: str) -> None:
        if not self._take():
            self.suppressed += 1
            return
        self._flush_count()
        self._log(printable(line))  # the last guard, for whatever a caller forgot

    def flush(self) -> None:
        """Report lines held back, if the rate allows a line now (housekeeping)."""
        if self.suppressed and self._take():
            self._flush_count()

    def _flush_count(self) -> None:
        if self.suppressed:
            count, self.suppressed = self.suppressed, 0
            self._log(f"{count} more log lines suppressed "
                      f"(at most {self._rate:g} a second are written)")
