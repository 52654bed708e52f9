# The relay on a terminal: the relay works in a thread while this one redraws its status
# panel four times a second, until the work ends, `q` or Ctrl-C. What the work raises is
# raised here, after the terminal is given back and the last frame is left on it.
from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from rich.console import Console
from rich.live import Live

from .. import signals
from ..relay.status import RelayStatus, rate
from .relay_panel import relay_panel
from .terminal import cbreak_keys

FRAME_SECONDS = 0.25
RATE_SECONDS = 5.0
JOIN_SECONDS = 10.0  # for the work to publish what is queued and say goodbye


def run_relay_view(work: Callable[[threading.Event], None],
                   snapshot: Callable[[], RelayStatus], *, note: Callable[[], str],
                   stdin, sandbox: bool = False, console: Console | None = None,
                   clock: Callable[[], float] = time.monotonic) -> None:
    """Runs `work(stop)` in a thread with the status panel drawn above the prompt.

    Args:
        work: the relay itself; it ends soon after `stop` is set.
        snapshot: the relay's counters now.
        note: the last log line or warning, shown under the counters.
    """
    console = console or Console()
    stop = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            work(stop)
        except BaseException as error:  # re-raised by this thread
            failure.append(error)

    thread = threading.Thread(target=run, name="coinsuper-relay", daemon=True)
    samples: deque[tuple[float, RelayStatus]] = deque([(clock(), snapshot())])

    def frame():
        # Rates over the last RATE_SECONDS: the exchange pushes every second or two, so
        # a frame's quarter second alone would mostly read 0.
        at, now = clock(), snapshot()
        while len(samples) > 1 and at - samples[1][0] >= RATE_SECONDS:
            samples.popleft()
        since, before = samples[0]
        samples.append((at, now))
        seconds = at - since
        return relay_panel(now, rate(now.received, before.received, seconds),
                           rate(now.published, before.published, seconds), note=note(),
                           sandbox=sandbox)

    # SIGTERM and SIGHUP stop it as `q` does: the relay drains its queue and prints its
    # summary in its thread, and the signal is raised once the terminal is given back.
    signalled = threading.Event()
    thread.start()
    with signals.deferred(hasten=signalled.set):
        try:
            with cbreak_keys(stdin) as keys, \
                    Live(frame(), console=console, auto_refresh=False,
                         redirect_stdout=False, redirect_stderr=False) as live:
                while thread.is_alive() and not signalled.is_set():
                    typed = keys.read(FRAME_SECONDS)
                    if "q" in typed.lower():
                        break
                    live.update(frame(), refresh=True)
                stop.set()
                thread.join(JOIN_SECONDS)
                live.update(frame(), refresh=True)
        except KeyboardInterrupt:
            stop.set()
            thread.join(JOIN_SECONDS)
            raise
    if failure:
        raise failure[0]
