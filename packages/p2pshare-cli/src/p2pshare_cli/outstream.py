"""Output that never blocks the network loop, however slowly its reader reads ([#15]).

`p2pshare get --json | slow-consumer` used to stall the whole node once the pipe filled up:
the event loop sat in a write() while peers timed out. Here a thread carries the text to the
file descriptor; the loop only appends to a queue. What the reader cannot keep up with is
dropped in this order: a progress line is replaced by the next one (only the newest is worth
showing), and past `limit` pending characters every line is dropped and counted, then reported
in one line once the reader catches up. Protocol work never waits for output.
"""

from __future__ import annotations

import collections
import contextlib
import os
import threading

MAX_PENDING = 8 * 1024 * 1024
"""Characters queued for a slow reader at most; beyond that, lines are dropped and counted."""


class BackgroundStream:
    """A write-only text stream on a file descriptor whose write() never blocks."""

    def __init__(self, fd: int, limit: int = MAX_PENDING, dropped_line: str = "") -> None:
        self._fd = fd
        self._limit = limit
        self.dropped_line = dropped_line or "(output too slow: {count} lines dropped)\n"
        self._cond = threading.Condition()
        self._chunks: collections.deque[list[str]] = collections.deque()
        self._latest: list[str] | None = None  # the queued replaceable line, if any
        self._pending = 0
        self._dropped = 0
        self._closing = False
        self._dead = False  # the reader went away (EPIPE): drop everything
        self._thread = threading.Thread(target=self._run, name="p2pshare-output", daemon=True)
        self._thread.start()

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        self._put(text, replaceable=False)
        return len(text)

    def write_replaceable(self, text: str) -> None:
        """Queue text that the next replaceable text supersedes if still unwritten (progress)."""
        self._put(text, replaceable=True)

    def flush(self) -> None:
        """Nothing to do: the thread writes as soon as the reader takes more."""

    def _put(self, text: str, *, replaceable: bool) -> None:
        with self._cond:
            if self._dead or self._closing:
                return
            if replaceable and self._latest is not None:
                self._pending += len(text) - len(self._latest[0])
                self._latest[0] = text
                return
            if self._pending + len(text) > self._limit:
                self._dropped += text.count("\n") or 1
                return
            cell = [text]
            self._chunks.append(cell)
            self._pending += len(text)
            if replaceable:
                self._latest = cell
            self._cond.notify()

    def _take(self) -> str | None:
        with self._cond:
            while not self._chunks and not self._closing:
                self._cond.wait()
            if not self._chunks:
                return None
            text = "".join(cell[0] for cell in self._chunks)
            self._chunks.clear()
            self._latest = None
            self._pending = 0
            if self._dropped:
                text += self.dropped_line.format(count=self._dropped)
                self._dropped = 0
            return text

    def _run(self) -> None:
        while (text := self._take()) is not None:
            data = memoryview(text.encode("utf-8", "replace"))
            try:
                while data:
                    data = data[os.write(self._fd, data) :]
            except OSError:  # EPIPE and friends: nobody reads any more
                with self._cond:
                    self._dead = True
                    self._chunks.clear()
                return

    def close(self, timeout: float = 2.0) -> None:
        """Let the thread write what is queued, for at most `timeout` seconds; then give up
        (a reader that stopped reading must not keep the process from exiting)."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(timeout)


def background_stdout() -> BackgroundStream | None:
    """stdout as a BackgroundStream when it is a pipe or a file (None: keep sys.stdout)."""
    import sys

    with contextlib.suppress(AttributeError, OSError, ValueError):
        if not sys.stdout.isatty():
            sys.stdout.flush()
            return BackgroundStream(sys.stdout.fileno())
    return None
