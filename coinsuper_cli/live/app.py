# The live app. A background thread runs the connections and folds each message into the
# model under a lock; the main thread owns the terminal: it reads keys, and redraws at
# most FRAME_SECONDS apart and only when something changed (or the status line's clock
# ticks, or the terminal was resized), so an idle screen costs almost nothing. Whatever
# ends the network thread (a refused sign-in, a lost link, --count, --timeout) is raised
# again in the main thread once the terminal is restored, so cli.main maps it to an exit
# code as in every other format.
from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.live import Live

from .. import signals
from ..api.stream import Limits, Message, Sink, Source, pump
from ..errors import CountNotReached, Finished
from ..net.plans import ConnectionPlan
from ..urls import redact_url
from .dashboard import Dashboard
from .model import LiveModel
from .terminal import Keys, cbreak_keys, suspendable

FRAME_SECONDS = 0.1  # at most 10 redraws a second, whatever the message rate
TICK_SECONDS = 1.0  # redraw at least this often: "last msg N s ago" must move
JOIN_SECONDS = 0.5  # how long quitting waits for the network thread to wind down


class LiveSink(Sink):
    """Folds each message's records into the model, under the drawing thread's lock."""

    def __init__(self, model: LiveModel, lock: threading.Lock, changed: threading.Event,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._model, self._lock, self._changed, self._clock = model, lock, changed, clock

    def write(self, message: Message, records: list | None) -> None:
        with self._lock:
            self._model.received(self._clock())
            self._model.recorded_ms = message.recv_ms
            self._model.apply(message.feed, records or [], message.recv_ms)
        self._changed.set()

    def skipped(self, message: Message, problem: str) -> None:
        with self._lock:
            self._model.received(self._clock())
            self._model.skipped += 1
            self._model.note = problem
        self._changed.set()


# Builds a message source, given the view's callbacks as keywords (see Receiver).
SourceFor = Callable[..., Source]


class Receiver:
    """The network side: pumps the source into the model in one daemon thread.

    Args:
        source_for: builds the message source, given the callbacks the view hooks into
            it as keywords (warn, log, on_state, on_repeat, stop: the runner's
            RunOptions has fields of these names); its warnings and log lines go to the
            status line instead of stderr, which the screen covers.
        forward_state: also receives each connection state change (a recorder's).
        model: where records go, always under `lock`.
        lock: shared with the drawing thread.
        verbose: keep the latest connection log line, for the status line.
        limits: --count, --timeout and --since.
    """

    def __init__(self, source_for: SourceFor, model: LiveModel, lock: threading.Lock, *,
                 forward_state: Callable | None = None, verbose: bool = False,
                 limits: Limits = Limits(), record: Sink | None = None) -> None:
        self._model, self._lock = model, lock
        self._forward_state = forward_state
        self.stopping = threading.Event()
        self.changed = threading.Event()
        self.done = threading.Event()
        self.error: BaseException | None = None
        self._source = source_for(
            warn=self._note, log=self._note if verbose else None, on_state=self._on_state,
            on_repeat=self._on_repeat, stop=self.stopping)
        self._sink: Sink = LiveSink(model, lock, self.changed)
        if record is not None:
            from ..recordings.writer import Tee

            self._sink = Tee(self._sink, record)
        self._limits = limits
        self._thread = threading.Thread(target=self._run, name="coinsuper-receiver",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Asks the source to end: connections say goodbye within the runner's poll
        interval. The thread is a daemon, so not even a stuck socket can hold the
        process."""
        self.stopping.set()
        self._thread.join(JOIN_SECONDS)

    def _run(self) -> None:
        try:
            pump(self._source, self._sink, self._limits, stop=self.stopping)
        except BaseException as error:  # re-raised by the main thread
            self.error = error
        finally:
            self.done.set()

    def _on_state(self, plan: ConnectionPlan, state: str, detail: str = "") -> None:
        with self._lock:
            self._model.set_state(plan, state, detail)
        self.changed.set()
        if self._forward_state is not None:  # a recorder keeps the events too
            self._forward_state(plan, state, detail)

    def _on_repeat(self) -> None:
        with self._lock:
            self._model.repeats += 1
        self.changed.set()

    def _note(self, line: str) -> None:
        with self._lock:
            self._model.note = line
        self.changed.set()


def run_live(plans: list[ConnectionPlan], source_for: SourceFor, *,
             forward_state: Callable | None = None, sandbox: bool = False, replay=None,
             verbose: bool = False, limits: Limits = Limits(),
             console: Console | None = None, stdin=None,
             record: Sink | None = None) -> None:
    """Streams `plans` into a full-screen live view until `q`, Ctrl-C, --count, --timeout
    or a failure; raises what ended the stream, except a `q`, which returns.

    Args:
        replay: the Recording being played, if it is one: the view shows the REPLAY
            mark and the recorded time, and space pauses it, + and - change its speed.
        record: a recorder that gets every message too.
    """
    console = console or Console()
    lock = threading.Lock()
    model = LiveModel(plans, url=redact_url(plans[0].url), sandbox=sandbox)
    if replay is not None:
        model.replay = pace_text(replay)
    receiver = Receiver(source_for, model, lock, forward_state=forward_state,
                        verbose=verbose, limits=limits, record=record)
    with full_screen(console, stdin, receiver) as (live, keys, signalled):
        quit_by_key = _loop(live, console, keys, model, lock, receiver, replay, signalled)
    if isinstance(receiver.error, (Finished, CountNotReached)) and not quit_by_key:
        # --count or --timeout ended it: leave the last frame on the normal screen, as
        # the full screen it was drawn on is gone.
        with lock:
            snapshot = model.snapshot()
        console.print(_dashboard(snapshot, time.monotonic()))
    if receiver.error is not None and not quit_by_key:
        raise receiver.error


@contextmanager
def full_screen(console: Console, stdin, receiver: Receiver
                ) -> Iterator[tuple[Live, Keys, threading.Event]]:
    """The terminal of a live screen while `receiver` runs: keys in cbreak mode, the
    alternate screen, Ctrl-Z handing it back; all restored on the way out, and the
    receiver stopped. Yields the Live, the keys and an event that SIGTERM and SIGHUP
    set: they quit as `q` does, raised once the terminal is given back (signals.py);
    Ctrl-C raises at once, and the terminal is given back too."""
    signalled = threading.Event()
    receiver.start()
    with signals.deferred(hasten=signalled.set):
        try:
            with cbreak_keys(stdin or sys.stdin) as keys, \
                    Live(console=console, screen=True, auto_refresh=False,
                         redirect_stdout=False, redirect_stderr=False) as live, \
                    suspendable(keys, console, receiver.changed.set):
                yield live, keys, signalled
        finally:
            receiver.stop()


def pace_text(replay) -> str:
    if replay.paused:
        return "paused"
    return "max" if replay.speed is None else f"x{replay.speed:g}"


def _dashboard(snapshot, now: float) -> Dashboard:
    # A replay's views live in recorded time: the tape's rolling minute, highlights.
    status = snapshot.status
    now_ms = status.recorded_ms if status.replay and status.recorded_ms else \
        int(time.time() * 1000)
    return Dashboard(snapshot, now_ms=now_ms, now=now)


def on_replay_key(key: str, replay) -> bool:
    """Space pauses or resumes a replay, + doubles its speed, - halves it, n ends the
    wait for the next message."""
    if key == " ":
        replay.paused = not replay.paused
    elif key == "+" and replay.speed is not None:
        replay.set_speed(min(replay.speed * 2, 1024))
    elif key == "-" and replay.speed is not None:
        replay.set_speed(max(replay.speed / 2, 1 / 64))
    elif key == "n":  # a gap of hours in the recording: on to the next message now
        replay.skip_wait()
    else:
        return False
    return True


def _loop(live: Live, console: Console, keys, model: LiveModel, lock: threading.Lock,
          receiver: Receiver, replay=None, quit: threading.Event | None = None) -> bool:
    """Redraws until a key or `quit` quits (True) or the network thread ends (False)."""
    drawn_at, drawn_size = float("-inf"), None
    while True:
        now = time.monotonic()
        size = console.size
        due = receiver.changed.is_set() or size != drawn_size or now - drawn_at >= TICK_SECONDS
        if due and now - drawn_at >= FRAME_SECONDS:
            receiver.changed.clear()
            with lock:
                snapshot = model.snapshot()
            live.update(_dashboard(snapshot, now), refresh=True)
            drawn_at, drawn_size = now, size
        if receiver.done.is_set():
            return False
        typed = keys.read(FRAME_SECONDS)
        if "q" in typed.lower() or (quit is not None and quit.is_set()):
            return True
        if replay is not None and any([on_replay_key(key, replay) for key in typed]):
            with lock:
                model.replay = pace_text(replay)
            receiver.changed.set()
