# Full topics back into what they name, for the sandbox: which channel, which symbol,
# step, range or email. Built from exchange.SUBTOPICS, so the topics the sandbox accepts
# are exactly the ones the client builds. A topic that names nothing the sandbox serves
# (unknown channel, symbol, step or range, a wildcard) parses to None.
from __future__ import annotations

import re
from dataclasses import dataclass

from ..exchange import INTERVALS, PRIVATE_CHANNELS, SUBTOPICS, documented_steps

_FIELD = re.compile(r"\{(\w+)\}")
# What each template field may hold: one topic level, no wildcard (MQTT 3.1.1 §4.7.1).
_FIELD_PATTERN = r"(?P<{}>[^/+#]+)"
_RANGES = frozenset(INTERVALS.values())


@dataclass(frozen=True, slots=True)
class TopicRef:
    """What a full topic names. Unused fields are empty."""

    channel: str
    symbol: str = ""
    step: str = ""
    range_ms: int = 0
    email: str = ""

    @property
    def private(self) -> bool:
        return self.channel in PRIVATE_CHANNELS


def _compile(template: str) -> re.Pattern[str]:
    parts = _FIELD.split(template)
    # split() alternates literal text and field names: even indexes are literal.
    regex = "".join(re.escape(p) if i % 2 == 0 else _FIELD_PATTERN.format(p)
                    for i, p in enumerate(parts))
    return re.compile(regex)


_PATTERNS = {channel: _compile(template) for channel, template in SUBTOPICS.items()}


class TopicParser:
    """Parses full topics for one environment prefix and one set of symbols.

    Args:
        env: the topic prefix, like `exchange_ha_prod_hk`.
        symbols: the symbols served, in topic form (`BTC_USD`).
    """

    def __init__(self, env: str, symbols: tuple[str, ...]) -> None:
        self.env = env
        self.symbols = frozenset(symbols)

    def parse(self, full_topic: str) -> TopicRef | None:
        """What `full_topic` names, or None when the sandbox serves no such topic."""
        if "+" in full_topic or "#" in full_topic or not full_topic.startswith(self.env):
            return None
        sub = full_topic[len(self.env):]
        for channel, pattern in _PATTERNS.items():
            match = pattern.fullmatch(sub)
            if match is not None:
                return self._checked(channel, match.groupdict())
        return None

    def _checked(self, channel: str, fields: dict[str, str]) -> TopicRef | None:
        if "email" in fields:
            return TopicRef(channel, email=fields["email"])
        symbol = fields["symbol"]
        if symbol not in self.symbols:
            return None
        if channel == "book":
            # The topic carries the step's text, so "1" is not "1.0": compare as text.
            if fields["step"] not in documented_steps(symbol):
                return None
            return TopicRef(channel, symbol, step=fields["step"])
        if channel == "kline":
            text = fields["range"]
            if not text.isdigit() or str(int(text)) != text or int(text) not in _RANGES:
                return None
            return TopicRef(channel, symbol, range_ms=int(text))
        return TopicRef(channel, symbol)

    def private_topic(self, channel: str, email: str) -> str:
        return self.env + SUBTOPICS[channel].format(email=email)
