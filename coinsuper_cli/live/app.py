# The live app. A background thread runs the connections and folds each message into the
# model under a lock; the main thread owns the terminal: it reads keys, and redraws at
# most FRAME_SECONDS apart and only when something changed (or the status line's clock
# ticks, or the terminal was resized), so an idle screen costs almost nothing. Whatever
# ends the network thread (a refused sign-in, a lost link, --count, --timeout) is raised
# again in the main thread once the terminal is restored, so cli.main maps it to an exit
# code as in every other format.
from __future__ import annotations

import dataclasses
import sys
import threading
import time

from rich.console import Console
from rich.live import Live

from ..errors import Finished, PayloadError
from ..payloads import Feed
from ..runner import ConnectionPlan, RunOptions, run_connections
from ..transport import redact_url
from .dashboard import Dashboard
from .model import LiveModel
from .terminal import cbreak_keys, suspendable

FRAME_SECONDS = 0.1  # at most 10 redraws a second, whatever the message rate
TICK_SECONDS = 1.0  # redraw at least this often: "last msg N s ago" must move
JOIN_SECONDS = 0.5  # how long quitting waits for the network thread to wind down


class Receiver:
    """The network side: runs every connection in one daemon thread.

    Args:
        plans: the connections to run.
        model: where records go, always under `lock`.
        lock: shared with the drawing thread.
        options: how to run the connections; their warnings and log lines go to the
            status line instead of stderr, which the screen covers.
        verbose: keep the latest connection log line, for the status line.
        count: stop after this many records (--count), or None.
        timeout: stop after this many seconds (--timeout), or None.
    """

    def __init__(self, plans: list[ConnectionPlan], model: LiveModel, lock: threading.Lock,
                 options: RunOptions, *, verbose: bool = False, count: int | None = None,
                 timeout: float | None = None) -> None:
        self._plans, self._model, self._lock = plans, model, lock
        self.stopping = threading.Event()
        self._options = dataclasses.replace(options, warn=self._note,
                                            log=self._note if verbose else None,
                                            on_state=self._on_state, stop=self.stopping)
        self._left = count
        self._timeout = timeout
        self.changed = threading.Event()
        self.done = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="coinsuper-receiver",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Asks the connections to end: they say goodbye within the runner's poll
        interval. The thread is a daemon, so not even a stuck socket can hold the
        process."""
        self.stopping.set()
        self._thread.join(JOIN_SECONDS)

    def _run(self) -> None:
        try:
            run_connections(self._plans, self._options, self._deliver, self._flush,
                            self._timeout)
        except BaseException as error:  # re-raised by the main thread
            self.error = error
        finally:
            self.done.set()

    def _deliver(self, feed: Feed, payload: bytes) -> None:
        if self.stopping.is_set():
            raise Finished("quit")
        now, recv_ms = time.monotonic(), int(time.time() * 1000)
        try:
            records = feed.parse(payload)
        except PayloadError as error:
            records, problem = [], f"skipped a message on {feed.topic}: {error}"
        else:
            problem = ""
        if self._left is not None:
            records = records[: self._left]
            self._left -= len(records)
        with self._lock:
            self._model.received(now)
            if problem:
                self._model.skipped += 1
                self._model.note = problem
            self._model.apply(feed, records, recv_ms)
        self.changed.set()
        if self._left is not None and self._left <= 0:
            raise Finished("--count reached")

    def _flush(self) -> None:
        if self.stopping.is_set():
            raise Finished("quit")

    def _on_state(self, plan: ConnectionPlan, state: str) -> None:
        with self._lock:
            self._model.set_state(plan, state)
        self.changed.set()

    def _note(self, line: str) -> None:
        with self._lock:
            self._model.note = line
        self.changed.set()


def run_live(plans: list[ConnectionPlan], options: RunOptions, *, sandbox: bool,
             verbose: bool = False, count: int | None = None, timeout: float | None = None,
             console: Console | None = None) -> None:
    """Streams `plans` into a full-screen live view until `q`, Ctrl-C, --count, --timeout
    or a failure; raises what ended the stream, except a `q`, which returns."""
    console = console or Console()
    lock = threading.Lock()
    model = LiveModel(plans, url=redact_url(plans[0].url), sandbox=sandbox)
    receiver = Receiver(plans, model, lock, options, verbose=verbose, count=count,
                        timeout=timeout)
    quit_by_key = False
    receiver.start()
    try:
        with cbreak_keys(sys.stdin) as keys, \
                Live(console=console, screen=True, auto_refresh=False,
                     redirect_stdout=False, redirect_stderr=False) as live, \
                suspendable(keys, console, receiver.changed.set):
            quit_by_key = _loop(live, console, keys, model, lock, receiver)
    finally:
        receiver.stop()
    if isinstance(receiver.error, Finished) and not quit_by_key:
        # --count or --timeout ended it: leave the last frame on the normal screen, as
        # the full screen it was drawn on is gone.
        with lock:
            snapshot = model.snapshot()
        console.print(Dashboard(snapshot, now_ms=int(time.time() * 1000),
                                now=time.monotonic()))
    if receiver.error is not None and not quit_by_key:
        raise receiver.error


def _loop(live: Live, console: Console, keys, model: LiveModel, lock: threading.Lock,
          receiver: Receiver) -> bool:
    """Redraws until a key quits (True) or the network thread ends (False)."""
    drawn_at, drawn_size = float("-inf"), None
    while True:
        now = time.monotonic()
        size = console.size
        due = receiver.changed.is_set() or size != drawn_size or now - drawn_at >= TICK_SECONDS
        if due and now - drawn_at >= FRAME_SECONDS:
            receiver.changed.clear()
            with lock:
                snapshot = model.snapshot()
            live.update(Dashboard(snapshot, now_ms=int(time.time() * 1000), now=now),
                        refresh=True)
            drawn_at, drawn_size = now, size
        if receiver.done.is_set():
            return False
        if "q" in keys.read(FRAME_SECONDS).lower():
            return True
