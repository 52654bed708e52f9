# The config file (PRODUCT.md, "Connecting from anywhere"): where it is, what it may hold,
# and the settings a profile gives (secret_command.py runs its secret_key_command, and
# config_display.py shows the settings as `coinsuper config` prints them). Read once, checked whole: every problem is one
# UsageError line naming the file and the key. The CLI feeds the settings to Click as
# `default_map`, so Click's own order gives the contract's precedence: command line, then
# environment, then the profile, then the top level, then built-in defaults.
from __future__ import annotations

import functools
import os
import shlex
import stat
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError, UsageError
from ..printable import printable
from . import toml_shape
from .secret_command import run_secret_command

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

# A config file is a few lines; anything bigger is the wrong file. (tomllib reads 1 MiB
# of plain keys in 1-2 s; 64 KiB, a thousand lines, in a tenth of that.)
MAX_BYTES = 64 * 1024

KEYS = ("url", "env", "email", "access_key", "secret_key", "secret_key_command", "qos",
        "keepalive", "cafile", "cert", "key", "proxy")
# The markets board's keys (`coinsuper markets`): read by that command itself, never a
# default of an option (`alerts` would become --alert's), shown by `coinsuper config`.
MARKET_KEYS = ("watchlist", "lots", "alerts")
MAX_ENTRIES = 200  # markets, lots or alerts in one list: a board, not a database
PATH_KEYS = frozenset({"cafile", "cert", "key"})
# secret_key and secret_key_command are two ways of giving one value: a table that gives
# either replaces both of the table beneath it.
SECRET_KEYS = ("secret_key", "secret_key_command")
INT_RANGES = {"qos": (0, 2), "keepalive": (0, 65535)}


@dataclass(frozen=True, slots=True)
class Setting:
    """One value from the config file and where it came from ("profile NAME in PATH",
    "config file PATH"), as `coinsuper config` shows it."""

    value: Any = field(repr=False)
    source: str


@dataclass(frozen=True, slots=True)
class Config:
    """A checked config file: its top-level table and its profiles, with paths already
    made absolute. `path` is None when the default file does not exist; `looked_for` is
    where it was looked for."""

    path: str | None = None
    top: Mapping[str, Any] = field(default_factory=dict, repr=False)
    profiles: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, repr=False)
    looked_for: str | None = None

    def settings(self, profile: str | None = None) -> dict[str, Setting]:
        """The values of the top level overlaid with those of `profile` (None: no
        profile), in KEYS order. UsageError for a profile the file does not have."""
        merged = {key: Setting(value, f"config file {self.path}")
                  for key, value in self.top.items()}
        if profile is not None:
            table = self._profile(profile)
            if any(key in table for key in SECRET_KEYS):
                for key in SECRET_KEYS:
                    merged.pop(key, None)
            where = f"profile {_key(profile)} in {self.path}"
            merged.update((key, Setting(value, where)) for key, value in table.items())
        return {key: merged[key] for key in KEYS + MARKET_KEYS if key in merged}

    def default_map(self, profile: str | None = None, *, secret: bool = True
                    ) -> dict[str, Any]:
        """The settings as Click's `default_map` of one command: option name to value.
        secret_key_command becomes `secret_key`, a callable Click calls only when neither
        the command line nor the environment gives the secret key, so the program runs
        only then. secret=False leaves the secret out altogether: a command without
        private channels must not run a password manager."""
        values: dict[str, Any] = {}
        for key, setting in self.settings(profile).items():
            if key in MARKET_KEYS:
                continue
            if key == "secret_key_command":
                if secret:
                    values["secret_key"] = functools.partial(run_secret_command,
                                                             list(setting.value))
            elif key != "secret_key" or secret:
                values[key] = setting.value
        return values

    def _profile(self, profile: str) -> Mapping[str, Any]:
        if profile == "":
            raise ConfigError("empty profile name: give --profile NAME")
        try:
            return self.profiles[profile]
        except KeyError:
            pass
        if self.path is None:
            raise ConfigError(f"no profile {_key(profile)}: there is no config file "
                              f"{printable(self.looked_for or default_path(os.environ))}")
        known = ", ".join(_key(p) for p in self.profiles) or "none"
        raise ConfigError(f"{self.path}: no profile {_key(profile)}; profiles there: "
                          f"{known}") from None


