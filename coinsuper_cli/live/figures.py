# Number and time formatting shared by the views. Prices and quantities keep exactly the
# digits the exchange sent; columns align on the decimal point without inventing digits.
from __future__ import annotations

import time
from decimal import ROUND_HALF_EVEN, Decimal


def plain(value: Decimal) -> str:
    """The decimal as sent: never exponent notation, never a float."""
    return format(value, "f")


def decimals(value: Decimal) -> int:
    """How many fractional digits the value carries (trailing zeros count)."""
    exponent = value.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def trim(value: Decimal, keep: int = 8) -> Decimal:
    """Drops trailing zeros past `keep` decimals: balances come with 30 decimals, mostly
    zeros, which say nothing and would not fit a column. Done on the text, because
    Decimal.normalize would round to the context's 28 digits."""
    whole, dot, frac = plain(value).partition(".")
    if len(frac) <= keep:
        return value
    frac = frac.rstrip("0").ljust(keep, "0")
    return Decimal(f"{whole}.{frac}" if frac else whole)


def quantize_like(value: Decimal, places: int) -> Decimal:
    """A computed value (a mid, a VWAP) rounded to the precision of the values it came from."""
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)


def align(values: list[Decimal]) -> list[str]:
    """Texts of equal width with the decimal points in one column; short fractions are
    padded with spaces, not zeros, so no digit is invented."""
    parts = [plain(v).partition(".") for v in values]
    whole = max((len(p[0]) for p in parts), default=0)
    frac = max((len(p[2]) + 1 if p[2] else 0 for p in parts), default=0)
    return [(i.rjust(whole) + (dot + f if f else "")).ljust(whole + frac)
            for i, dot, f in parts]


def signed_percent(change: Decimal, base: Decimal, places: int = 2) -> str:
    """`+1.23%`, from a change and the value it is relative to."""
    if not base:
        return "n/a"
    ratio = change * 100 / base
    return f"{'+' if ratio >= 0 else '-'}{abs(ratio):.{places}f}%"


def compact(value: Decimal) -> str:
    """A short form for axis labels: 1234.5 -> 1.23k."""
    number = float(value)
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(number) >= limit:
            return f"{number / limit:.3g}{suffix}"
    return f"{number:.4g}"


def local_time(ms: int, *, millis: bool = False) -> str:
    """The local wall-clock time of a millisecond timestamp: 14:03:07 or 14:03:07.250."""
    text = time.strftime("%H:%M:%S", time.localtime(ms / 1000))
    return f"{text}.{ms % 1000:03d}" if millis else text


def local_minute(ms: int) -> str:
    """The local date and minute of a candle's open time: 07-27 10:09."""
    return time.strftime("%m-%d %H:%M", time.localtime(ms / 1000))
