"""--max-download-rate: stop reading from peers while over budget, and TCP slows them down.

Received bytes spend tokens of a bucket that refills at `rate` bytes per second; when it runs
dry the node pauses reading on every connection for as long as the debt takes to repay. The
senders' TCP windows then close, so the limit holds on the wire, not only in our buffers.
One socket read can be as large as the read buffer (1 MiB), so the limit holds on average
over a second or so, not per packet. Pure, with the clock passed in.
"""

from __future__ import annotations

BURST_SECONDS = 0.5


class ReadLimiter:
    """A token bucket over received bytes."""

    def __init__(self, rate: int, now: float) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self._capacity = rate * BURST_SECONDS
        self._tokens = self._capacity
        self._at = now

    def spend(self, nbytes: int, now: float) -> float:
        """Count `nbytes` received now; the seconds to stop reading for (0: go on)."""
        self._tokens = min(self._capacity, self._tokens + (now - self._at) * self.rate)
        self._at = now
        self._tokens -= nbytes
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate
