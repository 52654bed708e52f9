# A cheap look at a TOML text before tomllib parses it, for the two shapes tomllib handles
# badly: arrays or inline tables nested thousands deep (tomllib recurses: RecursionError)
# and keys of thousands of dotted parts (tomllib's time grows with the square of the
# parts: 42 s for a 100,000-part table header). A coinsuper config nests two deep and its
# keys have three parts at most, so the limits are far above any real file and far below
# where tomllib slows down. One pass, strings and comments skipped as TOML lexes them, so
# that a dot or bracket inside a quoted value is not counted.
from __future__ import annotations

import re

MAX_DEPTH = 32  # arrays and inline tables, one inside another
MAX_DOTS = 64   # dots outside strings on one line: a key's parts, a float's point

_SPECIAL = re.compile(r"""[.\[\]{}#"']""")
_BASIC_REST = re.compile(r'(?:[^"\\\n]|\\.)*"')  # a basic string after its opening quote


def maybe_problem(text: str) -> tuple[int, str] | None:
    """(line number, what is wrong) for a text nested deeper than MAX_DEPTH or with more
    than MAX_DOTS dots outside strings on a line; None otherwise. A string that does not
    end stops the look: tomllib will say where it is."""
    depth = dots = 0
    line_end = -1
    pos = 0
    search = _SPECIAL.search
    while (match := search(text, pos)) is not None:
        at = match.start()
        char = text[at]
        pos = at + 1
        if at > line_end:  # a new line: found lazily, so no loop runs per newline
            line_end = text.find("\n", at)
            if line_end < 0:
                line_end = len(text)
            dots = 0
        if char == ".":
            dots += 1
            if dots > MAX_DOTS:
                return _line(text, at), (f"more than {MAX_DOTS} dots outside quotes (a key "
                                         "here has three parts at most)")
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return _line(text, at), (f"arrays or tables nested more than {MAX_DEPTH} "
                                         "deep")
        elif char in "]}":
            depth = max(depth - 1, 0)
        elif char == "#":
            pos = line_end + 1
        else:
            end = _string_end(text, at, line_end)
            if end < 0:
                return None
            pos = end
    return None


def _string_end(text: str, at: int, line_end: int) -> int:
    """Where the string that starts at `at` ends (just past it), or -1."""
    quote = text[at]
    if text.startswith(quote * 3, at):  # multi-line: only its own closing ends it
        end = at + 3
        while True:
            end = text.find(quote * 3, end)
            if end < 0:
                return -1
            backslashes = 0
            while quote == '"' and text[end - 1 - backslashes] == "\\":
                backslashes += 1
            if backslashes % 2 == 0:
                end += 3
                # Up to two more quotes belong to the string: `""""` ends in a quote.
                for _ in range(2):
                    if text.startswith(quote, end):
                        end += 1
                return end
            end += 1
    if quote == "'":
        end = text.find("'", at + 1, line_end)
        return -1 if end < 0 else end + 1
    match = _BASIC_REST.match(text, at + 1)
    return -1 if match is None else match.end()


def _line(text: str, at: int) -> int:
    return text.count("\n", 0, at) + 1
