"""One thread for a download's disk work, in order, reporting back to the loop in batches.

Writes, piece hashes and the file hash run on this thread in submission order, so a piece is
hashed only after its blocks are written and the event loop never waits on the disk. Results
come back through one `call_soon_threadsafe` per batch rather than one per job: at hundreds of
MB/s that is thousands of loop wake-ups saved per second.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any

Done = Callable[[Any, BaseException | None], None]
_Job = tuple[Callable[..., Any], tuple[Any, ...], Done | None]


class DiskWorker:
    """Runs jobs in FIFO order on a dedicated thread; `done(result, error)` runs on the loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, name: str = "p2pshare-disk") -> None:
        self._loop = loop
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._results: list[tuple[Done, Any, BaseException | None]] = []
        self._wake_pending = False
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[..., Any], *args: Any, done: Done | None = None) -> None:
        if self._closed:
            raise RuntimeError("disk worker is closed")
        self._jobs.put((fn, args, done))

    def close(self) -> None:
        """Finish every queued job, then stop the thread (blocking: queued writes must land)."""
        if self._closed:
            return
        self._closed = True
        self._jobs.put(None)
        self._thread.join()

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            fn, args, done = job
            result: Any = None
            error: BaseException | None = None
            try:
                result = fn(*args)
            except BaseException as exc:  # reported to the loop, never lost in the thread
                error = exc
            if done is None:
                continue
            with self._lock:
                self._results.append((done, result, error))
                if self._wake_pending:
                    continue
                self._wake_pending = True
            try:
                self._loop.call_soon_threadsafe(self.deliver)
            except RuntimeError:
                return  # the loop is closed: nobody is waiting for results any more

    def deliver(self) -> None:
        """Run the `done` callbacks of finished jobs now (on the loop; also called by itself)."""
        if not self._results:
            return
        with self._lock:
            batch, self._results = self._results, []
            self._wake_pending = False
        for done, result, error in batch:
            done(result, error)
