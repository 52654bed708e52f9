# The console script's entry (`coinsuper`): `coinsuper --version` alone is answered before
# Click and the commands are imported, which is most of a start (issue 23: within 2.5x
# the interpreter's own); everything else goes to main.run.
import os
import sys


def run() -> None:
    """main.run, but for the version alone; a failed write of the version goes to
    main.run too, which answers and fails as it always has (exit 7 naming stdout)."""
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
