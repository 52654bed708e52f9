# The relay's targets by --to scheme, in one place: how each kind's URL and options are
# checked, how it is opened, how `topics relay` describes it. A new target is a module
# with a class that speaks the target protocol (target.py) and one entry here.
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..errors import UsageError
from .queue import RelayQueue
from .target import DEFAULT_MAX_LEN, Target, TargetSettings


@dataclass(frozen=True, slots=True)
class TargetKind:
    """A family of targets: how its URL is checked, its options too, how it is opened
    and how `topics relay` describes it."""

    check_url: Callable[[str], str]
    check: Callable[[TargetSettings], None]
    open: Callable[[RelayQueue, TargetSettings], Target]
    describe: Callable[[TargetSettings], str]


# -- MQTT -------------------------------------------------------------------------------

def _open_mqtt(queue: RelayQueue, settings: TargetSettings) -> Target:
    from .mqtt_target import MqttTarget

    return MqttTarget(queue, settings)


def _check_mqtt(settings: TargetSettings) -> None:
    if settings.max_len is not None:
        raise UsageError("--max-len applies to redis:// targets only: an MQTT broker "
                         "keeps no history, only each topic's retained message")


def _mqtt_url(url: str) -> str:
    from ..urls import check_url

    return check_url(url)


def _describe_mqtt(settings: TargetSettings) -> str:
    from ..urls import redact_url

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
    from ..urls import redact_url

    return (f"relay to   {redact_url(settings.url)}: a stream per topic, MAXLEN ~ "
            f"{settings.max_len or DEFAULT_MAX_LEN:,}")


# -- the registry -----------------------------------------------------------------------

_MQTT = TargetKind(_mqtt_url, _check_mqtt, _open_mqtt, _describe_mqtt)
_REDIS = TargetKind(_redis_url, _check_redis, _open_redis, _describe_redis)
TARGETS: dict[str, TargetKind] = {
    "mqtt": _MQTT, "mqtts": _MQTT, "ws": _MQTT, "wss": _MQTT,
    "redis": _REDIS, "rediss": _REDIS,
}


def kind_of(url: str) -> TargetKind:
    """The kind of target a --to URL names; UsageError for a scheme no target has."""
    from ..urls import redact_url

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