def default_path(environ: Mapping[str, str]) -> str:
    """$XDG_CONFIG_HOME/coinsuper/config.toml; ~/.config when XDG_CONFIG_HOME is unset,
    empty or relative (the XDG Base Directory spec says to ignore a relative one)."""
    base = environ.get("XDG_CONFIG_HOME", "")
    if not os.path.isabs(base):
        base = os.path.join(_home(environ), ".config")
    return os.path.join(base, "coinsuper", "config.toml")


def load(path: str | None, environ: Mapping[str, str]) -> Config:
    """Read and check a config file. `path` None: COINSUPER_CONFIG if set and not empty,
    else the default location, where a missing file is an empty config. A missing file
    that was named (--config, COINSUPER_CONFIG) is a UsageError, like any problem in it.
    """
    explicit = path is not None or bool(environ.get("COINSUPER_CONFIG"))
    if path is None:
        path = environ.get("COINSUPER_CONFIG") or default_path(environ)
    if path == "":
        raise ConfigError("empty config file path: give --config PATH")
    shown = printable(path)
    data = _parse(path, shown, explicit=explicit)
    if data is None:
        return Config(looked_for=path)
    return _check(data, path, shown, environ)


def _parse(path: str, shown: str, *, explicit: bool) -> dict[str, Any] | None:
    """The file's TOML, or None for a default file that does not exist."""
    try:
        # O_NONBLOCK: opening a FIFO for reading would wait for a writer forever.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
                     | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        if not explicit:
            return None
        raise ConfigError(f"config file {shown} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {shown} is a directory") from None
    except (OSError, ValueError) as error:  # ValueError: a NUL in the path
        reason = getattr(error, "strerror", None) or str(error)
        raise ConfigError(f"cannot read config file {shown}: {reason}") from None
    try:
        info = os.fstat(fd)  # of the file opened, not of whatever the path names later
        if stat.S_ISDIR(info.st_mode):
            raise ConfigError(f"config file {shown} is a directory")
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"config file {shown} is not a regular file")
        raw = _read(fd, MAX_BYTES + 1)
    except OSError as error:
        raise ConfigError(f"cannot read config file {shown}: {error.strerror}") from None
    finally:
        os.close(fd)
    if len(raw) > MAX_BYTES:
        raise ConfigError(f"config file {shown} is larger than {MAX_BYTES // 1024} KiB: "
                          "is it the right file?")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise ConfigError(f"{shown}: line {line}: not UTF-8 text") from None
    found = toml_shape.maybe_problem(text)  # shapes tomllib takes minutes or its stack on
    if found is not None:
        raise ConfigError(f"{shown}: line {found[0]}: {found[1]}")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        # The message says where: "Invalid value (at line 3, column 7)".
        raise ConfigError(f"{shown}: {_one_line(str(error))}") from None
    except RecursionError:  # a shape toml_shape lets through and tomllib cannot
        raise ConfigError(f"{shown}: nested too deeply to read") from None
    _check_mode(info, shown, data)
    return data


