"""Start-up (issue 23): `coinsuper --version` is answered before Click and the commands
are imported, with the very line Click's version option writes, and a failed write goes
the long way, which says so as it always has."""
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from coinsuper_cli.cli.main import cli

PROBE = ("import atexit, sys\n"
         "sys.argv = ['coinsuper'] + sys.argv[1:]\n"
         "atexit.register(lambda: print(sorted(m for m in sys.modules if m == 'click'\n"
         "    or m.startswith('coinsuper_cli.') and m != 'coinsuper_cli.cli.launch'\n"
         "    and m.count('.') > 1), file=sys.stderr))\n"
         "from coinsuper_cli.cli.launch import run\n"
         "run()\n")


@pytest.mark.parametrize("option", ["--version", "-V"])
def test_the_version_is_clicks_line_without_click(option):
    result = subprocess.run([sys.executable, "-c", PROBE, option], capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0
    assert result.stdout == CliRunner().invoke(cli, [option]).output
    assert result.stderr.strip() == "[]"  # neither Click nor any module of ours


def test_anything_more_than_the_version_goes_to_click():
    result = subprocess.run([sys.executable, "-c", PROBE, "--version", "trades"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and "'click'" in result.stderr


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full here")
def test_a_version_that_cannot_be_written_is_exit_7_naming_stdout():
    with open("/dev/full", "wb") as full:
        result = subprocess.run([sys.executable, "-c", PROBE, "--version"], stdout=full,
                                stderr=subprocess.PIPE, text=True, timeout=30)
    assert result.returncode == 7
    assert "cannot write to stdout" in result.stderr
