"""When an unfinished download stops waiting: the give-up clock, kept pure (time passed in).

A download with nothing to gain for `limit` seconds ends with a clear message instead of
waiting forever; the node asks `check(now, ...)` on every progress tick.
"""

from __future__ import annotations


class GiveUpClock:
    """Counts how long a download has been without any connected peer."""

    def __init__(self, limit: float | None) -> None:
        self.limit = limit
        self._alone_since: float | None = None

    def check(self, now: float, *, complete: bool, has_peers: bool) -> str | None:
        """The reason to give up now, or None to keep going."""
        limit = self.limit
        if complete or has_peers or limit is None:
            self._alone_since = None
            return None
        if self._alone_since is None:
            self._alone_since = now
        elif now - self._alone_since >= limit:
            return f"no peer for {limit:.0f}s: every known peer is gone or refuses us"
        return None
