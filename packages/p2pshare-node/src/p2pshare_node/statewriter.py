"""A download's resume records: the state file, and the journal of pieces verified since.

The state file holds the metainfo (megabytes for a big share) and the verified pieces; it is
written inline, when the download starts, when it resumes and when it stops. In between, each
verified piece goes to the journal at once (journal.py, [STORE-4]): a small write that survives
`kill -9`. Power loss is covered by one fsync of the journal per `interval`, on its own thread,
so a slow disk never stalls the network loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from p2pshare_node.errors import ErrorKind, NodeError
from p2pshare_node.journal import PieceJournal
from p2pshare_node.resume import ResumeState, save_state
from p2pshare_node.safeio import remove_quietly

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
        self._journal: PieceJournal | None = None
        self._dirty = False
        self._written = 0.0
        self._handle: asyncio.TimerHandle | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="p2pshare-state")
        self._closing = False

    @property
    def path(self) -> Path | None:
        return self._path

    def attach(self, path: Path, journal: PieceJournal, *, write_now: bool) -> None:
        """Keep the records in `path` and `journal` from now on; with write_now, write the
        state at once (a new download, or a resume folding its journal in)."""
        self._path = path
        self._journal = journal
        if write_now:
            self._dirty = True
            self.flush()

    def save_now(self) -> None:
        """Write the state file at once (a resume has just re-checked its pieces)."""
        self._dirty = True
        self.flush()

    def remove(self) -> None:
        """The download is complete and in place: nothing is left to resume."""
        journal = self._journal
        self._journal = None
        if journal is not None:
            journal.close()
            remove_quietly(journal.path)
        if self._path is not None:
            remove_quietly(self._path)
        self._path = None
        self._dirty = False

    def piece_verified(self, index: int) -> None:
        """Record a verified piece (written at the next `flush`, durable within `interval`)."""
        journal = self._journal
        if journal is None:
            return
        journal.append(index)
        self._dirty = True
        if self._handle is not None:
            return
        wait = self._written + self._interval - self._loop.time()
        self._handle = self._loop.call_later(max(0.0, wait), self._sync_journal)

    def record(self) -> None:
        """Write the pieces recorded since the last call (raises OSError) [STORE-4]."""
        if self._journal is not None:
            self._journal.flush()

    def _sync_journal(self) -> None:
        self._handle = None
        journal = self._journal
        if journal is not None:
            self._written = self._loop.time()
            future = self._pool.submit(journal.sync)
            future.add_done_callback(self._report)

    def _report(self, future: Future[None]) -> None:
        exc = future.exception()
        if exc is not None and not self._closing:
            self._loop.call_soon_threadsafe(
                self._on_error, ErrorKind.FILESYSTEM, f"cannot write {self._path}: {exc}"
            )

    def flush(self) -> None:
        """Write the state file now and empty the journal (raises NodeError on failure)."""
        if not self._dirty or self._path is None:
            return
        state = self._snapshot()
        if state is None:
            return
        self._dirty = False
        path = self._path
        try:
            save_state(path, state)
            if self._journal is not None:
                self._journal.clear()
        except OSError as exc:
            raise NodeError(ErrorKind.FILESYSTEM, f"cannot write {path}: {exc}") from None

    def close(self, *, keep: bool = True) -> None:
        """Stop: write the state (keep) or delete every record (a download that verified
        nothing leaves nothing behind, [STORE-1]); raises NodeError if the write fails."""
        self._closing = True  # a late background failure no longer stops anything
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        try:
            if keep:
                self.flush()
            else:
                self.remove()
        finally:
            self._pool.shutdown(wait=True)
            if self._journal is not None:
                self._journal.close()
