"""Writes a download's resume state file: at most once per interval, off the event loop.

Every verified piece marks the state dirty; writing it each time would cost a file write per
piece, so writes are coalesced to one per `interval` and run on their own thread (a slow disk
never stalls the network loop). At start and on close the state is written inline, so the
file on disk is current when the process exits.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from p2pshare_node.errors import ErrorKind, NodeError
from p2pshare_node.resume import ResumeState, save_state

Snapshot = Callable[[], ResumeState | None]
OnError = Callable[[ErrorKind, str], None]


class StateWriter:
    """The resume state of one download; `snapshot()` builds what to write when it is due."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        interval: float,
        snapshot: Snapshot,
        on_error: OnError,
    ) -> None:
        self._loop = loop
        self._interval = interval
        self._snapshot = snapshot
        self._on_error = on_error
        self._path: Path | None = None
        self._dirty = False
        self._written = 0.0
        self._handle: asyncio.TimerHandle | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="p2pshare-state")
        self._closing = False

    @property
    def path(self) -> Path | None:
        return self._path

    def attach(self, path: Path, *, write_now: bool) -> None:
        """Keep the state in `path` from now on (write it at once for a new download)."""
        self._path = path
        if write_now:
            self._dirty = True
            self.flush(sync=True)

    def remove(self) -> None:
        """The download is complete and in place: the state file has nothing left to resume."""
        if self._path is not None:
            with contextlib.suppress(OSError):
                self._path.unlink()
        self._path = None
        self._dirty = False

    def changed(self) -> None:
        """Something worth saving happened: write within `interval` seconds."""
        if self._path is None:
            return
        self._dirty = True
        if self._handle is not None:
            return
        wait = self._written + self._interval - self._loop.time()
        self._handle = self._loop.call_later(max(0.0, wait), self.flush)

    def flush(self, sync: bool = False) -> None:
        """Write the state (in the thread normally; inline with `sync`, raising NodeError)."""
        self._handle = None
        if not self._dirty or self._path is None:
            return
        state = self._snapshot()
        if state is None:
            return
        self._dirty = False
        path = self._path
        self._written = self._loop.time()
        if sync:
            try:
                save_state(path, state)
            except OSError as exc:
                raise NodeError(ErrorKind.FILESYSTEM, f"cannot write {path}: {exc}") from None
            return
        future = self._pool.submit(save_state, path, state)

        def done(_: object) -> None:
            exc = future.exception()
            if exc is not None and not self._closing:
                self._loop.call_soon_threadsafe(
                    self._on_error, ErrorKind.FILESYSTEM, f"cannot write {path}: {exc}"
                )

        future.add_done_callback(done)

    def close(self) -> None:
        """Write what is pending inline, then stop the thread (raises NodeError on failure)."""
        self._closing = True  # a late background failure no longer stops anything
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        try:
            self.flush(sync=True)
        finally:
            self._pool.shutdown(wait=True)
