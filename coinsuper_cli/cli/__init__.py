"""The command layer: Click commands (main.py and one module per command family), what a
streaming command does without Click (core.py), the config file (config.py) and shell
completion. The only layer that may import every other."""
import os
import sys


def run() -> None:
    """The console script. `coinsuper --version` alone is answered before Click and the
    commands are imported, which is most of a start (issue 23: within 2.5x the
    interpreter's own); everything else, a failed write of the version included, goes to
    main.run, which answers and fails as it always has."""
    if sys.argv[1:] in (["--version"], ["-V"]):
        from .. import __version__

        try:  # unbuffered: a failed write leaves nothing behind to flush at exit
            os.write(sys.stdout.fileno(), f"coinsuper, version {__version__}\n".encode())
        except (OSError, ValueError):
            pass
        else:
            sys.exit(0)
    from .main import run as run_commands

    run_commands()
