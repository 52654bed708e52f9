# The progress bar of `coinsuper export` on a terminal (rich; imported only then): files,
# messages, MB read of the recordings as they lie on disk (compressed), the rate, and
# the time left from how much of that is read.
#
# How much is read is the offset of the file descriptor that replay's reader holds on the
# recording, found by the file's device and inode among this process's descriptors
# (/proc/self/fd, or /dev/fd). The reader stays unaware of the bar, and reading one
# offset ten times a second costs nothing per message. Where neither folder exists, the
# bar counts whole files only.
from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TextIO

from rich.console import Console
from rich.progress import (BarColumn, DownloadColumn, Progress, TaskProgressColumn,
                           TextColumn, TimeRemainingColumn, TransferSpeedColumn)

from ..printable import printable

UPDATE_SECONDS = 0.1  # the bar is redrawn about this often: finer is not seen
_FD_FOLDERS = ("/proc/self/fd", "/dev/fd")


class ProgressBar:
    """Args:
        paths: the recordings, in the order they are read.
        stream: the terminal it is drawn on (stderr).
        warn: how a line is said when the bar is not there (it has ended).
    """

    def __init__(self, paths: list[str], stream: TextIO, *,
                 warn: Callable[[str], None], clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self._warn, self._clock = warn, clock
        self._files: list[tuple[int, int, int]] = []  # (device, inode, size) of each path
        for path in paths:
            try:
                info = os.stat(path)
                self._files.append((info.st_dev, info.st_ino, info.st_size))
            except OSError:
                self._files.append((-1, -1, 0))  # the reader says what is wrong with it
        self._before = [sum(size for *_, size in self._files[:i])
                        for i in range(len(self._files))]  # bytes of the files before
        self._current = 0  # the file being read
        self._fd: int | None = None  # the reader's descriptor on it, once found
        self._started = self._next = clock()
        self._console = Console(file=stream, stderr=True)
        self._progress = Progress(
            TextColumn("file {task.fields[file]}/{task.fields[files]}"),
            TextColumn("{task.fields[messages]:>11,} messages ({task.fields[rate]:,.0f}/s)"),
            BarColumn(), TaskProgressColumn(), DownloadColumn(), TransferSpeedColumn(),
            TimeRemainingColumn(), console=self._console, transient=False,
            redirect_stderr=False, redirect_stdout=False)
        self._task = self._progress.add_task(
            "export", total=sum(size for *_, size in self._files) or None,
            file=1 if paths else 0, files=len(paths), messages=0, rate=0.0)
        self._progress.start()
        self._live = True

    def update(self, messages: int, *, force: bool = False) -> None:
        """The export has handled `messages` messages; the bar is redrawn at most every
        UPDATE_SECONDS (a batch comes hundreds of times a second)."""
        now = self._clock()
        if now < self._next and not force:
            return
        self._next = now + UPDATE_SECONDS
        elapsed = max(now - self._started, 1e-9)
        self._progress.update(self._task, completed=self._read(), messages=messages,
                              rate=messages / elapsed, file=self._current + 1)

    def _read(self) -> int:
        """Bytes of the recordings read so far."""
        offset = self._offset()
        if offset is None:
            self._fd = self._find()
            offset = self._offset()
        return self._before[self._current] + (offset or 0) if self._files else 0

    def _offset(self) -> int | None:
        """The reader's offset in the file in hand, or None when that descriptor is
        not the file's (closed; its number taken by another file)."""
        fd = self._fd
        if fd is None:
            return None
        try:
            info = os.fstat(fd)
            device, inode, _ = self._files[self._current]
            if (info.st_dev, info.st_ino) != (device, inode):
                return None
            return os.lseek(fd, 0, os.SEEK_CUR)  # reads the offset; moves nothing
        except OSError:
            return None

    def _find(self) -> int | None:
        """The descriptor open on a recording at or after the one in hand; moves on to
        that recording (files are read in order, one at a time)."""
        wanted = {(device, inode): i for i, (device, inode, _) in enumerate(self._files)
                  if i >= self._current}
        for folder in _FD_FOLDERS:
            try:
                names = os.listdir(folder)
            except OSError:
                continue
            found = None
            for name in names:
                try:
                    info = os.fstat(int(name))
                except (OSError, ValueError):
                    continue
                index = wanted.get((info.st_dev, info.st_ino))
                if index is not None and (found is None or index < found[0]):
                    found = (index, int(name))
            if found is not None:
                self._current = found[0]
                return found[1]
            return None
        return None

    def done(self, messages: int) -> None:
        """Every recording is read: the bar ends full."""
        self._progress.update(self._task, completed=self._progress.tasks[0].total or 0,
                              messages=messages, file=len(self._files),
                              rate=messages / max(self._clock() - self._started, 1e-9))

    def say(self, text: str) -> None:
        """A warning, printed above the bar."""
        if self._live:
            self._console.print(f"coinsuper: {printable(text)}", markup=False,
                                highlight=False, soft_wrap=True)
        else:
            self._warn(text)

    def close(self) -> None:
        """The bar's last state stays on the screen, complete if the export was."""
        if self._live:
            self._live = False
            self._progress.stop()
