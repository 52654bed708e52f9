# Broker, proxy and target URLs as users type them: the checks that turn a bad one into a
# usage error (one line, naming the URL without its password) before anything connects,
# and the helpers that take credentials out of one, for a sign-in or for a log line.
# Below every layer that handles a URL: the transports, the plans, the recorder (which
# keeps the command line), the relay's targets and the config file.
from __future__ import annotations

import ipaddress
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

from .errors import UsageError

DEFAULT_PORTS = {"ws": 80, "wss": 443, "mqtt": 1883, "mqtts": 8883}


def redact_url(url: str) -> str:
    """The URL without any user:password@ part, for logs and messages.

    Works on any string, parseable or not. A password that is not percent-encoded may
    hold '/', '?' or '#', which end the authority (RFC 3986 §3.2), so everything up to
    the last '@' goes, not just what a parser would call the user information.
    """
    scheme, sep, rest = url.partition("://") if "://" in url else ("", "", url)
    if "@" not in rest:
        return url
    return scheme + sep + "***@" + rest.rpartition("@")[2]


def split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """The URL without its user:password@ part, and the user name and password
    (percent-decoded), each None when absent."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None, None
    host = parts.netloc.rpartition("@")[2]
    bare = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    user = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    return bare, user, password


def check_url(url: str) -> str:
    """The broker URL with its scheme in lower case; UsageError (one line, no password)
    for anything a connection could not be opened to."""
    shown = redact_url(url)
    check_characters(url, f"broker URL {shown!r}")
    try:
        parts = urlsplit(url)
    except ValueError as error:  # an unclosed or bad [IPv6] literal
        raise UsageError(f"bad host in broker URL {shown!r}: {error}") from None
    if parts.scheme not in DEFAULT_PORTS:
        raise UsageError(f"unsupported broker URL {shown!r}: use wss://, ws://, "
                         "mqtts:// or mqtt://HOST[:PORT]")
    if not parts.hostname:
        raise UsageError(f"no host in broker URL {shown!r}: use {parts.scheme}://HOST[:PORT]")
    check_host(parts, f"broker URL {shown!r}")
    try:
        bad_port = parts.port == 0  # nothing listens on port 0
    except ValueError:  # not digits, or over 65535
        bad_port = True
    if bad_port:
        raise UsageError(f"bad port in broker URL {shown!r}: give a number from 1 to 65535")
    return parts.scheme + url[len(parts.scheme):]


def check_characters(url: str, what: str) -> None:
    """UsageError, naming `what` (the URL as shown), for a character no URL holds
    unencoded."""
    if not all("!" <= char <= "~" for char in url):
        raise UsageError(f"{what} holds a space, a control character or a non-ASCII "
                         "character (percent-encode it; xn-- for a domain name)")


def check_host(parts: SplitResult, what: str) -> None:
    """UsageError, naming `what` (the URL as shown), for a host no connection could be
    opened to."""
    if "[" in parts.netloc:
        # What urlsplit itself checks from Python 3.11.4 on: a bracketed host is an IPv6
        # address (RFC 3986 §3.2.2); before, `[zz]` or `[1.2.3.4]` went through.
        try:
            ipaddress.IPv6Address(parts.hostname.partition("%")[0])
        except ValueError:
            raise UsageError(f"bad host in {what}: [{parts.hostname}] is not an IPv6 "
                             "address") from None
    try:
        # What socket.getaddrinfo does to a name; an empty or over-long label fails here,
        # as a UnicodeError that no connection error handler expects.
        parts.hostname.encode("idna")
    except UnicodeError:
        raise UsageError(f"bad host name in {what}") from None
