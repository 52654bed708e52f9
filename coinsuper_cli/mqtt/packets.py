# MQTT 3.1.1 control packets as small immutable values, named as in the standard.
# They carry no behaviour: codec.py turns them into bytes and back.
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

CONNECT = 1
CONNACK = 2
PUBLISH = 3
PUBACK = 4
PUBREC = 5
PUBREL = 6
PUBCOMP = 7
SUBSCRIBE = 8
SUBACK = 9
UNSUBSCRIBE = 10
UNSUBACK = 11
PINGREQ = 12
PINGRESP = 13
DISCONNECT = 14

# SUBACK return code for a refused subscription (MQTT 3.1.1 §3.9.3).
SUBACK_FAILURE = 0x80

# CONNACK return codes (MQTT 3.1.1 §3.2.2.3, table 3.1).
CONNACK_ACCEPTED = 0
CONNACK_REASONS = {
    0: "connection accepted",
    1: "unacceptable protocol version",
    2: "client identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorized",
}


def connack_reason(code: int) -> str:
    """The standard's words for a CONNACK return code."""
    return CONNACK_REASONS.get(code, f"unknown return code {code}")


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    message: bytes
    qos: int = 0
    retain: bool = False


@dataclass(frozen=True, slots=True)
class Connect:
    client_id: str
    username: str | None = None
    password: bytes | None = None
    keepalive: int = 60
    clean_session: bool = True
    will: Will | None = None
    protocol_level: int = 4
    type = CONNECT


@dataclass(frozen=True, slots=True)
class ConnAck:
    return_code: int
    session_present: bool = False
    type = CONNACK


class Publish(NamedTuple):
    """A named tuple, unlike the other packets: every message received is one, and a
    tuple is built at C speed (a frozen dataclass sets each field by a call)."""

    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False
    dup: bool = False
    packet_id: int | None = None
    type = PUBLISH


@dataclass(frozen=True, slots=True)
class PubAck:
    packet_id: int
    type = PUBACK


@dataclass(frozen=True, slots=True)
class PubRec:
    packet_id: int
    type = PUBREC


@dataclass(frozen=True, slots=True)
class PubRel:
    packet_id: int
    type = PUBREL


@dataclass(frozen=True, slots=True)
class PubComp:
    packet_id: int
    type = PUBCOMP


@dataclass(frozen=True, slots=True)
class Subscribe:
    packet_id: int
    # (topic filter, requested QoS) pairs, at least one (§3.8.3-3).
    topics: tuple[tuple[str, int], ...] = field(default_factory=tuple)
    type = SUBSCRIBE


@dataclass(frozen=True, slots=True)
class SubAck:
    packet_id: int
    return_codes: tuple[int, ...] = field(default_factory=tuple)
    type = SUBACK


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    packet_id: int
    topics: tuple[str, ...] = field(default_factory=tuple)
    type = UNSUBSCRIBE


@dataclass(frozen=True, slots=True)
class UnsubAck:
    packet_id: int
    type = UNSUBACK


@dataclass(frozen=True, slots=True)
class PingReq:
    type = PINGREQ


@dataclass(frozen=True, slots=True)
class PingResp:
    type = PINGRESP


@dataclass(frozen=True, slots=True)
class Disconnect:
    type = DISCONNECT


Packet = (
    Connect | ConnAck | Publish | PubAck | PubRec | PubRel | PubComp | Subscribe | SubAck
    | Unsubscribe | UnsubAck | PingReq | PingResp | Disconnect
)

# Which packets travel in which direction (MQTT 3.1.1 §2.2.1, table 2.1). A client that
# receives a CONNECT, or a server that receives a CONNACK, is facing a protocol violation.
SERVER_TO_CLIENT = frozenset(
    {CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK, PINGRESP}
)
CLIENT_TO_SERVER = frozenset(
    {CONNECT, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBSCRIBE, UNSUBSCRIBE, PINGREQ,
     DISCONNECT}
)
