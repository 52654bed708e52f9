# Recordings (PRODUCT.md, "Record and replay"): JSON lines, one per message received or
# connection event, in a plain, gzip or zstandard file chosen by the path's suffix. The
# Recorder is a sink that keeps every message losslessly; reader.py reads a
# recording back (read_lines, read_spans), a killed recorder's truncated end included.
from __future__ import annotations

import base64
import errno
import gzip
import json
import os
import threading
import time
from collections.abc import Callable
from typing import BinaryIO

from .. import __version__
from ..api.records import Record
from ..api.stream import Message, Sink
from ..errors import UsageError, WriteFailed
from ..signals import DEFERRED

FORMAT = 1
FLUSH_SECONDS = 1.0  # a recorder killed with SIGKILL loses at most this much
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _open_for_append(path: str) -> tuple[BinaryIO, Callable[[], object]]:
    """The file at `path`, appended to (never truncated), compressed by its suffix, and
    the call that makes what was written reach the operating system, compressed blocks
    included. Each run appends a gzip member or a zstandard frame; readers read them in
    a row."""
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    if path.endswith(".gz"):
        raw = _open_file(path)
        stream = gzip.GzipFile(filename=path, mode="ab", fileobj=raw)
        stream.myfileobj = raw  # closed with the member, as gzip.open's own file is
        return stream, stream.flush  # a zlib sync flush, then the file's
    if path.endswith(".zst"):
        import zstandard

        stream = zstandard.ZstdCompressor().stream_writer(_open_file(path), closefd=True)
        return stream, lambda: stream.flush(zstandard.FLUSH_BLOCK)
    stream = _open_file(path)
    return stream, stream.flush


