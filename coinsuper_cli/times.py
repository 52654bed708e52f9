# Times a user types: ISO 8601 (UTC unless it says otherwise) or milliseconds since the
# epoch, as used by `replay --from/--to`.
from __future__ import annotations

from datetime import datetime, timezone

from .errors import UsageError


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
