# A config file and a secret_key_command as a hostile or broken one would be: every case
# is exit 2 with one line naming the file or the command, quickly and in bounded memory;
# never "a bug" (exit 1), never a process left behind. And the tests themselves never read
# the developer's own config file.
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import EMPTY_CONFIG_HOME, clean_env, coinsuper_command

from coinsuper_cli.cli.config import load
from coinsuper_cli.cli.main import main
from coinsuper_cli.cli.secret_command import MAX_SECRET_OUTPUT, run_secret_command
from coinsuper_cli.errors import ConfigError


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
    # The peak is VmHWM, this process's own: ru_maxrss would count the pytest worker
    # that forked it (Linux keeps the forked copy's high-water mark across exec).
    code = ("import re\n"
            "from coinsuper_cli.cli.secret_command import run_secret_command\n"
            "from coinsuper_cli.errors import ConfigError\n"
            "try:\n"
            "    run_secret_command(['yes'], timeout=5)\n"
            "except ConfigError as error:\n"
            "    print(error)\n"
            "status = open('/proc/self/status').read()\n"
            "print(re.search(r'VmHWM:\\s+(\\d+) kB', status)[1])\n")
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
    secret = "k" * MAX_SECRET_OUTPUT
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


# --- a config file of a hostile shape: exit 2, at once ---

def nested(opening, closing, depth, inner=""):
    return "a = " + opening * depth + inner + closing * depth + "\n"


def dotted(parts, header):
    key = ".".join(["a"] * parts)
    return f"[{key}]\n" if header else f"{key} = 1\n"


HOSTILE = {
    # name: (the file's text, the end of the message after "PATH: " or "PATH ")
    "arrays 100,000 deep": (nested("[", "]", 100_000), "is larger than 64 KiB"),
    "arrays 20,000 deep": (nested("[", "]", 20_000),
                           "line 1: arrays or tables nested more than 32 deep"),
    "inline tables 100,000 deep": (nested("{b = ", "}", 100_000, "1"),
                                   "is larger than 64 KiB"),
    "inline tables 10,000 deep": (nested("{b=", "}", 10_000, "1"),
                                  "line 1: arrays or tables nested more than 32 deep"),
    "nesting on line 3": ('env = "x"\n# [[[[\nb = ' + "[{a = " * 40,
                          "line 3: arrays or tables nested more than 32 deep"),
    "a 100,000-part table header": (dotted(100_000, True), "is larger than 64 KiB"),
    "a 20,000-part table header": (dotted(20_000, True),
                                   "line 1: more than 64 dots outside quotes (a key here "
                                   "has three parts at most)"),
    "a 20,000-part dotted key": (dotted(20_000, False),
                                 "line 1: more than 64 dots outside quotes (a key here "
                                 "has three parts at most)"),
}


def write_bytes(tmp_path, data, name="config.toml") -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    path.chmod(0o600)
    return path


def load_refused(path) -> tuple[str, float]:
    started = time.monotonic()
    with pytest.raises(ConfigError) as caught:
        load(str(path), {})
    return str(caught.value), time.monotonic() - started


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_shape_is_refused_at_once_naming_the_line(tmp_path, name):
    """Nesting used to be exit 1 (RecursionError, "a bug"); a 100,000-part header took
    42 s, a 100,000-part dotted key minutes and gigabytes."""
    text, says = HOSTILE[name]
    path = write_bytes(tmp_path, text)
    message, elapsed = load_refused(path)
    assert message in (f"{path}: {says}", f"config file {path} {says}: is it the right file?")
    assert elapsed < 1, elapsed


def test_a_50_mb_file_is_refused_without_reading_it(tmp_path):
    path = tmp_path / "config.toml"
    with path.open("wb") as file:
        file.truncate(50 * 1024 * 1024)  # sparse: the test writes nothing
    path.chmod(0o600)
    message, elapsed = load_refused(path)
    assert message == f"config file {path} is larger than 64 KiB: is it the right file?"
    assert elapsed < 1


def test_tomllib_running_out_of_stack_is_a_config_error(tmp_path, monkeypatch):
    """Should a shape get past toml_shape, the RecursionError is still exit 2."""
    from coinsuper_cli.cli import toml_shape

    monkeypatch.setattr(toml_shape, "MAX_DEPTH", 10**9)
    path = write_bytes(tmp_path, nested("[", "]", 20_000))
    assert load_refused(path)[0] == f"{path}: nested too deeply to read"


def test_dots_and_brackets_in_strings_and_comments_are_not_counted(tmp_path):
    many = "." * 100 + "[{" * 50
    q3 = "'" * 3
    text = (f"# {many}\n"
            f'cafile = "{"a." * 100}pem"  # {many}\n'
            f"cert = '{many}'\n"
            f'key = """{many}\\\n  \\""" {many}"""\n'
            f'secret_key_command = [{q3}sh{q3}, "-c", {q3}\n{many}\n{q3}]\n'
            '[profiles.p]\nenv = "x"\n')
    path = write_bytes(tmp_path, text)
    found = load(str(path), {})
    assert found.settings()["cert"].value.endswith(many)
    assert found.settings()["key"].value.endswith(f'{many}""" {many}')
    assert found.settings()["secret_key_command"].value == ["sh", "-c", f"{many}\n"]


@pytest.mark.parametrize("name", ["arrays 100,000 deep", "a 20,000-part dotted key",
                                  "not UTF-8", "a directory", "/dev/zero", "50 MB"])
def test_the_command_exits_2_with_one_line_naming_the_file(tmp_path, name):
    if name == "a directory":
        path = tmp_path
    elif name == "/dev/zero":
        path = Path("/dev/zero")
    elif name == "50 MB":
        path = tmp_path / "config.toml"
        with path.open("wb") as file:
            file.truncate(50 * 1024 * 1024)
    elif name == "not UTF-8":
        path = write_bytes(tmp_path, b'env = "x"\nemail = "\xff@x.io"\n')
    else:
        path = write_bytes(tmp_path, HOSTILE[name][0])
    done = subprocess.run(coinsuper_command() + ["config", "--config", str(path)],
                          capture_output=True, text=True, env=clean_env(), timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and str(path) in done.stderr, done.stderr
    assert "bug" not in done.stderr


def test_a_flooding_secret_key_command_is_exit_2(tmp_path):
    path = write_bytes(tmp_path, 'email = "e@x.io"\naccess_key = "AK"\n'
                                 'secret_key_command = ["yes"]\n')
    done = subprocess.run(coinsuper_command() + [
        "orders", "--config", str(path), "--url", "ws://127.0.0.1:1/mqtt", "--timeout", "5"],
        capture_output=True, text=True, env=clean_env(), timeout=60)
    assert done.returncode == 2
    assert done.stderr == ("coinsuper: secret_key_command yes: printed more than 4096 "
                           "bytes; the secret key must be its only, short line\n")


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
