# A config file and a secret_key_command as a hostile or broken one would be: every case
# is exit 2 with one line naming the file or the command, quickly and in bounded memory;
# never "a bug" (exit 1), never a process left behind. And the tests themselves never read
# the developer's own config file.
from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import EMPTY_CONFIG_HOME, clean_env, coinsuper_command

from coinsuper_cli import config
from coinsuper_cli.cli import main
from coinsuper_cli.config import ConfigError, load, run_secret_command


def refused_secret(argv, **kwargs) -> tuple[str, float]:
    started = time.monotonic()
    with pytest.raises(ConfigError) as caught:
        run_secret_command(argv, **kwargs)
    message = str(caught.value)
    assert "\n" not in message
    return message, time.monotonic() - started


# --- secret_key_command: bounded output, its whole process group killed ---

def test_endless_output_is_refused_at_once_in_flat_memory():
    """`yes` used to be read whole: past 3 GB in 12 s. Its output is read up to 4 kB."""
    code = ("import resource, sys\n"
            "from coinsuper_cli.config import ConfigError, run_secret_command\n"
            "try:\n"
            "    run_secret_command(['yes'], timeout=5)\n"
            "except ConfigError as error:\n"
            "    print(error)\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n")
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    elapsed = time.monotonic() - started
    message, peak_kb = done.stdout.splitlines()
    assert message == ("secret_key_command yes: printed more than 4096 bytes; the secret "
                       "key must be its only, short line")
    assert elapsed < 3, elapsed
    assert int(peak_kb) < 100 * 1024, f"peak RSS {int(peak_kb) // 1024} MB"


def test_one_long_line_is_not_taken_as_the_secret():
    code = "import sys; sys.stdout.write('k' * 100_000_000)"
    message, elapsed = refused_secret([sys.executable, "-c", code])
    assert message.endswith(": printed more than 4096 bytes; the secret key must be its "
                            "only, short line")
    assert elapsed < 5


def test_a_secret_of_the_most_bytes_allowed_is_read():
    secret = "k" * config.MAX_SECRET_OUTPUT
    code = f"import sys; sys.stdout.write({secret!r})"
    assert run_secret_command([sys.executable, "-c", code]) == secret


def group_left(pgid: int) -> list[str]:
    """The processes of group `pgid` that still run (zombies awaiting their reaper are
    not running), as "pid state command" from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses.
        command, rest = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:]
        state, _, pgrp = rest.split()[:3]
        if int(pgrp) == pgid and state != "Z":
            found.append(f"{entry.name} {state} {command}")
    return found


def wait_group_gone(pgid: int, timeout: float = 5.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while (left := group_left(pgid)) and time.monotonic() < deadline:
        time.sleep(0.02)
    return left


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
@pytest.mark.parametrize("tail, says", [
    ("sleep 1000", "gave no answer within 0.5 s"),     # the program hangs
    ("exec yes", "printed more than 4096 bytes"),        # the program floods
    ("echo secret", None),                              # it answers; its child lingers
])
def test_no_process_of_the_programs_group_is_left(tmp_path, tail, says):
    """`sh -c 'sleep 1000 & ...'` used to leave the sleeper running after the timeout:
    the whole group is killed however the program ends."""
    pids = tmp_path / "pids"
    script = f"sleep 1000 </dev/null >/dev/null 2>&1 & echo $$ $! > {pids}; {tail}"
    argv = ["sh", "-c", script]
    try:
        if says is None:
            assert run_secret_command(argv, timeout=10) == "secret"
        else:
            message, elapsed = refused_secret(argv, timeout=0.5)
            assert says in message and elapsed < 3
        shell, sleeper = map(int, pids.read_text().split())
        assert os.getpgid(os.getpid()) != shell  # the program had a group of its own
        assert wait_group_gone(shell) == []
        assert not running(sleeper)
        with pytest.raises(ProcessLookupError):  # not even a zombie is left in the group
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                os.killpg(shell, 0)
                time.sleep(0.02)
    finally:
        for pid in map(int, pids.read_text().split() if pids.exists() else ()):
            try:
                os.kill(pid, 9)  # the old code's leftovers
            except ProcessLookupError:
                pass


def test_a_child_holding_the_output_open_does_not_delay_the_answer(tmp_path):
    """The program answered and exited; a child it started keeps the pipe open. The answer
    is taken when the program exits, not at the timeout (which used to be the case)."""
    started = time.monotonic()
    assert run_secret_command(["sh", "-c", "sleep 1000 & echo secret"], timeout=10) == \
        "secret"
    assert time.monotonic() - started < 3


# --- the tests read no config file but their own (issue 18) ---

def plant_hostile_home(tmp_path) -> Path:
    """A HOME whose ~/.config/coinsuper/config.toml would change what commands do."""
    home = tmp_path / "home"
    planted = home / ".config" / "coinsuper" / "config.toml"
    planted.parent.mkdir(parents=True)
    planted.write_text('url = "ws://planted.invalid:1/mqtt"\nemail = "planted@x.io"\n')
    planted.chmod(0o600)
    return home


def test_in_process_tests_run_with_an_empty_config_home(tmp_path, monkeypatch, capsys):
    """conftest's autouse fixture: whatever the developer's environment and ~/.config
    hold, main() and CliRunner see no COINSUPER_* variable and an empty config home."""
    assert os.environ["XDG_CONFIG_HOME"] == EMPTY_CONFIG_HOME
    assert os.listdir(EMPTY_CONFIG_HOME) == []
    assert not any(name.startswith("COINSUPER_") for name in os.environ)
    monkeypatch.setenv("HOME", str(plant_hostile_home(tmp_path)))
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert "planted" not in out and "url        = wss://api-mqtt-premium" in out


def test_subprocess_tests_run_with_an_empty_config_home(tmp_path):
    env = clean_env(HOME=str(plant_hostile_home(tmp_path)))
    assert env["XDG_CONFIG_HOME"] == EMPTY_CONFIG_HOME
    done = subprocess.run(coinsuper_command() + ["config"], capture_output=True, text=True,
                          env=env, timeout=60)
    assert done.returncode == 0 and "planted" not in done.stdout, done.stdout