def _read(fd: int, limit: int) -> bytes:
    chunks, size = [], 0
    while size < limit:
        chunk = os.read(fd, min(65536, limit - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _tables(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The top level and every profile table, before they are checked."""
    profiles = data.get("profiles")
    if not isinstance(profiles, dict):
        return [data]
    return [data, *(table for table in profiles.values() if isinstance(table, dict))]


def _check_mode(info: os.stat_result, shown: str, data: Mapping[str, Any]) -> None:
    """As ssh refuses a private key that others can read: a file holding a secret key
    must be readable by its owner only. And one naming a program to run must not be
    writable by anyone but its owner, who would otherwise choose what coinsuper runs.
    Checked before the values, so that no message about them reaches a shared log."""
    if os.name != "posix":
        return
    mode = stat.S_IMODE(info.st_mode)
    fix = f"chmod 600 {shlex.quote(shown)}"
    tables = _tables(data)
    if any("secret_key" in table for table in tables) and mode & 0o044:
        raise ConfigError(f"{shown} holds secret_key and is readable by group or others "
                          f"(mode {mode:04o}); refused, as ssh does: {fix}")
    if any("secret_key_command" in table for table in tables):
        if mode & 0o022:
            raise ConfigError(f"{shown} names a secret_key_command and is writable by "
                              f"group or others (mode {mode:04o}), who could choose the "
                              f"program; refused: {fix}")
        if info.st_uid not in (os.getuid(), 0):
            raise ConfigError(f"{shown} names a secret_key_command and belongs to another "
                              f"user (uid {info.st_uid}), who could choose the program; "
                              "refused")


def _check(data: dict[str, Any], path: str, shown: str, environ: Mapping[str, str]
           ) -> Config:
    base = os.path.dirname(os.path.abspath(path))
    top = {k: v for k, v in data.items() if k != "profiles"}
    profiles = data.get("profiles", {})
    if not isinstance(profiles, dict):
        raise ConfigError(f"{shown}: profiles: expected tables like [profiles.NAME], got "
                          f"{_toml_type(profiles)}")
    checked_profiles = {}
    for name, table in profiles.items():
        where = f"profiles.{_key(name)}"
        if not isinstance(table, dict):
            raise ConfigError(f"{shown}: {where}: expected a table [{where}], got "
                              f"{_toml_type(table)}")
        checked_profiles[name] = _table(table, shown, where + ".", base, environ)
    return Config(path, _table(top, shown, "", base, environ), checked_profiles,
                  looked_for=path)


def _table(table: Mapping[str, Any], shown: str, where: str, base: str,
           environ: Mapping[str, str]) -> dict[str, Any]:
    if all(key in table for key in SECRET_KEYS):
        at = f"[{where[:-1]}]" if where else "the top level"
        raise ConfigError(f"{shown}: {at} sets both secret_key and secret_key_command; "
                          "keep one")
    values = {}
    for key, value in table.items():
        name = where + _key(key)
        if key not in KEYS + MARKET_KEYS:
            hint = (" (profiles do not nest)" if key == "profiles" else "")
            raise ConfigError(f"{shown}: unknown key {name}{hint}; valid keys: "
                              f"{', '.join(KEYS + MARKET_KEYS)}")
        values[key] = _value(key, value, f"{shown}: {name}", base, environ)
    return values


def _value(key: str, value: Any, at: str, base: str, environ: Mapping[str, str]) -> Any:
    if key in MARKET_KEYS:
        return _market_value(key, value, at)
    if key in INT_RANGES:
        low, high = INT_RANGES[key]
        # bool is an int to Python; `qos = true` is a mistake, not 1.
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{at}: expected an integer from {low} to {high}, got "
                              f"{_toml_type(value)}")
        if not low <= value <= high:
            raise ConfigError(f"{at}: expected an integer from {low} to {high}, got {value}")
        return value
    if key == "secret_key_command":
        return _command(value, at, base, environ)
    shown = key != "secret_key"
    if not isinstance(value, str):
        raise ConfigError(f"{at}: expected a string, got {_toml_type(value)}")
    if value == "" and key == "proxy":
        return value  # none, over a proxy of the top level: as --proxy ""
    if value == "":
        raise ConfigError(f"{at}: empty; remove the line to use the default")
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in value):
        raise ConfigError(f"{at}: holds a control character"
                          + (f": {printable(repr(value))}" if shown else ""))
    _validate(key, value, at)
    if key in PATH_KEYS:
        return _path(value, base, environ)
    return value


def _validate(key: str, value: str, at: str) -> None:
    """The checks the command line makes, made here too so that the message names the
    file and the key rather than an option the user did not type."""
    from ..api import exchange

    checks: dict[str, Callable[[str], object]] = {
        "env": exchange.validate_env, "email": exchange.validate_email,
        "access_key": exchange.validate_access_key,
        "secret_key": exchange.validate_secret_key,
    }
    if key == "url":
        from ..urls import check_url
        checks["url"] = check_url
    if key == "proxy":
        from ..net.proxy import check_proxy_url
        checks["proxy"] = check_proxy_url
    check = checks.get(key)
    if check is None:
        return
    try:
        check(value)
    except UsageError as error:
        raise ConfigError(f"{at}: {error}") from None


def _market_value(key: str, value: Any, at: str) -> tuple:
    """watchlist: symbols; lots: [[lots]] tables of symbol, quantity and unit_cost;
    alerts: [[alerts]] tables with a `rule` as --alert takes it."""
    from ..markets.alerts import parse_alert
    from ..markets.portfolio import parse_lots

    if not isinstance(value, list) or not value:
        what = {"watchlist": 'an array of symbols, like ["BTC_USD", "ETH_BTC"]',
                "lots": "[[lots]] tables", "alerts": "[[alerts]] tables"}[key]
        raise ConfigError(f"{at}: expected {what}, got {_describe_list(value)}")
    if len(value) > MAX_ENTRIES:
        raise ConfigError(f"{at}: {len(value)} entries; at most {MAX_ENTRIES}")
    try:
        if key == "lots":
            return parse_lots(value, where=at)
        if key == "watchlist":
            from ..api import exchange

            if not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{at}: expected symbols as strings, got "
                                  f"{_describe_list(value)}")
            return tuple(dict.fromkeys(exchange.normalise_symbol(v) for v in value))
        alerts = []
        for number, table in enumerate(value, 1):
            if not isinstance(table, dict) or set(table) != {"rule"} or \
                    not isinstance(table["rule"], str):
                raise ConfigError(f'{at}: entry {number}: expected a table with one key, '
                                  f'rule = "BTC_USD>7000"')
            alerts.append(parse_alert(table["rule"], option=f"{at}: entry {number}"))
        return tuple(alerts)
    except ConfigError:
        raise
    except UsageError as error:
        message = str(error)
        raise ConfigError(message if message.startswith(at) else f"{at}: {message}"
                          ) from None


def _command(value: Any, at: str, base: str, environ: Mapping[str, str]) -> list[str]:
    if (not isinstance(value, list) or not value
            or not all(isinstance(arg, str) for arg in value)):
        raise ConfigError(f'{at}: expected a list of strings, like ["pass", "show", '
                          f'"coinsuper"], got {_describe_list(value)}')
    if value[0] == "":
        raise ConfigError(f"{at}: the program's name is empty")
    if any("\0" in arg for arg in value):
        raise ConfigError(f"{at}: holds a NUL character")
    program = value[0]
    # A bare name is looked up in PATH; a path is a path like cafile's.
    if program.startswith("~") or os.sep in program:
        program = _path(program, base, environ)
    return [program, *value[1:]]


def _path(value: str, base: str, environ: Mapping[str, str]) -> str:
    """`~` expanded, and a relative path taken from the config file's directory: the
    file is read from anywhere, and `cafile = "ca.pem"` beside it means that file."""
    if value == "~" or value.startswith("~/"):
        value = _home(environ) + value[1:]
    else:
        value = os.path.expanduser(value)  # ~user/...
    return os.path.normpath(os.path.join(base, value))


def _home(environ: Mapping[str, str]) -> str:
    home = environ.get("HOME", "")
    return home if os.path.isabs(home) else os.path.expanduser("~")


def _key(key: str) -> str:
    """A key as TOML would write it in a dotted name."""
    bare = key and all(c.isascii() and (c.isalnum() or c in "-_") for c in key)
    return key if bare else printable('"' + key.replace("\\", "\\\\").replace('"', '\\"')
                                      + '"')


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _toml_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    for kind, name in ((int, "an integer"), (float, "a float"), (str, "a string"),
                       (list, "an array"), (dict, "a table")):
        if isinstance(value, kind):
            return name
    return "a date or time"


def _describe_list(value: Any) -> str:
    if isinstance(value, list):
        return "an empty array" if not value else "an array holding " + next(
            _toml_type(v) for v in value if not isinstance(v, str))
    return _toml_type(value)
