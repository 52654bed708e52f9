"""The installed command in a real terminal: tmux runs it in a pane of a given size, the
test reads the screen with capture-pane and types into it with send-keys. The exit
status is written to a file by the pane's shell, and stderr to another."""
from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from conftest import clean_env, coinsuper_command

TAPE_ROW = re.compile(r"\d\d:\d\d:\d\d  (buy|sell) ")
LADDER_ROW = re.compile(r"^│ +\d+\.\d+ +\d+\.\d+ +\d+\.\d+ [█▉▊▋▌▍▎▏ ]*│$")


class Pane:
    """A tmux server of its own with one pane running `coinsuper ARGS`."""

    def __init__(self, directory: Path, args: list[str], width: int, height: int, *,
                 linger: bool = False) -> None:
        """`linger`: the pane stays after the command ends, to read its last screen."""
        if not shutil.which("tmux"):
            pytest.fail("tmux is not installed (.ci/run installs it with apt-get)")
        # A server of its own: tests that run at once (pytest -n) must not share one.
        self.socket = f"coinsuper-test-{uuid.uuid4().hex[:12]}"
        self.status, self.stderr = directory / "status", directory / "stderr"
        command = " ".join(shlex.quote(part) for part in coinsuper_command() + args)
        # The shell traps Ctrl-C (a handler, not "ignore", which the child would inherit)
        # so that it survives to write the exit status.
        shell = f"trap : INT; {command} 2>{shlex.quote(str(self.stderr))}; " \
                f"echo $? > {shlex.quote(str(self.status))}" + ("; sleep 60" if linger else "")
        self._tmux("new-session", "-d", "-s", "live", "-x", str(width), "-y", str(height),
                   "sh", "-c", shell)

    def _tmux(self, *args: str) -> str:
        # Without COLUMNS and LINES (pytest -n sets them): the pane's size must rule.
        env = {k: v for k, v in clean_env().items() if k not in ("COLUMNS", "LINES")}
        return subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null", *args],
                              env=env, capture_output=True, text=True, timeout=10,
                              check=True).stdout

    def screen(self) -> list[str]:
        return self._tmux("capture-pane", "-p", "-t", "live").splitlines()

    def wait_for(self, ready, timeout: float, what: str) -> list[str]:
        deadline = time.monotonic() + timeout
        lines: list[str] = []
        while time.monotonic() < deadline:
            if self.status.exists():
                break
            lines = self.screen()
            if ready(lines):
                return lines
            time.sleep(0.2)
        err = self.stderr.read_text() if self.stderr.exists() else ""
        raise AssertionError(f"no {what} within {timeout} s:\n" + "\n".join(lines) + err)

    def send(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "live", *keys)

    def exit_status(self, timeout: float = 5.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.status.exists() and self.status.read_text().strip():
                return int(self.status.read_text())
            time.sleep(0.1)
        raise AssertionError("coinsuper did not exit:\n" + "\n".join(self.screen()))

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


@pytest.fixture
def pane(tmp_path):
    panes = []

    def start(args, width, height):
        panes.append(Pane(tmp_path, args, width, height))
        return panes[-1]

    yield start
    for p in panes:
        p.close()


def watch_ready(lines: list[str]) -> bool:
    screen = "\n".join(lines)
    return (all(title in screen for title in ("Book BTC_USD", "Trades BTC_USD",
                                              "Candles BTC_USD", "Depth BTC_USD"))
            and "spread " in screen and TAPE_ROW.search(screen) is not None
            and "O " in screen and "bid " in screen and "4/4 subscribed" in screen
            and "waiting for" not in screen)


def test_watch_fills_all_four_panels_updates_and_quits_with_q(pane):
    watch = pane(["watch", "BTC_USD", "--sandbox"], 120, 40)
    first = watch.wait_for(watch_ready, 15, "dashboard with data in all four panels")
    assert len(first) == 40 and all(len(line) <= 120 for line in first)
    assert first[-1].startswith(" SANDBOX "), first[-3:]
    body = first[:-1]  # without the status line, whose clock always moves

    later = watch.wait_for(lambda lines: lines[:-1] != body, 10, "change in the panels")
    assert watch_ready(later)
    messages = [int(re.search(r"([\d,]+) msgs", s[-1]).group(1).replace(",", ""))
                for s in (first, later)]
    assert messages[1] > messages[0]

    watch.send("q")
    assert watch.exit_status() == 0
    assert watch.stderr.read_text() == ""  # no traceback, no warning


def test_book_fits_80x24_and_ctrl_c_exits_130(pane):
    book = pane(["book", "BTC_USD", "--sandbox"], 80, 24)
    lines = book.wait_for(lambda s: sum(bool(LADDER_ROW.match(x)) for x in s) >= 18, 15,
                          "ladder")
    assert len(lines) == 24 and all(len(line) <= 80 for line in lines)
    assert lines[0].startswith("╭─ Book BTC_USD · step 0.01")
    spread = next(i for i, line in enumerate(lines) if "spread " in line)
    asks = [float(line.split()[1]) for line in lines[2:spread]]
    bids = [float(line.split()[1]) for line in lines[spread + 1:-2]]
    assert asks == sorted(asks, reverse=True) and bids == sorted(bids, reverse=True)
    assert asks[-1] > bids[0]  # the best ask above the best bid, the spread between
    assert len(asks) == 9 and len(bids) == 10

    book.send("C-c")
    assert book.exit_status() == 130
    assert book.stderr.read_text().strip() == ""  # Click ends the ^C line, nothing more


class ShellPane(Pane):
    """An interactive bash, with job control, running `coinsuper ARGS` as a job of its
    own, as a person would; `exit_status` asks the shell for it afterwards."""

    def __init__(self, directory: Path, args: list[str], width: int, height: int, *,
                 linger: bool = False) -> None:
        """`linger`: the pane stays after the command ends, to read its last screen."""
        if not shutil.which("tmux"):
            pytest.fail("tmux is not installed (.ci/run installs it with apt-get)")
        self.socket = f"coinsuper-shell-{directory.name}"
        self.status, self.stderr = directory / "status", directory / "stderr"
        self._tmux("new-session", "-d", "-s", "live", "-x", str(width), "-y", str(height),
                   "env", "PS1=$ ", "bash", "--norc", "--noprofile", "-i")
        command = " ".join(shlex.quote(part) for part in coinsuper_command() + args)
        self.send(f"{command} 2>{shlex.quote(str(self.stderr))}", "Enter")

    def exit_status(self, timeout: float = 5.0) -> int:
        self.send(f"echo $? > {shlex.quote(str(self.status))}", "Enter")
        return super().exit_status(timeout)


def test_ctrl_z_gives_the_terminal_back_and_fg_takes_it_again(tmp_path):
    shell = ShellPane(tmp_path, ["book", "BTC_USD", "--sandbox"], 80, 24)
    try:
        def ladder(s):
            return sum(bool(LADDER_ROW.match(x)) for x in s) >= 18

        shell.wait_for(ladder, 15, "ladder")
        shell.send("C-z")
        stopped = shell.wait_for(lambda s: any("Stopped" in x for x in s), 5, "a stopped job")
        assert not ladder(stopped)  # the normal screen is back, with the shell on it
        shell.send("stty -a | grep -o ' icanon' && echo cooked", "Enter")
        shell.wait_for(lambda s: any(x.strip() == "cooked" for x in s), 5,
                       "the terminal's own settings")
        shell.send("fg", "Enter")
        shell.wait_for(ladder, 10, "the ladder again after fg")
        shell.send("q")
        assert shell.exit_status() == 0
        assert shell.stderr.read_text() == ""
    finally:
        shell.close()
