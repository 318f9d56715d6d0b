"""Transfer-rate meter over a sliding window, with the clock passed in (sans-IO).

Rates drive choking (who gets an upload slot) and pipeline depth (how many requests to keep in
flight), so they must be cheap to update per block: bytes are summed into fixed time buckets and
old buckets fall off the window, making `add` O(1) and `rate` O(buckets).
"""

from __future__ import annotations

from collections import deque

__all__ = ["RateMeter"]


class RateMeter:
    """Bytes per second over the last `window` seconds, in buckets of `resolution` seconds."""

    __slots__ = ("_buckets", "_resolution", "_start", "_window", "_window_sum", "total")

    def __init__(self, now: float, window: float = 5.0, resolution: float = 0.25) -> None:
        if window <= 0 or resolution <= 0 or resolution > window:
            raise ValueError("need 0 < resolution <= window")
        self._window = window
        self._resolution = resolution
        self._start = now
        self._buckets: deque[list[int]] = deque()  # [bucket number, bytes], oldest first
        self._window_sum = 0
        self.total = 0  # bytes ever added

    def add(self, nbytes: int, now: float) -> None:
        """Count `nbytes` transferred at time `now`."""
        self.total += nbytes
        self._window_sum += nbytes
        slot = int(now / self._resolution)
        buckets = self._buckets
        if buckets and buckets[-1][0] == slot:
            buckets[-1][1] += nbytes
            return  # (old buckets fall off when a new one starts, or in `rate`)
        buckets.append([slot, nbytes])
        self._expire(now)

    def _expire(self, now: float) -> None:
        oldest = int(now / self._resolution) - int(self._window / self._resolution)
        buckets = self._buckets
        while buckets and buckets[0][0] <= oldest:
            self._window_sum -= buckets.popleft()[1]

    def rate(self, now: float) -> float:
        """Average bytes/s over the window (over the elapsed time while younger than it)."""
        self._expire(now)
        span = min(self._window, max(now - self._start, self._resolution))
        return self._window_sum / span

    def elapsed(self, now: float) -> float:
        """Seconds since the meter started: callers distrust rates measured over too little time."""
        return now - self._start
