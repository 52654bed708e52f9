# Times as users type them (ISO 8601, UTC unless it says otherwise, or milliseconds since
# the epoch: `replay --from/--to`, `--since`) and as text outputs write them (--time).
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import lru_cache

from ..errors import UsageError

TIME_FORMATS = ("ms", "s", "iso")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def parse_time_ns(text: str) -> int:
    """`2026-11-26T10:00:00Z`, `2026-11-26 10:00`, `2026-11-26` or `1795715589721` (ms)
    -> nanoseconds since the epoch."""
    text = text.strip()
    if text.isdigit():
        return int(text) * 1_000_000
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"not a time: {text!r}: use ISO 8601, like 2026-11-26T10:00:00Z, "
                         "or milliseconds since the epoch") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1_000_000) * 1000


def parse_since(text: str) -> str | int:
    """--since: "now" (resolved when the command starts) or a time, in ms."""
    if text.strip().lower() == "now":
        return "now"
    return parse_time_ns(text) // 1_000_000


@lru_cache(maxsize=4096)
def _iso_second(seconds: int) -> str:
    # A stream's times fall in few distinct seconds: each is formatted once.
    return (_EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")


def iso_ms(ms: int) -> str:
    """ISO 8601 in UTC with milliseconds: 2026-11-26T10:00:00.123Z. A time no calendar
    holds (a peer's garbage beyond the year 9999) stays the number it was."""
    seconds, millis = divmod(ms, 1000)
    try:
        return f"{_iso_second(seconds)}.{millis:03d}Z"
    except OverflowError:
        return str(ms)


def seconds_text(ms: int) -> str:
    """Seconds since the epoch with the milliseconds as decimals, exactly: 1795715589.721."""
    sign = "-" if ms < 0 else ""
    seconds, millis = divmod(abs(ms), 1000)
    return f"{sign}{seconds}.{millis:03d}"


# --time: how each format writes a time (ms since the epoch) as text.
TIME_TEXT = {"ms": int.__repr__, "s": seconds_text, "iso": iso_ms}
