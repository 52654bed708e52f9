# Text from the network, made safe for a terminal. A payload field, a topic or a close
# reason can hold escape sequences (ESC ] 0 ; title BEL retitles the terminal, ESC [ 2 J
# clears it, and C1 controls such as U+009B act as ESC [ on many terminals): every such
# string passes through `printable` before it reaches a screen or stderr. And text made
# safe for the formats that carry it: a JSON line, a csv field.
from __future__ import annotations

import re

# C0 controls, DEL and the C1 controls (ECMA-48): everything a terminal may act on; and
# lone surrogates (a payload's "\\ud800"), which no terminal can be sent as UTF-8.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# What a JSON line must still escape: its encoder leaves C1 controls and lone surrogates
# raw, and JSON can write both as \\u escapes.
_C1_OR_SURROGATE = re.compile("[\x80-\x9f\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """`text` with its control characters shown as `\\x1b`-style escapes."""
    if _CONTROL.search(text) is None:  # the usual case costs one scan
        return text
    return _CONTROL.sub(_escape, text)


def printable_bytes(data: bytes) -> bytes:
    """A payload as a terminal may show it: UTF-8 where it is, `\\xff` for bytes that
    are not, and control characters escaped."""
    return printable(data.decode("utf-8", "backslashreplace")).encode("utf-8")


def escape_json_line(line: str) -> str:
    """JSON text with C1 controls written as \\u0080..\\u009f: JSON allows them raw, but a
    terminal that shows a jsonl line would act on them. Lone surrogates are escaped too,
    so that the line can be UTF-8. C0 controls are escaped by the JSON encoder already."""
    if line.isascii() or _C1_OR_SURROGATE.search(line) is None:  # isascii() costs nothing
        return line
    return _C1_OR_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", line)


def csv_field(field: str, delimiter: str = ",") -> str:
    """A text value as one csv field (RFC 4180): quoted when it holds a quote, the
    delimiter or a line break, so that no value can add a field or a row."""
    if '"' in field or delimiter in field or "\n" in field or "\r" in field:
        return '"' + field.replace('"', '""') + '"'
    return field
