# The reconnect rule, written once, as a value: the runner (each exchange connection)
# and the relay's publisher (its target) tell it how a connection ended and it answers
# what now: connect again at a given time, or give up. It reads no clock, sleeps on
# nothing and touches no socket, so it is tested as a plain function of time and
# outcomes (tests/test_reconnect.py); the waiting is the callers' own loop.
#
# The rule:
# - The first connection: a failure before any connection got going is final. A wrong
#   URL, password or certificate, or a broker that hangs up at once, stays wrong;
#   retrying would only hide it (a streaming command exits 4, the relay says why).
# - Attempts: a connection that carried something (a message delivered) starts the
#   count again, so `retries` bounds failures in a row: None is forever, 0 is never.
# - Delays: exponential from `first` to `cap`, jittered within the upper half of each
#   step, so that many clients cut off together do not all come back in one instant.
from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0
NEVER_CONNECTED = "never connected"
RETRIES_SPENT = "retries spent"


@dataclass(frozen=True, slots=True)
class Lost:
    """How a connection that failed had gone.

    Args:
        got_going: it reached the point from which a connection counts as made: the
            runner's, its subscription confirmed (SUBACK); the relay's, its CONNACK.
        carried: it delivered at least one message before it was lost.
    """

    got_going: bool = False
    carried: bool = False


@dataclass(frozen=True, slots=True)
class Reconnect:
    """Connect again at `at` (`delay` seconds after the loss); `attempt` is the attempt
    that will be, 1 for the first after a connection that carried something."""

    attempt: int
    delay: float
    at: float


@dataclass(frozen=True, slots=True)
class GiveUp:
    """Stop: `reason` is NEVER_CONNECTED (the first-connection rule) or RETRIES_SPENT
    (`retries` attempts in a row failed)."""

    reason: str
    retries: int | None = None


Decision = Reconnect | GiveUp


@dataclass(frozen=True, slots=True)
class ReconnectState:
    """What the policy remembers between losses."""

    attempt: int = 0  # the latest attempt's number in the current run of failures
    connected: bool = False  # some connection got going (the first-connection rule)


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """When to connect again, and when to stop trying.

    Args:
        first: the first step's delay at its top, in seconds.
        cap: no delay is longer.
        retries: attempts in a row after a loss before giving up; None: forever.
        first_failure_final: a failure before any connection got going gives up.
        uniform: the jitter's random source, `uniform(low, high)`.
    """

    first: float = BACKOFF_FIRST
    cap: float = BACKOFF_MAX
    retries: int | None = None
    first_failure_final: bool = True
    uniform: Callable[[float, float], float] = field(default=random.uniform,
                                                     compare=False, repr=False)

    def delay(self, attempt: int) -> float:
        """The wait before attempt number `attempt` (1, 2, ...): its step's ceiling is
        `first` doubled each attempt up to `cap`, and the wait lies in the upper half."""
        # The exponent stops at 16: far past any cap, and 2 ** 10_000 is no float.
        ceiling = min(self.cap, self.first * 2 ** (min(attempt, 16) - 1))
        return self.uniform(ceiling / 2, ceiling)

    def after(self, state: ReconnectState, lost: Lost, now: float
              ) -> tuple[ReconnectState, Decision]:
        """What to do about a connection lost at `now`, and the state to ask with next."""
        connected = state.connected or lost.got_going
        if not connected and self.first_failure_final:
            return state, GiveUp(NEVER_CONNECTED, self.retries)
        attempt = 1 if lost.carried else state.attempt + 1
        state = ReconnectState(attempt, connected)
        if self.retries is not None and attempt > self.retries:
            return state, GiveUp(RETRIES_SPENT, self.retries)
        delay = self.delay(attempt)
        return state, Reconnect(attempt, delay, now + delay)
