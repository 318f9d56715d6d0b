"""When an unfinished download stops waiting: the give-up clock, kept pure (time passed in).

Give-up counts time without progress, not only time without peers [BEH-15]: a download ends
with a clear message after `limit` seconds either with no connected peer, or with no piece
verified while pieces keep failing verification (the only seeder serves a corrupt piece: it
stays connected, so "no peer" alone would wait forever). The node tells the clock about
verified and failed pieces and asks `check(now, ...)` on every progress tick.
"""

from __future__ import annotations

from p2pshare_node.errors import ErrorKind


class GiveUpClock:
    """Time without a usable peer, and time without a verified piece while pieces fail."""

    def __init__(self, limit: float | None, now: float = 0.0) -> None:
        self.limit = limit
        self._alone_since: float | None = None
        self._last_progress = now
        self.failed_since_progress = 0

    def start(self, now: float) -> None:
        """The download starts now (the time before does not count)."""
        self._last_progress = now

    def piece_verified(self, now: float) -> None:
        self._last_progress = now
        self.failed_since_progress = 0

    def piece_failed(self) -> None:
        self.failed_since_progress += 1

    def give_up_in(self, now: float) -> float | None:
        """Seconds left before a stalled download gives up (None: not stalled, or never)."""
        if self.limit is None or not self.failed_since_progress:
            return None
        return max(0.0, self._last_progress + self.limit - now)

    def check(self, now: float, *, complete: bool, has_peers: bool) -> tuple[ErrorKind, str] | None:
        """Why to give up now (kind and message), or None to keep going."""
        limit = self.limit
        if complete or limit is None:
            self._alone_since = None
            return None
        stalled = now - self._last_progress
        if self.failed_since_progress and stalled >= limit:
            failed = self.failed_since_progress
            return (
                ErrorKind.INTEGRITY,
                f"no piece verified for {stalled:.0f}s while {failed} "
                f"piece{'s' if failed != 1 else ''} failed verification: the peers serve "
                "corrupt data (a changed or damaged file?)",
            )
        if has_peers:
            self._alone_since = None
            return None
        if self._alone_since is None:
            self._alone_since = now
        elif now - self._alone_since >= limit:
            return (
                ErrorKind.UNREACHABLE,
                f"no peer for {limit:.0f}s: every known peer is gone or refuses us",
            )
        return None
