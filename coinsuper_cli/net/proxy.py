# Proxies: which one a broker URL goes through, chosen as curl chooses (an explicit
# proxy, else the scheme's environment variable, else ALL_PROXY; NO_PROXY exempts hosts
# from either), and the check that turns a malformed proxy URL into a usage error. The
# tunnel itself is the transports' (transport.open_tunnel), the same for all four.
from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ..errors import UsageError
from ..urls import redact_url

PROXY_SCHEMES = ("http", "socks5", "socks5h")

# The environment variables curl reads for a broker URL's scheme, first found wins
# (curl's lib/url.c, detect_proxy): `<scheme>_proxy`, then its upper-case form except
# for http_proxy (a CGI program's HTTP_PROXY comes from a request's `Proxy:` header);
# for WebSocket URLs then the HTTP ones (ws:// http_proxy only, wss:// https_proxy,
# HTTPS_PROXY); then all_proxy, ALL_PROXY. curl speaks mqtt:// too and reads
# mqtt_proxy/MQTT_PROXY for it; mqtts:// follows the same `<scheme>_proxy` rule.
_SCHEME_VARIABLES = {
    "ws": ("ws_proxy", "WS_PROXY", "http_proxy"),
    "wss": ("wss_proxy", "WSS_PROXY", "https_proxy", "HTTPS_PROXY"),
    "mqtt": ("mqtt_proxy", "MQTT_PROXY"),
    "mqtts": ("mqtts_proxy", "MQTTS_PROXY"),
}
_ALL_VARIABLES = ("all_proxy", "ALL_PROXY")
_NO_PROXY_VARIABLES = ("no_proxy", "NO_PROXY")


# -- choosing -------------------------------------------------------------------------

def _getenv(environ: Mapping[str, str], names: tuple[str, ...]) -> tuple[str, str] | None:
    """The first of `names` set to something, with its value; curl takes an empty
    variable for an unset one (curl_getenv)."""
    for name in names:
        if environ.get(name):
            return name, environ[name]
    return None


def resolve_proxy(broker_url: str, explicit: str | None,
                  environ: Mapping[str, str]) -> str | None:
    """The proxy URL to reach `broker_url` through, or None to go direct.

    As curl does: an explicit proxy (--proxy, COINSUPER_PROXY) wins over the environment,
    and an empty one means none at all (curl's `--proxy ""`); else the scheme's variable,
    then ALL_PROXY (see _SCHEME_VARIABLES). NO_PROXY (no_proxy first) exempts matching
    hosts from the explicit proxy too, as curl's does when --noproxy is not given.

    Raises UsageError, naming the variable, for a proxy URL `check_proxy_url` refuses.
    """
    parts = urlsplit(broker_url)
    no_proxy = _getenv(environ, _NO_PROXY_VARIABLES)
    if no_proxy and parts.hostname and no_proxy_matches(parts.hostname, no_proxy[1]):
        return None
    if explicit is not None:
        return check_proxy_url(explicit) if explicit else None
    found = _getenv(environ, _SCHEME_VARIABLES.get(parts.scheme.lower(), ()) + _ALL_VARIABLES)
    if found is None:
        return None
    name, value = found
    try:
        return check_proxy_url(value)
    except UsageError as error:
        raise UsageError(f"{name}: {error}") from None


def explain_proxy(broker_url: str, explicit: str | None, source: str | None,
                  environ: Mapping[str, str]) -> tuple[str | None, str | None]:
    """What `coinsuper config` shows for the proxy, as resolve_proxy would choose it for
    `broker_url`: (the proxy URL, or a word for none; and why). `explicit` is the proxy
    the options gave (--proxy, COINSUPER_PROXY, the config file) and `source` where it
    came from. Without one, the environment's variable that would be used is named,
    where `(not set)` used to hide it; NO_PROXY is named when it exempts the host."""
    parts = urlsplit(broker_url)
    no_proxy = _getenv(environ, _NO_PROXY_VARIABLES)
    if no_proxy and parts.hostname and no_proxy_matches(parts.hostname, no_proxy[1]):
        why = f"{no_proxy[0]} exempts {parts.hostname}"
        if explicit:
            why += f"; {redact_url(explicit)} ({source}) is not used"
        return "none", why
    if explicit is not None:
        return explicit, source
    found = _getenv(environ, _SCHEME_VARIABLES.get(parts.scheme.lower(), ()) + _ALL_VARIABLES)
    if found is None:
        return None, None
    return found[1], f"environment {found[0]}, for {parts.scheme}:// URLs"


