"""One thread for a download's disk work, in order, reporting back to the loop in batches.

Writes, piece hashes and the file hash run on this thread in submission order, so a piece is
hashed only after its blocks are written and the event loop never waits on the disk.

Both directions are batched, because at hundreds of MB/s the per-item costs dominate: jobs
submitted during one turn of the event loop cross to the thread as one queue item (`flush`),
and results come back without waking the loop while the thread still has work queued, since
then the loop is busy too and collects them itself (`deliver`, at its next read). The loop is
woken when the thread runs dry or many results wait, so a result is never stranded.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any

Done = Callable[[Any, BaseException | None], None]
_Job = tuple[Callable[..., Any], tuple[Any, ...], Done | None]
WAKE_AFTER = 64  # results waiting before the loop is woken even though jobs remain


class DiskWorker:
    """Runs jobs in FIFO order on a dedicated thread; `done(result, error)` runs on the loop.

    `wake` is what the loop runs when the thread wakes it (default: `deliver`); a caller
    may wrap `deliver` to handle a whole batch of results as one unit.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        name: str = "p2pshare-disk",
        wake: Callable[[], None] | None = None,
    ) -> None:
        self._loop = loop
        self._wake = wake or self.deliver
        self._jobs: queue.SimpleQueue[list[_Job] | None] = queue.SimpleQueue()
        self._batch: list[_Job] = []
        self._lock = threading.Lock()
        self._results: list[tuple[Done, Any, BaseException | None]] = []
        self._wake_pending = False
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[..., Any], *args: Any, done: Done | None = None) -> None:
        """Queue a job; it starts once `flush` hands the batch to the thread."""
        if self._closed:
            raise RuntimeError("disk worker is closed")
        self._batch.append((fn, args, done))

    def flush(self) -> None:
        """Hand the jobs submitted since the last flush to the thread (one queue item)."""
        if self._batch:
            batch, self._batch = self._batch, []
            self._jobs.put(batch)

    def close(self) -> None:
        """Finish every queued job, then stop the thread (blocking: queued writes must land)."""
        if self._closed:
            return
        self.flush()
        self._closed = True
        self._jobs.put(None)
        self._thread.join()

    def _run(self) -> None:
        jobs = self._jobs
        while (batch := jobs.get()) is not None:
            for fn, args, done in batch:
                result: Any = None
                error: BaseException | None = None
                try:
                    result = fn(*args)
                except BaseException as exc:  # reported to the loop, never lost in the thread
                    error = exc
                if done is not None:
                    with self._lock:
                        self._results.append((done, result, error))
            if not self._results:
                continue
            with self._lock:
                if self._wake_pending or (not jobs.empty() and len(self._results) < WAKE_AFTER):
                    continue  # the loop is busy feeding us: it collects results as it goes
                self._wake_pending = True
            try:
                self._loop.call_soon_threadsafe(self._wake)
            except RuntimeError:
                return  # the loop is closed: nobody is waiting for results any more

    def deliver(self) -> None:
        """Run the `done` callbacks of finished jobs now (on the loop; safe to call any time)."""
        if not self._results:
            return
        with self._lock:
            batch, self._results = self._results, []
            self._wake_pending = False
        for done, result, error in batch:
            done(result, error)
