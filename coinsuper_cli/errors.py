# The failures a user can hit, and the one table that turns them into exit codes
# (PRODUCT.md, "Exit codes"). Everything else that escapes is a bug: exit 1.
from __future__ import annotations

import enum
import signal

from .mqtt.errors import ConnectionRefused, MQTTError


class ExitStatus(enum.IntEnum):
    OK = 0
    ERROR = 1
    USAGE = 2
    SIGN_IN_REFUSED = 3
    CONNECTION_FAILED = 4
    SUBSCRIPTION_REFUSED = 5
    COUNT_NOT_REACHED = 6
    WRITE_FAILED = 7
    HUNG_UP = 129  # 128 + SIGHUP, as a shell reports a process that SIGHUP ended
    INTERRUPTED = 130
    TERMINATED = 143  # 128 + SIGTERM


class CoinsuperError(Exception):
    """A failure with a message meant for the user."""


class UsageError(CoinsuperError):
    """The command line asks for something that cannot be done."""


class NotARecording(UsageError):
    """A file given to replay (or sandbox --replay) is not a recording."""


class ConfigError(UsageError):
    """The config file, or a value in it, cannot be used."""


class MissingCredentials(UsageError):
    """A private channel was asked for without email, access key and secret key."""


class ConnectFailed(CoinsuperError):
    """The broker could not be reached, or the link failed and was not restored."""


class ConnectionClosed(ConnectFailed):
    """The broker closed the connection."""


class SignInRefused(CoinsuperError):
    """The broker refused CONNECT with a CONNACK return code."""


class SubscriptionRefused(CoinsuperError):
    """The broker answered SUBSCRIBE with 0x80 for a topic."""


class PayloadError(CoinsuperError):
    """A message's payload is not what its channel documents; it is skipped."""


class WriteFailed(CoinsuperError):
    """A recording or stdout could not be written (a full disk, an I/O error); what was
    written before stays readable."""


class StopSignal(BaseException):
    """SIGTERM or SIGHUP came: the command stops as it does on Ctrl-C. A BaseException,
    like KeyboardInterrupt, so that no `except Exception` swallows it on its way out."""

    signum: int


class Terminated(StopSignal):
    """SIGTERM (systemd, `docker stop`, `kill`)."""

    signum = signal.SIGTERM


class HungUp(StopSignal):
    """SIGHUP (the terminal went away)."""

    signum = signal.SIGHUP


class Finished(Exception):
    """Not an error: --count or --timeout was reached."""


class CountNotReached(CoinsuperError):
    """--timeout passed before --count records came: a script waiting for data learns
    that it did not come (what did come was written)."""

    def __init__(self, count: int, written: int, timeout: float) -> None:
        super().__init__(f"--timeout {timeout:g} passed after {written} of --count "
                         f"{count} records")
        self.count, self.written = count, written


_EXIT_CODES: tuple[tuple[type[BaseException], ExitStatus], ...] = (
    (Finished, ExitStatus.OK),
    (BrokenPipeError, ExitStatus.OK),
    (UsageError, ExitStatus.USAGE),
    (SignInRefused, ExitStatus.SIGN_IN_REFUSED),
    (ConnectionRefused, ExitStatus.SIGN_IN_REFUSED),
    (ConnectFailed, ExitStatus.CONNECTION_FAILED),
    (MQTTError, ExitStatus.CONNECTION_FAILED),
    (SubscriptionRefused, ExitStatus.SUBSCRIPTION_REFUSED),
    (CountNotReached, ExitStatus.COUNT_NOT_REACHED),
    (WriteFailed, ExitStatus.WRITE_FAILED),
    (KeyboardInterrupt, ExitStatus.INTERRUPTED),
    (Terminated, ExitStatus.TERMINATED),
    (HungUp, ExitStatus.HUNG_UP),
)


def exit_status(error: BaseException) -> ExitStatus:
    """The exit code PRODUCT.md gives for this failure."""
    for kind, status in _EXIT_CODES:
        if isinstance(error, kind):
            return status
    return ExitStatus.ERROR
