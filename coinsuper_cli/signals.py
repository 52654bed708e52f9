# SIGTERM and SIGHUP stop a command as Ctrl-C does (PRODUCT.md, "Stopping"): systemd,
# `docker stop`, `kill` and a closed terminal send them, not Ctrl-C. The handler raises
# errors.Terminated or errors.HungUp in the main thread, where Python runs signal
# handlers; like KeyboardInterrupt, it unwinds through the finally blocks that close
# recordings, drain the relay's queue and print its summary, and cli.main maps it to 143
# or 129.
#
# A step that must not be cut halfway (a write into a compressed recording, the relay's
# drain and summary, giving the terminal back) runs under `deferred()`: a signal that
# comes then is held and raised when the step is done. A loop that has its own way to
# stop (a live view's `q`, the sandbox's event loop) passes `hasten`, called when a
# signal is held, and ends as it would on `q`. During the orderly stop a second SIGTERM
# ends the process at once, as someone who insists wants; more SIGHUPs are ignored, since
# a closing terminal may send several.
from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable

from .errors import HungUp, StopSignal, Terminated

KINDS: dict[int, type[StopSignal]] = {signal.SIGTERM: Terminated, signal.SIGHUP: HungUp}
_MAIN = threading.main_thread().ident


class _State:
    depth = 0  # how deep the main thread is in deferred() steps
    held: int | None = None  # a signal that came during a deferred step
    stopping: int | None = None  # the signal an orderly stop is under way for
    hasten: list[Callable[[], object]] = []


_state = _State()


def install() -> None:
    """Handles SIGTERM and SIGHUP from now on (the console script calls it once); one
    that the process was started ignoring stays ignored: `nohup coinsuper relay ...`
    must outlive its terminal."""
    if threading.get_ident() != _MAIN:
        return
    for signum in KINDS:
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, _on_signal)


def _on_signal(signum: int, frame) -> None:
    if _state.stopping is not None:
        if signum == signal.SIGTERM:
            _at_once(signum)
        return
    _state.stopping = signum
    if _state.depth:
        _state.held = signum
        for hasten in list(_state.hasten):
            hasten()
        return
    raise KINDS[signum]()


def _at_once(signum: int) -> None:
    """The second SIGTERM: no more waiting for the orderly stop."""
    name = signal.Signals(signum).name
    try:
        os.write(2, f"coinsuper: a second {name}: stopping at once\n".encode())
    except OSError:
        pass
    os._exit(128 + signum)


class deferred:
    """A step that a signal must not cut: a signal that comes during it is raised when it
    ends (the outermost one, if nested). Only the main thread's steps are deferred: no
    signal handler runs in another thread.

    Args:
        hasten: called when a signal is held, to end the step sooner (a live view's
            loop quits as on `q`). Called from the signal handler: it may only set a
            flag or an event.
    """

    __slots__ = ("_hasten",)

    def __init__(self, hasten: Callable[[], object] | None = None) -> None:
        self._hasten = hasten

    def __enter__(self) -> deferred:
        if threading.get_ident() == _MAIN:
            _state.depth += 1
            if self._hasten is not None:
                _state.hasten.append(self._hasten)
                if _state.held is not None:  # it came between the two lines above
                    self._hasten()
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if threading.get_ident() != _MAIN:
            return
        if self._hasten is not None:
            _state.hasten.remove(self._hasten)
        _state.depth -= 1
        if _state.depth == 0 and _state.held is not None:
            signum, _state.held = _state.held, None
            raise KINDS[signum]()


DEFERRED = deferred()  # for the hot paths: one instance, no allocation per use


def reset() -> None:
    """Forgets a stop under way (tests that run commands in this process)."""
    _state.depth, _state.held, _state.stopping = 0, None, None
    _state.hasten.clear()
