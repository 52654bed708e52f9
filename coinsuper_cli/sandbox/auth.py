# The exchange's sign-in rules, as the sandbox checks them on CONNECT
# (spec/coinsuper-api.md "Signing in"). Values come from exchange.py, the same module the
# client signs with, so the two sides cannot disagree.
from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from typing import Protocol

from ..api.exchange import (PRIVATE_USERNAME, PUBLIC_PASSWORD, PUBLIC_USERNAME,
                            private_signature)
from ..mqtt.packets import Connect
from .logline import masked

# CONNACK return codes (MQTT 3.1.1 §3.2.2.3).
ACCEPTED = 0
BAD_PROTOCOL = 1
BAD_CLIENT_ID = 2
BAD_CREDENTIALS = 4
NOT_AUTHORIZED = 5

MAX_CLOCK_SKEW_MS = 5 * 60 * 1000
# md5(access key) + md5(email) + md5(full topic), each 32 lowercase hex digits. Held to
# this form, a public client id can never be an access key, a private one: a public
# sign-in, whose password is published, cannot take over a private session (§3.1.4-2).
PUBLIC_CLIENT_ID = re.compile(r"[0-9a-f]{96}")


@dataclass(frozen=True, slots=True)
class Identity:
    """Who signed in: a public subscriber, or the account `email` on a private link."""

    private: bool
    email: str = ""


@dataclass(frozen=True, slots=True)
class Verdict:
    return_code: int
    identity: Identity | None = None
    reason: str = ""


class Account(Protocol):
    """The demo account, as market.py provides it."""

    email: str
    access_key: str
    secret_key: str


def check_connect(connect: Connect, account: Account, now_ms: int) -> Verdict:
    """The CONNACK return code for `connect`, and who it signs in as when accepted."""
    if connect.protocol_level != 4:
        return Verdict(BAD_PROTOCOL, reason=f"protocol level {connect.protocol_level}")
    if not connect.client_id:
        # §3.1.3-8: the exchange assigns no ids, so an empty one is refused outright.
        return Verdict(BAD_CLIENT_ID, reason="empty client id")
    password = connect.password or b""
    if connect.username == PUBLIC_USERNAME:
        if not hmac.compare_digest(password, PUBLIC_PASSWORD.encode()):
            return Verdict(BAD_CREDENTIALS, reason="wrong public password")
        if not PUBLIC_CLIENT_ID.fullmatch(connect.client_id):
            return Verdict(BAD_CLIENT_ID, reason="a public client id is md5(access key) + "
                           "md5(email) + md5(topic), 96 lowercase hex digits")
        return Verdict(ACCEPTED, Identity(private=False))
    if connect.username == PRIVATE_USERNAME:
        return _check_private(connect.client_id, password, account, now_ms)
    if connect.username is None:
        return Verdict(BAD_CREDENTIALS, reason="no user name")
    # Masked: a user name typed in the wrong field may be a key.
    return Verdict(BAD_CREDENTIALS, reason=f"unknown user name {masked(connect.username)}")


def _check_private(client_id: str, password: bytes, account: Account, now_ms: int) -> Verdict:
    # password = email "," timestamp "," md5(access_key,secret_key,email,timestamp)
    try:
        email, stamp, sign = password.decode("utf-8").rsplit(",", 2)
        timestamp = int(stamp) if stamp.isdigit() else None
    except (UnicodeDecodeError, ValueError):
        timestamp = None
    if timestamp is None:
        return Verdict(BAD_CREDENTIALS, reason="private password is not email,timestamp,sign")
    if client_id != account.access_key:
        return Verdict(NOT_AUTHORIZED, reason="client id is not the account's access key")
    if email != account.email:
        return Verdict(NOT_AUTHORIZED, reason="the password's email is not the account's")
    if abs(now_ms - timestamp) > MAX_CLOCK_SKEW_MS:
        return Verdict(NOT_AUTHORIZED, reason="timestamp more than 5 minutes away")
    expected = private_signature(account.access_key, account.secret_key, email, timestamp)
    if not hmac.compare_digest(sign.encode(), expected.encode()):
        return Verdict(NOT_AUTHORIZED, reason="bad signature")
    return Verdict(ACCEPTED, Identity(private=True, email=email))


def peek_protocol_level(head: bytes) -> int | None:
    """The protocol level in the first bytes of a CONNECT of any MQTT version (3.1 says
    "MQIsdp", 3.1.1 and 5 say "MQTT"), or None when `head` is not one."""
    if len(head) < 2 or head[0] != 0x10:
        return None
    i = 1
    while i < len(head) and head[i] & 0x80 and i < 4:  # remaining length (§2.2.3)
        i += 1
    i += 1
    name_length = int.from_bytes(head[i:i + 2], "big")
    name = head[i + 2:i + 2 + name_length]
    level_at = i + 2 + name_length
    if name not in (b"MQTT", b"MQIsdp") or len(head) <= level_at:
        return None
    return head[level_at]