def _open_file(path: str) -> BinaryIO:
    """`path` opened to append, at once: opening a FIFO for writing waits for a reader
    (fifo(7)), which would hold the command past --timeout; with O_NONBLOCK it fails
    at once (ENXIO), said as such. Writes then block as usual."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK, 0o666)
    except OSError as error:
        if error.errno == errno.ENXIO:
            raise OSError(error.errno, "a FIFO that no process reads: start its reader "
                                       "first") from None
        raise
    os.set_blocking(fd, True)
    return open(fd, "ab")


class Recorder(Sink):
    """Appends every message, as received, to PATH (strftime fields rotate it, UTC).

    A file that cannot be written (a full disk, an I/O error) is WriteFailed, naming it,
    once: the recorder closes it as far as it got, what was written before stays
    readable, and it writes nothing more. Each write, flush and close runs whole before
    a SIGTERM stops the command (signals.DEFERRED): a compressed stream is never cut
    inside a block by one.

    Args:
        path: the file, or a strftime pattern of files (`data/%Y-%m-%d/%H.jsonl.zst`).
        command: the command line, secrets already removed; written in each file's
            `start` line.
        monotonic: the clock of the once-a-second flush.
    """

    wants_records = False

    def __init__(self, path: str, *, command: list[str],
                 monotonic: Callable[[], float] = time.monotonic,
                 wall_ns: Callable[[], int] = time.time_ns) -> None:
        self._pattern = path
        self._rotates = "%" in path
        self._command = command
        self._monotonic = monotonic
        self._wall_ns = wall_ns
        self._file: BinaryIO | None = None
        self._flush_file: Callable[[], object] = lambda: None
        self._name = ""
        self._second = -1  # the UTC second the current name was formatted for
        self._flushed_at = monotonic()
        self._dirty = False
        # Connection events come from the connections' threads, messages from the
        # writing thread: one line at a time.
        self._lock = threading.Lock()
        self._up: set[int] = set()  # the plans whose connection is subscribed
        self._done = False  # closed, or a write failed: nothing more is written

    def _target(self, recv_ns: int) -> BinaryIO:
        second = recv_ns // 1_000_000_000
        if self._file is not None and (not self._rotates or second == self._second):
            return self._file
        name = time.strftime(self._pattern, time.gmtime(second)) if self._rotates else \
            self._pattern
        self._second = second
        if self._file is not None and name == self._name:
            return self._file
        self._close_file()
        try:
            self._file, self._flush_file = _open_for_append(name)
        except OSError as error:
            raise UsageError(f"cannot record to {name}: {error.strerror or error}") from None
        self._name = name
        self._write_line({"recv_ns": recv_ns, "event": "start", "format": FORMAT,
                          "version": __version__, "command": self._command})
        return self._file

    def _write_line(self, obj: dict) -> None:
        self._file.write((_dumps(obj) + "\n").encode("utf-8"))
        self._dirty = True

    def begin(self, now_ns: int) -> None:
        """Opens the file and writes its start line now, so that a path that cannot be
        written (no room on its disk) is said at once."""
        with DEFERRED, self._lock:
            try:
                self._target(now_ns)
                self._flush_now(self._monotonic())
            except OSError as error:
                raise self._failed(error) from None

    def write(self, message: Message, records: list[Record] | None) -> None:
        payload = message.payload
        try:
            obj = {"recv_ns": message.recv_ns, "topic": message.feed.topic,
                   "payload": payload.decode("utf-8")}
        except UnicodeDecodeError:
            obj = {"recv_ns": message.recv_ns, "topic": message.feed.topic,
                   "payload_b64": base64.b64encode(payload).decode("ascii")}
        with DEFERRED, self._lock:
            if self._done:
                return
            try:
                self._target(message.recv_ns)
                self._write_line(obj)
            except OSError as error:
                raise self._failed(error) from None

    def skipped(self, message: Message, problem: str) -> None:
        self.write(message, None)  # lossless: a payload we cannot read is kept too

    def event(self, recv_ns: int, kind: str, **fields) -> None:
        """A connection event: connected, subscribed, disconnected (with `reason`)."""
        with DEFERRED, self._lock:
            if self._done:
                return
            try:
                self._target(recv_ns)
                self._write_line({"recv_ns": recv_ns, "event": kind, **fields})
            except OSError as error:
                raise self._failed(error) from None

    def on_state(self, plan, state: str, detail: str = "") -> None:
        """The runner's connection states, as events (RunOptions.on_state)."""
        from ..urls import redact_url

        now_ns = self._wall_ns()
        if state == "connected":
            self.event(now_ns, "connected", url=redact_url(plan.url))
        elif state == "subscribed":
            self._up.add(id(plan))
            self.event(now_ns, "subscribed", topics=[f.topic for f in plan.feeds])
        elif state == "reconnecting" and id(plan) in self._up:
            # Once per lost link, not once per attempt to get it back.
            self._up.discard(id(plan))
            self.event(now_ns, "disconnected", reason=detail)

    def flush(self) -> None:
        """Called after every batch; reaches the OS at most once a second."""
        now = self._monotonic()
        if self._dirty and now - self._flushed_at >= FLUSH_SECONDS:
            with DEFERRED, self._lock:
                if self._done:
                    return
                try:
                    self._flush_now(now)
                except OSError as error:
                    raise self._failed(error) from None

    def _flush_now(self, now: float) -> None:
        if self._file is not None:
            self._flush_file()
        self._flushed_at = now
        self._dirty = False

    def close(self) -> None:
        """Ends the file (its compressed stream too); called once at exit. A message
        that comes after (a live view's network thread winding down) is not written:
        it would start a new file that nobody closes."""
        with DEFERRED, self._lock:
            self._done = True
            self._close_file()

    def _close_file(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except OSError as error:
                raise self._failed(error) from None
            finally:
                self._file = None
                self._dirty = False

    def _failed(self, error: OSError) -> WriteFailed:
        """Closes the file as far as it goes and says which file failed, and why."""
        self._done = True
        file, self._file, self._dirty = self._file, None, False
        if file is not None:
            try:
                file.close()  # flushes what it can: the disk may have room again
            except (OSError, ValueError):
                pass  # the same failure, for what was still buffered
        return WriteFailed(f"cannot write the recording {self._name or self._pattern}: "
                           f"{error.strerror or error} (what was written before it stays "
                           "readable)")


class Tee(Sink):
    """The command's own output, and a recorder beside it: counting and parsing follow
    the output; the recorder keeps every message, readable or not."""

    def __init__(self, output: Sink, recorder: Recorder) -> None:
        self.output, self.recorder = output, recorder
        self.wants_records = output.wants_records

    def write(self, message: Message, records: list[Record] | None) -> None:
        self.recorder.write(message, None)
        self.output.write(message, records)

    def skipped(self, message: Message, problem: str) -> None:
        self.recorder.write(message, None)
        self.output.skipped(message, problem)

    def flush(self) -> None:
        self.output.flush()
        self.recorder.flush()


def check_path(path: str) -> str:
    """A --record PATH that can be written: not empty, not a directory, strftime
    fields that format."""
    if not path or "\x00" in path:
        raise UsageError("give a file name, like trades.jsonl.zst")
    try:
        name = time.strftime(path, time.gmtime())
    except ValueError as error:
        raise UsageError(f"bad strftime field in {path!r}: {error}") from None
    if name.endswith(os.sep) or os.path.isdir(name):
        raise UsageError(f"{name} is a directory: give a file name in it")
    directory = os.path.dirname(name) or "."
    if os.path.isdir(directory) and not os.access(directory, os.W_OK):
        raise UsageError(f"cannot write in {directory}")
    return path