def no_proxy_matches(host: str, no_proxy: str) -> bool:
    """Whether NO_PROXY's list exempts `host` (curl's lib/noproxy.c).

    The whole list `*` exempts every host. Otherwise a comma-separated list, blanks
    around entries ignored: a name matches itself and every name under it
    (`example.com` and `.example.com` both match example.com and www.example.com, not
    notexample.com), case-insensitively, a trailing dot on either side ignored. A host
    that is an IP address matches only addresses, exactly or by CIDR
    (`10.0.0.0/8`, `::1`, IPv6 without brackets). Ports are not looked at: an entry with
    one matches nothing.
    """
    if no_proxy == "*":
        return True
    host = host.strip("[]")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    name = host.removesuffix(".").lower()
    for entry in no_proxy.split(","):
        entry = entry.strip(" \t")
        if not entry:
            continue
        if address is not None:
            if _address_matches(address, entry):
                return True
            continue
        entry = entry.removesuffix(".").removeprefix(".").lower()
        if entry and (name == entry or name.endswith("." + entry)):
            return True
    return False


def _address_matches(address: ipaddress.IPv4Address | ipaddress.IPv6Address,
                     entry: str) -> bool:
    network, slash, bits = entry.partition("/")
    try:
        base = ipaddress.ip_address(network)
        prefix = int(bits) if slash else base.max_prefixlen
        if base.version != address.version or not 0 < prefix <= base.max_prefixlen:
            return prefix == 0 and address == base  # curl: /0 is an exact match
        return address in ipaddress.ip_network(f"{base}/{prefix}", strict=False)
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class ProxySettings:
    """Where the proxy for each broker URL comes from: an explicit proxy URL (--proxy,
    COINSUPER_PROXY; "" for none), and the environment whose *_PROXY and NO_PROXY
    variables count. The default uses no proxy, whatever the process's environment."""

    explicit: str | None = None
    environ: Mapping[str, str] = field(default_factory=dict)

    def for_url(self, broker_url: str) -> str | None:
        return resolve_proxy(broker_url, self.explicit, self.environ)


# -- checking -------------------------------------------------------------------------

def check_proxy_url(text: str) -> str:
    """The proxy URL in a normal form (scheme in lower case; `http://` added to one that
    names none, as curl does); UsageError (one line, no password) for anything a tunnel
    could not be opened through."""
    shown = redact_url(text)
    if not text or not all("!" <= char <= "~" for char in text):
        raise UsageError(f"proxy URL {shown!r} is empty or holds a space, a control "
                         "character or a non-ASCII character")
    url = text if "://" in text else "http://" + text
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a bad [IPv6] literal, a port that is not a number to 65535
        raise UsageError(f"bad host or port in proxy URL {shown!r}: use "
                         "SCHEME://[USER:PASSWORD@]HOST[:PORT], the port 1 to 65535") from None
    scheme = parts.scheme.lower()
    if scheme not in PROXY_SCHEMES:
        raise UsageError(f"unsupported proxy URL {shown!r}: use http://, socks5:// or "
                         "socks5h://HOST[:PORT]")
    if not parts.hostname:
        raise UsageError(f"no host in proxy URL {shown!r}: use {scheme}://HOST[:PORT]")
    if port == 0:
        raise UsageError(f"bad port in proxy URL {shown!r}: give a number from 1 to 65535")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise UsageError(f"proxy URL {shown!r} has a path, query or fragment: give "
                         f"{scheme}://HOST[:PORT] only")
    try:
        parts.hostname.encode("idna")
    except UnicodeError:
        raise UsageError(f"bad host name in proxy URL {shown!r}") from None
    return scheme + url[len(scheme):]
