# From what a user asks for (channels, symbols, credentials) to connection plans: which
# topics, on how many connections, signed in how. Pure: no I/O, so `topics` can print a
# plan without connecting and tests can check every sign-in value.
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

from ..api import channels, exchange
from ..api.channels import Feed
from ..errors import MissingCredentials


@dataclass(frozen=True, slots=True)
class ConnectionPlan:
    """One MQTT connection: where, who, and which topics."""

    url: str
    # Called for each connection: a private password carries a timestamp that the
    # exchange checks, so a reconnect an hour later must sign anew.
    sign_in: Callable[[], exchange.SignIn]
    feeds: tuple[Feed, ...]
    qos: int = 0
    keepalive: int = 60


@dataclass(frozen=True, slots=True)
class Credentials:
    email: str | None = None
    access_key: str | None = None
    secret_key: str | None = field(default=None, repr=False)

    @property
    def complete(self) -> bool:
        return bool(self.email and self.access_key and self.secret_key)


@dataclass(frozen=True, slots=True)
class Target:
    """Where and how to connect, shared by every plan of one command."""

    url: str
    env: str = exchange.DEFAULT_ENV
    qos: int = 0
    keepalive: int = 60
    credentials: Credentials = Credentials()


def public_plan(target: Target, channel: str, symbol: str, *, step: str | None = None,
                range_ms: int | None = None) -> ConnectionPlan:
    """One connection per public topic: the client id is derived from the topic."""
    entry = channels.get(channel)
    values = {"symbol": symbol}
    if "{step}" in entry.subtopic:
        values["step"] = step or exchange.default_step(symbol)
    if "{range}" in entry.subtopic:
        values["range"] = str(range_ms or exchange.INTERVALS["1m"])
    full_topic = entry.topic(target.env, **values)
    creds = target.credentials
    sign_in = exchange.public_sign_in(full_topic, access_key=creds.access_key,
                                      email=creds.email)
    feed = Feed(full_topic, channel, symbol, entry.new_parser(values))
    url, signed = _own_sign_in(target.url, lambda: sign_in)
    return ConnectionPlan(url, signed, (feed,), target.qos, target.keepalive)


def private_plan(target: Target, names: tuple[str, ...]) -> ConnectionPlan:
    """One connection for all private topics: its client id is the access key, and the
    exchange allows one connection per client id."""
    creds = target.credentials
    if not creds.complete:
        missing = [name for name, value in (
            ("--email / COINSUPER_EMAIL", creds.email),
            ("--access-key / COINSUPER_ACCESS_KEY", creds.access_key),
            ("--secret-key / COINSUPER_SECRET_KEY", creds.secret_key)) if not value]
        raise MissingCredentials("private channels need credentials; missing "
                                 + ", ".join(missing))
    email = exchange.validate_email(creds.email)
    sign_in = functools.partial(exchange.private_sign_in, access_key=creds.access_key,
                                secret_key=creds.secret_key, email=email)
    feeds = tuple(
        Feed(channels.get(name).topic(target.env, email=email), name, None,
             channels.new_parser(name, email=email))
        for name in names
    )
    url, signed = _own_sign_in(target.url, sign_in)
    return ConnectionPlan(url, signed, feeds, target.qos, target.keepalive)


def _own_sign_in(url: str, sign_in: Callable[[], exchange.SignIn]
                 ) -> tuple[str, Callable[[], exchange.SignIn]]:
    """A user name and password in the URL sign in to a broker of your own (the one a
    relay fills) in place of the exchange's values; the client id stays the
    exchange's. The URL the connection opens loses them."""
    from ..urls import split_credentials

    bare, user, password = split_credentials(url)
    if user is None:
        return url, sign_in

    def signed() -> exchange.SignIn:
        return exchange.SignIn(sign_in().client_id, user, password or "")
    return bare, signed


def mask(secret: str, keep: int = 4) -> str:
    if len(secret) <= 2 * keep:
        return "*" * len(secret)
    return f"{secret[:keep]}…{secret[-keep:]}"


def describe(plan: ConnectionPlan) -> list[str]:
    """Human-readable lines for `topics`: the secret parts of sign-in masked."""
    sign_in = plan.sign_in()
    if sign_in.username == exchange.PRIVATE_USERNAME:
        email, timestamp, sign = sign_in.password.split(",")
        client_id = mask(sign_in.client_id)
        password = f"{email},{timestamp},{mask(sign)}"
    elif sign_in.password == exchange.PUBLIC_PASSWORD:
        client_id = sign_in.client_id
        password = f"{sign_in.password} (the exchange's published public password)"
    else:  # the URL's own
        client_id = mask(sign_in.client_id)
        password = "*** (from the URL)"
    lines = [f"url        {plan.url}", f"client id  {client_id}",
             f"user name  {sign_in.username}", f"password   {password}"]
    lines += [f"topic      {feed.topic}" for feed in plan.feeds]
    return lines
