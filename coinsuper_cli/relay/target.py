# Where the relay writes: one small protocol for every downstream (an MQTT broker, a
# Redis stream), as cryptofeed's backends and logging.Handler are; registry.py chooses
# the implementation from the --to URL's scheme. The command drives a target only
# through this protocol: start, wait_ready, check, close, status. Each target takes its
# messages from the relay's one bounded queue (RelayQueue), in its own thread, so that
# a slow or absent target never blocks the exchange side.
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ..mqtt import DEFAULT_MAX_PACKET
from ..net.tls import TLSOptions

DEFAULT_MAX_LEN = 100_000  # a Redis stream's length, about (MAXLEN ~)
JOIN_UNCONNECTED = 0.5  # how long close waits for a thread still connecting


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
    max_packet: int = DEFAULT_MAX_PACKET
    log: Callable[[str], None] | None = None
    warn: Callable[[str], None] | None = None


class TargetThread:
    """What every target shares: a daemon thread that runs `run` (connect, write from
    the queue, reconnect by the policy), the events and counts the protocol reads, and
    the drain at close. A subclass writes `run`, says what is `pending`, and how long
    its connected thread may take to finish a write (`connected_join`).

    Args:
        log: the connection log (-v); warn: what is said whether -v or not (once: -v's
            log writes where warnings go).
    """

    thread_name = "coinsuper-relay-target"

    def __init__(self, queue, shown_url: str, *, log: Callable[[str], None] | None,
                 warn: Callable[[str], None] | None, connected_join: float) -> None:
        self.queue = queue
        self.shown_url = shown_url
        self.stopping = threading.Event()
        self.ready = threading.Event()  # first connection made, or given up
        self.state = "connecting"
        self.error: BaseException | None = None  # why it gave up, if it did
        self.published = 0  # messages written to the target
        self.reconnects = 0
        self._log_to, self._warn_to = log, warn
        self._connected_join = connected_join
        self._thread: threading.Thread | None = None

    @property
    def pending(self) -> int:
        """Messages taken from the queue and not yet written or acknowledged."""
        return 0

    def run(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name=self.thread_name, daemon=True)
        self._thread.start()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Until the first connection is made (True) or `timeout` seconds pass (False);
        raises what made it fail."""
        ready = self.ready.wait(timeout)
        self.check()
        return ready

    def check(self) -> None:
        """Raises the error that made the target give up, if it did."""
        if self.error is not None:
            raise self.error

    def close(self, drain: float = 5.0, *, monotonic: Callable[[], float] = time.monotonic
              ) -> None:
        """Writes what is still queued for up to `drain` seconds, then lets go."""
        deadline = monotonic() + drain
        thread = self._thread
        while (thread is not None and thread.is_alive() and self.state == "connected"
               and (len(self.queue) or self.pending) and monotonic() < deadline):
            self.stopping.wait(0.01)
        self.stopping.set()
        self.queue.wake()
        if thread is not None:
            # Its last write or goodbye is worth waiting for; a connect still under way
            # (a target that trickles its handshake) is not: the thread is a daemon.
            thread.join(timeout=self._connected_join if self.state == "connected"
                        else JOIN_UNCONNECTED)

    def _log(self, text: str) -> None:
        if self._log_to:
            self._log_to(text)

    def _warn(self, text: str) -> None:
        if self._warn_to:
            self._warn_to(text)
        else:
            self._log(text)
