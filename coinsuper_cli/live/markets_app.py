# The markets board on a terminal. As in the live app, a background thread pumps the
# markets' day candles and depth (and, with credentials, the account's balances) into
# the model under a lock, and the main thread owns the terminal: it reads keys and
# redraws at most FRAME_SECONDS apart. Enter opens the `watch` screen of the selected
# market in place, on connections of its own, while the board keeps folding its pushes
# (alerts still fire); Esc closes them and comes back. q, Ctrl-C, SIGTERM and SIGHUP
# quit from either screen.
from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from rich.console import Console
from rich.live import Live

from ..api.stream import Limits
from ..errors import CountNotReached, Finished, PayloadError
from ..markets.board import BoardState, check_range, prices, reduce_board
from ..markets.portfolio import Lot, Summary, summarize, value_assets, value_lots
from ..markets.view import BoardView, on_key, split_keys, visible
from ..net.plans import ConnectionPlan
from ..urls import redact_url
from .app import (SourceFor, FRAME_SECONDS, TICK_SECONDS, Receiver, full_screen, on_replay_key,
                  pace_text)
from .board import BoardScreen, BoardSnapshot
from .dashboard import Dashboard
from .model import LiveModel

MAX_CURRENCIES = 1_000  # balances kept: an account holds tens; the pushes name them
BELL = "\a"  # rung when an alert fires: the terminal's own way to get attention


class BoardModel(LiveModel):
    """The live model of the board: the connections' status as in every live view, the
    board's state in place of panes, and the balances the account's pushes give."""

    def __init__(self, plans: list[ConnectionPlan], board: BoardState, *, url: str,
                 sandbox: bool) -> None:
        super().__init__(plans, url=url, sandbox=sandbox)
        self.board = board
        self.totals: dict[str, object] = {}

    def apply(self, feed, records: list, recv_ms: int) -> None:
        try:
            if feed.channel == "asset":
                for asset in records:
                    self._balance(asset.currency, asset.total)
            else:
                self.board, _ = reduce_board(self.board, records, recv_ms)
        except PayloadError as error:  # a number out of any market's range
            self.skipped += 1
            self.note = f"skipped a message on {feed.topic}: {error}"
            return
        self.records += len(records)

    def _balance(self, currency: str, total) -> None:
        check_range((total,), f"the balance of {currency}")
        if currency in self.totals or len(self.totals) < MAX_CURRENCIES:
            self.totals[currency] = total


@dataclass(frozen=True)
class Holdings:
    """What the holdings pane values: the account's balances (`lots` None) or the
    config file's lots, in `quote`."""

    quote: str
    lots: tuple[Lot, ...] | None
    title: str

    def summary(self, model: BoardModel) -> Summary | None:
        rows = model.board.rows
        if self.lots is not None:
            value = partial(value_lots, self.lots, self.quote)
        elif model.totals:
            value = partial(value_assets, dict(model.totals), self.quote)
        else:
            return None
        return summarize(value, prices(rows), prices(rows, "first"), prices(rows, "open"))


Watch = Callable[[str], tuple[list[ConnectionPlan], SourceFor]]


def run_board(plans: list[ConnectionPlan], source_for: SourceFor, board: BoardState, *,
              watch: Watch | None, forward_state: Callable | None = None,
              holdings: Holdings | None = None, sandbox: bool = False, replay=None,
              verbose: bool = False, limits: Limits = Limits(),
              console: Console | None = None, stdin=None, record=None) -> None:
    """The board until q, Ctrl-C, --timeout or a failure; raises what ended it, but q.

    Args:
        board: the empty board (its markets and alerts).
        watch: the plans and source of the watch screen of a market, for Enter; None
            for none (a replay).
        holdings: what the holdings pane values, or None for no pane.
        replay: the Recording played, if it is one: the board lives in recorded time
            (stale rows, the alert mark), and space, + and - pace it as in replay's view.
    """
    console = console or Console()
    lock = threading.Lock()
    model = BoardModel(plans, board, url=redact_url(plans[0].url), sandbox=sandbox)
    if replay is not None:
        model.replay = pace_text(replay)
    receiver = Receiver(source_for, model, lock, forward_state=forward_state,
                        verbose=verbose, limits=limits, record=record)
    with full_screen(console, stdin, receiver) as (live, keys, signalled):
        quit_by_key = _Loop(live, console, keys, model, lock, receiver, holdings,
                            watch and partial(_open_watch, watch, forward_state, sandbox,
                                              verbose),
                            signalled, replay).run()
    if receiver.error is not None and not quit_by_key:
        if isinstance(receiver.error, (Finished, CountNotReached)):
            with lock:  # the last frame, on the normal screen
                console.print(_screen(model, BoardView(), holdings, time.monotonic()))
        raise receiver.error


