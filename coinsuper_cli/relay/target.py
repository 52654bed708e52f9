# Where the relay writes: one small protocol for every downstream (an MQTT broker, a
# Redis stream), as cryptofeed's backends and logging.Handler are; registry.py chooses
# the implementation from the --to URL's scheme. The command drives a target only
# through this protocol: start, wait_ready, check, close, status. Each target takes its
# messages from the relay's one bounded queue (RelayQueue), in its own thread, so that
# a slow or absent target never blocks the exchange side.
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ..tls import TLSOptions

DEFAULT_MAX_LEN = 100_000  # a Redis stream's length, about (MAXLEN ~)


@dataclass(frozen=True, slots=True)
class TargetStatus:
    """One moment of a target, as the status line and the live view read it."""

    target: str  # its URL, without credentials
    state: str = "connecting"  # connecting, connected, reconnecting, closed
    published: int = 0  # messages written to the target
    delivered: int = 0  # of those, acknowledged (MQTT QoS 0: written)
    pending: int = 0  # taken from the queue, not yet acknowledged
    reconnects: int = 0
    rejected: int = 0  # refused by the target one by one (counted as dropped)
    downgraded: bool = False  # MQTT: the broker answered QoS 2 with PUBACK


class Target(Protocol):
    """A relay's downstream: publishes what the queue holds until closed."""

    def start(self) -> None:
        """Starts its thread: connecting, then publishing from the queue."""

    def wait_ready(self, timeout: float | None) -> bool:
        """Until the first connection is made (True) or `timeout` passes (False); raises
        why the target gave up (a refused sign-in, a target never reached)."""

    def check(self) -> None:
        """Raises the error that made the target give up, if it did."""

    def close(self, drain: float) -> None:
        """Writes what is still queued for up to `drain` seconds, then lets go."""

    def status(self) -> TargetStatus: ...


@dataclass(frozen=True, slots=True)
class TargetSettings:
    """What every target may use of the relay's options; each takes what applies."""

    url: str
    topics: tuple[str, ...] = ()  # the upstream topics (the MQTT topic check)
    qos: int | None = None  # --to-qos as given (None: not given)
    max_len: int | None = None  # --max-len as given (None: not given)
    keepalive: int = 60
    tls: TLSOptions = TLSOptions()
    proxy: str | None = None  # the proxy that applies to `url`, or None
    max_packet: int = 1024 * 1024
    log: Callable[[str], None] | None = None
    warn: Callable[[str], None] | None = None
