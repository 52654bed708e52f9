# The Coinsuper exchange's rules, in one place: symbols, topics and sign-in values
# (spec/coinsuper-api.md). Pure functions: the client and the sandbox both use them, so
# the two cannot drift apart.
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from decimal import Decimal

from ..errors import UsageError

DEFAULT_URL = "wss://api-mqtt-premium.coinsuper.com:443/mqtt"
DEFAULT_ENV = "exchange_ha_prod_hk"

PUBLIC_USERNAME = "api_subscriber"
# Published in the exchange's documents: the same for every public subscriber.
PUBLIC_PASSWORD = "da65be18f44b33b69603c39fd03ddf49"
PRIVATE_USERNAME = "api_private"

# Kline ranges in milliseconds. The documents call 604800000 "1 month"; it is 7 days.
INTERVALS = {
    "1m": 60_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000, "1h": 3_600_000,
    "2h": 7_200_000, "4h": 14_400_000, "6h": 21_600_000, "12h": 43_200_000,
    "1d": 86_400_000, "1w": 604_800_000,
}
INTERVAL_NAMES = {ms: name for name, ms in INTERVALS.items()}

# The markets coinsuper knows by name, in topic form: the documents' own examples
# (BTC_USD, ETC_BTC) and the pairs the sandbox simulates at realistic prices. The exchange
# may list others: any well-formed symbol is accepted (normalise_symbol); this table is
# what shell completion offers, and SANDBOX_MARKETS is what the sandbox runs by default.
MARKETS = ("BTC_USD", "ETH_USD", "ETH_BTC", "LTC_USD", "XRP_BTC", "LTC_BTC", "ETC_BTC",
           "BCH_USD")
SANDBOX_MARKETS = MARKETS[:5]

FIAT = frozenset({"USD", "EUR", "GBP", "JPY", "KRW", "CNY", "HKD", "SGD", "AUD", "CAD"})
FIAT_STEPS = ("1.0", "0.1", "0.01")
CRYPTO_STEPS = ("0.0001", "0.000001", "0.00000001")

_SYMBOL_PART = re.compile(r"[A-Z0-9]{1,16}")
_STEP = re.compile(r"[0-9]{1,10}(\.[0-9]{1,12})?")
_EMAIL = re.compile(r"[^\s/+#@]+@[^\s/+#@]+")


class InvalidArgument(UsageError, ValueError):
    """A value that cannot safely become part of a topic or a sign-in."""


def normalise_symbol(text: str) -> str:
    """`btc/usd`, `BTC-USD` and `BTC_USD` all become `BTC_USD`; anything that could add a
    topic level or a wildcard is refused."""
    parts = re.split(r"[_/-]", text.strip().upper())
    if len(parts) != 2 or not all(_SYMBOL_PART.fullmatch(p) for p in parts):
        raise InvalidArgument(
            f"malformed symbol {text!r}: expected BASE_QUOTE, like BTC_USD or ETH/BTC")
    return "_".join(parts)


def validate_currency(text: str) -> str:
    """A currency code as symbols spell it (`usd` -> `USD`)."""
    code = text.strip().upper()
    if not _SYMBOL_PART.fullmatch(code):
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise InvalidArgument(f"malformed currency {shown!r}: expected a code like USD or "
                              "BTC")
    return code


def payload_symbol(symbol: str) -> str:
    """Topic form to payload form: BTC_USD -> BTC/USD."""
    return symbol.replace("_", "/")


def topic_symbol(text: str) -> str:
    """Payload form to topic form: BTC/USD -> BTC_USD."""
    return text.replace("/", "_")


def quote_is_fiat(symbol: str) -> bool:
    return symbol.rpartition("_")[2] in FIAT


def default_step(symbol: str) -> str:
    return "0.01" if quote_is_fiat(symbol) else "0.00000001"


def documented_steps(symbol: str) -> tuple[str, ...]:
    return FIAT_STEPS if quote_is_fiat(symbol) else CRYPTO_STEPS


def validate_step(text: str) -> str:
    """A plain positive decimal, kept as typed: the topic uses the text itself."""
    if not _STEP.fullmatch(text) or Decimal(text) <= 0:
        raise InvalidArgument(f"malformed step {text!r}: expected a decimal like 0.01")
    return text


def parse_interval(text: str) -> int:
    """`1m` .. `1w`, or a number of milliseconds; returns milliseconds."""
    if text in INTERVALS:
        return INTERVALS[text]
    if text.isdigit() and 0 < int(text) <= 10 * 365 * 86_400_000:
        return int(text)
    raise InvalidArgument(
        f"unknown interval {text!r}: use one of {', '.join(INTERVALS)} or milliseconds")


def interval_name(range_ms: int) -> str:
    return INTERVAL_NAMES.get(range_ms, f"{range_ms}ms")


def _text(text: str, what: str, *, shown: bool = True) -> str:
    """Text that can go into a packet as it is: UTF-8 (an environment variable may hold
    any bytes) without control characters (MQTT 3.1.1 §1.5.3 disallows some, and none
    belongs in a topic or a sign-in)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidArgument(f"{what} is not valid UTF-8") from None
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in text):
        raise InvalidArgument(f"{what} holds a control character"
                              + (f": {text!r}" if shown else ""))
    return text


def validate_email(text: str) -> str:
    if not _EMAIL.fullmatch(_text(text, "email")):
        raise InvalidArgument(f"malformed email {text!r}: expected NAME@DOMAIN, without "
                              "spaces, /, + or #")
    return text


def validate_access_key(text: str) -> str:
    """The private client id: no spaces, nothing a log line could hide."""
    if any(c.isspace() for c in _text(text, "access key", shown=False)):
        raise InvalidArgument("access key holds a space")
    return text


def validate_secret_key(text: str) -> str:
    return _text(text, "secret key", shown=False)


def validate_env(text: str) -> str:
    _text(text, "topic prefix")
    if not text or any(c in text for c in "+#") or text != text.strip():
        raise InvalidArgument(f"malformed topic prefix {text!r}")
    return text


def md5_hex(text: str) -> str:
    import hashlib  # here: OpenSSL's load is most of this module's import otherwise

    return hashlib.md5(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class SignIn:
    client_id: str
    username: str
    password: str


def public_sign_in(full_topic: str, *, access_key: str | None = None,
                   email: str | None = None) -> SignIn:
    """client id = md5(access_key) + md5(email) + md5(full topic).

    Without credentials the documents say nothing; a random stand-in for the key and the
    email keeps the 96-digit shape and, unlike md5(""), never collides with another
    user's connection (a broker drops the older of two equal client ids, §3.1.4-2).
    """
    if access_key is None or email is None:
        import secrets

        access_key = access_key or secrets.token_hex(16)
        email = email or secrets.token_hex(16)
    client_id = md5_hex(access_key) + md5_hex(email) + md5_hex(full_topic)
    return SignIn(client_id, PUBLIC_USERNAME, PUBLIC_PASSWORD)


def private_signature(access_key: str, secret_key: str, email: str, timestamp_ms: int) -> str:
    return md5_hex(f"{access_key},{secret_key},{email},{timestamp_ms}")


def private_sign_in(*, access_key: str, secret_key: str, email: str,
                    timestamp_ms: int | None = None) -> SignIn:
    """client id = access key; password = email,timestamp,md5(key,secret,email,timestamp)."""
    if timestamp_ms is None:
        timestamp_ms = int(time.time() * 1000)
    sign = private_signature(access_key, secret_key, email, timestamp_ms)
    return SignIn(access_key, PRIVATE_USERNAME, f"{email},{timestamp_ms},{sign}")