def _open_watch(watch: Watch, forward_state: Callable | None, sandbox: bool, verbose: bool,
                symbol: str) -> tuple[LiveModel, threading.Lock, Receiver]:
    plans, source_for = watch(symbol)
    lock = threading.Lock()
    model = LiveModel(plans, url=redact_url(plans[0].url), sandbox=sandbox)
    receiver = Receiver(source_for, model, lock, forward_state=forward_state,
                        verbose=verbose)
    receiver.start()
    return model, lock, receiver


def _screen(model: BoardModel, view: BoardView, holdings: Holdings | None,
            now: float) -> BoardScreen:
    status = model.snapshot().status
    snapshot = BoardSnapshot(model.board, view, status,
                             holdings.summary(model) if holdings else None,
                             holdings.title if holdings else "")
    # A replay's board lives in recorded time: a row is stale, an alert fresh, by it.
    now_ms = status.recorded_ms if status.replay and status.recorded_ms else \
        int(time.time() * 1000)
    return BoardScreen(snapshot, now_ms=now_ms, now=now)


class _Loop:
    """The main thread's loop over both screens."""

    def __init__(self, live: Live, console: Console, keys, model: BoardModel,
                 lock: threading.Lock, receiver: Receiver, holdings: Holdings | None,
                 open_watch: Callable[[str], tuple] | None, quit: threading.Event,
                 replay=None) -> None:
        self.live, self.console, self.keys = live, console, keys
        self.model, self.lock, self.receiver = model, lock, receiver
        self.holdings, self.open_watch, self.quit = holdings, open_watch, quit
        self.replay = replay
        self.view = BoardView()
        self.watching: tuple | None = None  # (model, lock, receiver) of the watch screen
        self.rung = 0  # alerts that had fired at the last bell

    def run(self) -> bool:
        """Redraws until q or a signal (True) or the board's thread ends (False)."""
        drawn_at, drawn_size = float("-inf"), None
        try:
            while True:
                now = time.monotonic()
                size = self.console.size
                changed = self.receiver.changed.is_set() or (
                    self.watching is not None and self.watching[2].changed.is_set())
                if (changed or size != drawn_size or now - drawn_at >= TICK_SECONDS) \
                        and now - drawn_at >= FRAME_SECONDS:
                    self._draw(now)
                    drawn_at, drawn_size = now, size
                if self.receiver.done.is_set():
                    return False
                for key in split_keys(self.keys.read(FRAME_SECONDS)):
                    self._on_key(key)
                if self.view.quit or self.quit.is_set():
                    return True
                if self.watching is not None and self.watching[2].done.is_set():
                    self._close_watch()  # its link failed: back to the board, which says so
        finally:
            self._close_watch()

    def _draw(self, now: float) -> None:
        self.receiver.changed.clear()
        if self.watching is not None:
            model, lock, receiver = self.watching
            receiver.changed.clear()
            with lock:
                snapshot = model.snapshot()
            self.live.update(Dashboard(snapshot, now_ms=int(time.time() * 1000), now=now),
                             refresh=True)
            return
        with self.lock:
            screen = _screen(self.model, self.view, self.holdings, now)
            ring = self.model.board.fired_total > self.rung
            self.rung = self.model.board.fired_total
        self.live.update(screen, refresh=True)
        if ring:  # once for what fired since the last frame, however many
            self.console.file.write(BELL)
            self.console.file.flush()

    def _on_key(self, key: str) -> None:
        replay = self.replay
        if replay is not None and not self.view.typing and on_replay_key(key, replay):
            with self.lock:
                self.model.replay = pace_text(replay)
            self.receiver.changed.set()
            return
        with self.lock:
            rows = visible(self.model.board.rows, self.view)
        before = self.view
        self.view = on_key(self.view, key, rows)
        if self.view.watching is not None and self.open_watch is None:
            self.view = before  # nothing to open (a replay): Enter does nothing
        elif self.view.watching is not None and before.watching is None:
            self.watching = self.open_watch(self.view.watching)
        elif self.view.watching is None and before.watching is not None:
            self._close_watch()
        self.receiver.changed.set()

    def _close_watch(self) -> None:
        if self.watching is not None:
            self.watching[2].stop()
            self.watching = None
            self.view = dataclasses.replace(self.view, watching=None)
