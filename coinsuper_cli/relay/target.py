# Where the relay writes: one small protocol for every downstream (an MQTT broker, a
# Redis stream), as cryptofeed's backends and logging.Handler are, and the one place
# that chooses the implementation from the --to URL's scheme. The command drives a
# target only through this protocol: start, wait_ready, check, close, status. Each
# target takes its messages from the relay's one bounded queue (RelayQueue), in its
# own thread, so that a slow or absent target never blocks the exchange side.
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ..errors import UsageError
from ..tls import TLSOptions
from .queue import RelayQueue

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


@dataclass(frozen=True, slots=True)
class TargetKind:
    """A family of targets: how its URL is checked, its options too, how it is opened
    and how `topics relay` describes it."""

    check_url: Callable[[str], str]
    check: Callable[[TargetSettings], None]
    open: Callable[[RelayQueue, TargetSettings], Target]
    describe: Callable[[TargetSettings], str]


# -- MQTT -------------------------------------------------------------------------------

class MqttTarget:
    """The MQTT publisher as a target; once connected it checks (relay/probe.py) that
    the broker delivers the relay's topics unchanged, and says so once if not."""

    def __init__(self, queue: RelayQueue, settings: TargetSettings) -> None:
        from .publisher import Publisher, TargetOptions

        self.settings = settings
        self.publisher = Publisher(queue, TargetOptions(
            settings.url, qos=settings.qos or 0, keepalive=settings.keepalive,
            tls=settings.tls, proxy=settings.proxy, max_packet=settings.max_packet,
            log=settings.log, warn=settings.warn))
        self._checked = False

    def start(self) -> None:
        self.publisher.start()

    def wait_ready(self, timeout: float | None) -> bool:
        ready = self.publisher.wait_ready(timeout)
        if ready and not self._checked:
            from .probe import start_check

            self._checked = True
            # Does the broker keep topics as published (RabbitMQ turns '.' into '/')?
            start_check(self.publisher.options, self.publisher.shown_url,
                        list(self.settings.topics), warn=self.settings.warn,
                        log=self.settings.log)
        return ready

    def check(self) -> None:
        self.publisher.check()

    def close(self, drain: float) -> None:
        self.publisher.close(drain)

    def status(self) -> TargetStatus:
        return self.publisher.status()


def _check_mqtt(settings: TargetSettings) -> None:
    if settings.max_len is not None:
        raise UsageError("--max-len applies to redis:// targets only: an MQTT broker "
                         "keeps no history, only each topic's retained message")


def _mqtt_url(url: str) -> str:
    from ..transport import check_url

    return check_url(url)


def _describe_mqtt(settings: TargetSettings) -> str:
    from ..transport import redact_url

    return f"relay to   {redact_url(settings.url)} at QoS {settings.qos or 0}"


# -- Redis ------------------------------------------------------------------------------

def _redis_url(url: str) -> str:
    from .redis_target import check_redis_url

    return check_redis_url(url)


def _check_redis(settings: TargetSettings) -> None:
    from .redis_target import check_settings

    check_settings(settings)


def _open_redis(queue: RelayQueue, settings: TargetSettings) -> Target:
    from .redis_target import RedisTarget

    return RedisTarget(queue, settings)


def _describe_redis(settings: TargetSettings) -> str:
    from ..transport import redact_url

    return (f"relay to   {redact_url(settings.url)}: a stream per topic, MAXLEN ~ "
            f"{settings.max_len or DEFAULT_MAX_LEN:,}")


# -- the registry -----------------------------------------------------------------------

_MQTT = TargetKind(_mqtt_url, _check_mqtt, MqttTarget, _describe_mqtt)
_REDIS = TargetKind(_redis_url, _check_redis, _open_redis, _describe_redis)
TARGETS: dict[str, TargetKind] = {
    "mqtt": _MQTT, "mqtts": _MQTT, "ws": _MQTT, "wss": _MQTT,
    "redis": _REDIS, "rediss": _REDIS,
}


def kind_of(url: str) -> TargetKind:
    """The kind of target a --to URL names; UsageError for a scheme no target has."""
    from ..transport import redact_url

    scheme, sep, _ = url.partition("://")
    kind = TARGETS.get(scheme.lower()) if sep else None
    if kind is None:
        raise UsageError(f"unsupported target URL {redact_url(url)!r}: use mqtt://, "
                         "mqtts://, ws://, wss:// (an MQTT broker) or redis://, rediss:// "
                         "(Redis streams)")
    return kind


def check_target_url(url: str) -> str:
    """The --to URL in a normal form, checked by its kind; UsageError (one line, no
    password) for anything no target could be opened to."""
    return kind_of(url).check_url(url)


def check_target(settings: TargetSettings) -> None:
    """UsageError for an option that does not apply to the target `settings.url` names
    (--max-len to an MQTT broker), or for a target that cannot be used here."""
    kind_of(settings.url).check(settings)


def describe_target(settings: TargetSettings) -> str:
    """`topics relay`'s line about the target."""
    return kind_of(settings.url).describe(settings)


def open_target(queue: RelayQueue, settings: TargetSettings) -> Target:
    """The target for `settings.url` (checked by check_target_url), its options checked
    (UsageError for one that does not apply to it), not started yet."""
    kind = kind_of(settings.url)
    kind.check(settings)
    return kind.open(queue, settings)
