# `coinsuper config`: every setting a streaming command would use and where it came from
# (command line, environment, profile, config file, default), one line each, with the
# secret key never shown, the access key masked and URLs without their passwords.
from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping
from typing import Any

import click
from click.core import ParameterSource

from ..printable import printable
from .config import KEYS, MARKET_KEYS, SECRET_KEYS, Setting


def describe(rows: Iterable[tuple[str, Any, str | None]]) -> list[str]:
    """`coinsuper config`'s lines, `key = value  (source)`, from (key, value, source)
    rows; the source as the CLI names it ("command line", "environment COINSUPER_URL",
    a Setting's source, "default"). The secret key is never shown, the access key is
    masked, a command is shown as a command, and URLs lose any user:password."""
    from ..net.plans import mask
    from ..urls import redact_url

    rows = list(rows)
    width = max((len(key) for key, _, _ in rows), default=0)
    lines = []
    for key, value, source in rows:
        if value is None:
            shown = "(not set)"
        elif key == "secret_key":
            shown = "***"  # may be the callable that runs secret_key_command: not called
        elif key == "access_key":
            shown = mask(str(value))
        elif value == "":
            shown = '"" (none)'
        elif isinstance(value, (list, tuple)):
            shown = shlex.join(str(v) for v in value)
        elif isinstance(value, str) and "://" in value:
            shown = redact_url(value)
        else:
            shown = str(value)
        suffix = f"  ({source})" if source else ""
        lines.append(printable(f"{key:<{width}} = {shown}{suffix}"))
    return lines


def rows(ctx: click.Context, settings: Mapping[str, Setting]
         ) -> list[tuple[str, Any, str | None]]:
    """What `coinsuper config` shows: (key, value, source) for every key of the config
    file, as Click resolved the options of `ctx`'s command (which took the config file
    through `Config.default_map(..., secret=False)`: showing settings runs no program).
    A key the command has no option for is shown as the file gives it."""
    params = {param.name: param for param in ctx.command.params}
    found: list[tuple[str, Any, str | None]] = []
    for key in KEYS:
        if key == "secret_key_command":
            continue  # shown in secret_key's place when it is what gives the secret
        param = params.get(key)
        kind = ctx.get_parameter_source(key) if param is not None else None
        value = ctx.params.get(key) if param is not None else None
        if kind in (ParameterSource.COMMANDLINE, ParameterSource.PROMPT):
            found.append((key, value, "command line"))
        elif kind is ParameterSource.ENVIRONMENT:
            envvar = param.envvar if isinstance(param.envvar, str) else None
            found.append((key, value, f"environment {envvar}" if envvar else "environment"))
        elif key == "secret_key" and any(name in settings for name in SECRET_KEYS):
            name = next(name for name in SECRET_KEYS if name in settings)
            found.append((name, settings[name].value, settings[name].source))
        elif key in settings:
            shown = value if kind is ParameterSource.DEFAULT_MAP else settings[key].value
            found.append((key, shown, settings[key].source))
        elif param is not None:
            found.append((key, value, "default" if value is not None else None))
    found += [(key, _market_text(settings[key].value), settings[key].source)
              for key in MARKET_KEYS if key in settings]
    return found


def _market_text(value: tuple) -> str:
    """The markets board's settings, one line: symbols, rules, or lots."""
    from ..markets.portfolio import Lot

    return ", ".join(f"{v.quantity} {v.symbol} at {v.unit_cost}" if isinstance(v, Lot)
                     else getattr(v, "rule", v) for v in value)
