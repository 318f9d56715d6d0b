"""The disk thread runs jobs in order and reports every result (and error) on the loop."""

from __future__ import annotations

import asyncio
import threading

import pytest
from p2pshare_node.diskworker import DiskWorker

pytestmark = pytest.mark.timeout(30)


async def test_jobs_run_in_order_and_report_on_the_loop() -> None:
    loop = asyncio.get_running_loop()
    worker = DiskWorker(loop)
    loop_thread = threading.get_ident()
    ran: list[int] = []
    results: list[tuple[object, BaseException | None, bool]] = []
    finished = asyncio.Event()

    def job(i: int) -> int:
        ran.append(i)
        if i == 7:
            raise OSError(28, "No space left on device")
        return i * i

    def done(result: object, error: BaseException | None) -> None:
        results.append((result, error, threading.get_ident() == loop_thread))
        if len(results) == 50:
            finished.set()

    for i in range(50):
        worker.submit(job, i, done=done)
        if i % 10 == 9:
            worker.flush()  # five batches
    await asyncio.wait_for(finished.wait(), 10)
    worker.close()
    assert ran == list(range(50))
    assert [r for r, e, _ in results if e is None] == [i * i for i in range(50) if i != 7]
    errors = [e for _, e, _ in results if e is not None]
    assert len(errors) == 1 and isinstance(errors[0], OSError)
    assert all(on_loop for _, _, on_loop in results)


async def test_close_finishes_queued_work() -> None:
    worker = DiskWorker(asyncio.get_running_loop())
    ran: list[int] = []
    for i in range(100):
        worker.submit(ran.append, i)
        if i == 49:
            worker.flush()
    worker.close()  # (flushes the second half itself)
    assert ran == list(range(100))
    with pytest.raises(RuntimeError):
        worker.submit(ran.append, 1)


async def test_nothing_runs_before_flush() -> None:
    worker = DiskWorker(asyncio.get_running_loop())
    ran = threading.Event()
    worker.submit(ran.set)
    assert worker._jobs.empty()  # nothing crossed to the thread yet (no timed wait needed)
    worker.flush()
    assert ran.wait(10)
    worker.close()


async def test_results_arrive_without_anyone_collecting_them() -> None:
    """Many batches, the loop never calls deliver itself: the thread must wake it for all."""
    loop = asyncio.get_running_loop()
    wakes = 0

    def wake() -> None:
        nonlocal wakes
        wakes += 1
        worker.deliver()

    worker = DiskWorker(loop, wake=wake)
    results: list[int] = []
    all_in = asyncio.Event()
    total = 40 * 25

    def done(result: object, error: BaseException | None) -> None:
        assert error is None and isinstance(result, int)
        results.append(result)
        if len(results) == total:
            all_in.set()

    for batch in range(40):
        for i in range(25):
            worker.submit(int, batch * 25 + i, done=done)
        worker.flush()
    await asyncio.wait_for(all_in.wait(), 10)
    worker.close()
    assert results == list(range(total))
    assert 1 <= wakes <= 40  # batched: never one wake-up per result
