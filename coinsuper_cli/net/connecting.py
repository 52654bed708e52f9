# Opening a transport in a thread of its own, so that whoever waits for it can give up.
# A connect blocks in steps no poll reaches: resolving a name, the TCP connect, a proxy's
# tunnel, TLS, the WebSocket handshake. Each is bounded by the connect timeout, but
# --timeout, q, Ctrl-C and SIGTERM must end the command sooner than that, whatever step
# it is in (the runner hands empty batches back meanwhile, and its consumer checks them).
from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable


class Opening:
    """One call of `connect(*args, **kwargs)` running in a daemon thread.

    `wait` says whether it has finished; `result` gives its transport or raises its
    error; `abandon` lets it go: a transport that opens after that is closed at once.
    """

    def __init__(self, connect: Callable, *args, **kwargs) -> None:
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._abandoned = False
        self._transport = None
        self._error: BaseException | None = None
        threading.Thread(target=self._run, args=(connect, args, kwargs), daemon=True,
                         name="coinsuper-connect").start()

    def _run(self, connect: Callable, args: tuple, kwargs: dict) -> None:
        try:
            transport = connect(*args, **kwargs)
        except BaseException as error:  # handed to the waiting thread, which raises it
            with self._lock:
                self._error = error
                self._done.set()
            return
        with self._lock:
            abandoned = self._abandoned
            if not abandoned:
                self._transport = transport
                self._done.set()
        if abandoned:
            with contextlib.suppress(Exception):
                transport.close()

    def wait(self, timeout: float) -> bool:
        """Whether the call has finished, waiting up to `timeout` seconds for it."""
        return self._done.wait(timeout)

    def result(self):
        """The transport, once `wait` said so; raises the call's error instead."""
        if self._error is not None:
            raise self._error
        return self._transport

    def abandon(self) -> None:
        """Nobody will take the transport: close it, now or when it opens."""
        with self._lock:
            self._abandoned = True
            transport, self._transport = self._transport, None
        if transport is not None:
            with contextlib.suppress(Exception):
                transport.close()
