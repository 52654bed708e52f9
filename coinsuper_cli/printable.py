# Text from the network, made safe for a terminal. A payload field, a topic or a close
# reason can hold escape sequences (ESC ] 0 ; title BEL retitles the terminal, ESC [ 2 J
# clears it, and C1 controls such as U+009B act as ESC [ on many terminals): every such
# string passes through `printable` before it reaches a screen or stderr.
from __future__ import annotations

import re

# C0 controls, DEL and the C1 controls (ECMA-48): everything a terminal may act on.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_C1 = re.compile("[\x80-\x9f]")


def _escape(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"


def printable(text: str) -> str:
    """`text` with its control characters shown as `\\x1b`-style escapes."""
    if _CONTROL.search(text) is None:  # the usual case costs one scan
        return text
    return _CONTROL.sub(_escape, text)


def printable_bytes(data: bytes) -> bytes:
    """A payload as a terminal may show it: UTF-8 where it is, `\\xff` for bytes that
    are not, and control characters escaped."""
    return printable(data.decode("utf-8", "backslashreplace")).encode("utf-8")


def escape_c1_in_json(line: str) -> str:
    """JSON text with C1 controls written as \\u0080..\\u009f: JSON allows them raw, but a
    terminal that shows a jsonl line would act on them. C0 controls are escaped by the
    JSON encoder already."""
    if line.isascii() or _C1.search(line) is None:  # isascii() costs nothing
        return line
    return _C1.sub(lambda m: f"\\u{ord(m.group()):04x}", line)
