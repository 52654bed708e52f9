# Full topics back into what they name, for the sandbox: which channel, which symbol,
# step, range or email. Built from the channel registry, so the topics the sandbox
# accepts are exactly the ones the client builds. Each topic field has one check,
# whatever the channel; a topic that names nothing the sandbox serves (unknown channel,
# symbol, step or range, a wildcard) parses to None.
from __future__ import annotations

import re
from collections.abc import Callable, Set
from dataclasses import dataclass

from ..api import channels
from ..api.exchange import INTERVALS, documented_steps

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
        return channels.get(self.channel).private


def _is_range(text: str) -> bool:
    # Canonical digits only: "060000" would be a second topic for the same candles.
    return text.isdigit() and str(int(text)) == text and int(text) in _RANGES


# field -> check(value, every field of the topic, served symbols). The topic carries a
# step's text, so "1" is not "1.0": steps compare as text. Any email of one topic level
# parses; the broker decides whose topic it is.
_CHECKS: dict[str, Callable[[str, dict[str, str], Set[str]], bool]] = {
    "symbol": lambda value, fields, symbols: value in symbols,
    "step": lambda value, fields, symbols: value in documented_steps(fields["symbol"]),
    "range": lambda value, fields, symbols: _is_range(value),
    "email": lambda value, fields, symbols: True,
}


def _compile(channel: channels.Channel) -> re.Pattern[str]:
    unchecked = set(channel.fields) - _CHECKS.keys()
    if unchecked:  # a new field needs a rule here before the sandbox can serve it
        raise LookupError(f"sandbox/topics.py has no check for {', '.join(unchecked)} "
                          f"of channel {channel.name!r}")
    return re.compile(channels.subtopic_regex(channel))


_PATTERNS = {name: _compile(channel) for name, channel in channels.CHANNELS.items()}


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
        for name, pattern in _PATTERNS.items():
            match = pattern.fullmatch(sub)
            if match is not None:
                fields = match.groupdict()
                if not all(_CHECKS[field](value, fields, self.symbols)
                           for field, value in fields.items()):
                    return None
                return TopicRef(name, fields.get("symbol", ""), fields.get("step", ""),
                                int(fields.get("range", 0)), fields.get("email", ""))
        return None

    def private_topic(self, channel: str, email: str) -> str:
        """The full topic of the demo account's private `channel`."""
        return channels.get(channel).topic(self.env, email=email)
