"""The upload limit: a token bucket in front of the requests we are asked to serve.

Only used with SwarmConfig.max_upload_rate. Requests wait here in arrival order; the swarm
drains the queue whenever tokens allow (it may go into debt by one reply, so a reply is never
split), withdraws queued items on cancel, choke and close, and answers each withdrawn one with
a reject (MSG-4, SPAN-5: every request still gets exactly one reply).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from .picker import Block

__all__ = ["QueuedReply", "UploadThrottle"]

QueuedReply = tuple[int, Block, int]
"""(conn_id, block, span): span > 0 is span (block[0], span) of extension SPAN, block else."""


class UploadThrottle:
    """A token bucket of `rate` bytes/s holding up to `burst` seconds' worth."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self._capacity = rate * burst
        self._tokens = self._capacity
        self._at = now
        self._queue: deque[QueuedReply] = deque()

    def __bool__(self) -> bool:
        return bool(self._queue)

    def push(self, item: QueuedReply) -> None:
        self._queue.append(item)

    def due(self) -> float:
        """When the next queued reply may go (meaningful only while something is queued)."""
        return self._at + max(0.0, -self._tokens) / self.rate

    def ready(self, now: float) -> Iterator[QueuedReply]:
        """The queued replies that may go now; the caller reports each one's size by `spent`."""
        self._tokens = min(self._capacity, self._tokens + (now - self._at) * self.rate)
        self._at = now
        queue = self._queue
        while queue and self._tokens > -1.0:
            yield queue.popleft()

    def spent(self, size: int) -> None:
        self._tokens -= size

    def withdraw(self, item: QueuedReply) -> bool:
        """Remove a queued reply (a cancel): True if it was still waiting."""
        if item in self._queue:
            self._queue.remove(item)
            return True
        return False

    def take_conn(self, conn_id: int) -> list[QueuedReply]:
        """Remove and return every queued reply of one connection (choke, close)."""
        mine = [item for item in self._queue if item[0] == conn_id]
        if mine:
            self._queue = deque(item for item in self._queue if item[0] != conn_id)
        return mine
