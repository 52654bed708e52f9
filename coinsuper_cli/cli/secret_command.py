# secret_key_command: the program the config file names to print the secret key (a
# password manager), run without a shell, bounded in time and in the bytes it may print
# (bounded_process.py), and every way it can fail said in one line that never holds
# what it printed.
from __future__ import annotations

import shlex
import signal
import subprocess

from ..errors import ConfigError
from ..printable import printable
from .bounded_process import OutputTooLong, run_bounded

SECRET_TIMEOUT = 30.0    # long enough to type a passphrase into pinentry, not forever
MAX_SECRET_OUTPUT = 4096  # a secret key is one short line; `yes` must not fill memory


def run_secret_command(argv: list[str], timeout: float = SECRET_TIMEOUT) -> str:
    """Runs secret_key_command without a shell (stdin /dev/null, stderr the user's, in a
    session of its own that is killed whole when it ends) and returns its standard output
    without the trailing newline. UsageError for a program that cannot run, fails, takes
    too long, prints nothing or more than MAX_SECRET_OUTPUT bytes; no message holds what
    it printed."""
    what = f"secret_key_command {printable(shlex.join(argv))}"
    try:
        done = run_bounded(argv, limit=MAX_SECRET_OUTPUT, timeout=timeout)
    except OutputTooLong:
        raise ConfigError(f"{what}: printed more than {MAX_SECRET_OUTPUT} bytes; the "
                          "secret key must be its only, short line") from None
    except FileNotFoundError:
        raise ConfigError(f"{what}: program {printable(argv[0])!r} not found") from None
    except PermissionError:
        raise ConfigError(f"{what}: program {printable(argv[0])!r} is not executable "
                          "(chmod +x?)") from None
    except subprocess.TimeoutExpired:
        raise ConfigError(f"{what}: gave no answer within {timeout:g} s") from None
    except (OSError, ValueError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise ConfigError(f"{what}: cannot run it: {reason}") from None
    if done.returncode < 0:
        try:
            name = signal.Signals(-done.returncode).name
        except ValueError:
            name = f"signal {-done.returncode}"
        raise ConfigError(f"{what}: killed by {name}")
    if done.returncode != 0:
        raise ConfigError(f"{what}: exited with status {done.returncode}")
    out = done.stdout
    out = out[:-2] if out.endswith(b"\r\n") else out[:-1] if out.endswith(b"\n") else out
    if not out:
        raise ConfigError(f"{what}: printed nothing; the secret key is its output")
    if b"\n" in out:
        raise ConfigError(f"{what}: printed more than one line; the secret key must be "
                          "its only line")
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{what}: printed something that is not UTF-8 text") from None
