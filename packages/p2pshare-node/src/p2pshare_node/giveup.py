"""When an unfinished download stops waiting: the give-up clock, kept pure (time passed in).

Give-up counts time without progress, not only time without peers [BEH-15]: a download ends
with a clear message after `limit` seconds either with no connected peer, or with no piece
verified while a piece that failed verification is still missing (the only seeder serves a
corrupt piece: it stays connected, so "no peer" alone would wait forever). The node tells the
clock about verified and failed pieces and asks `check(now, ...)` on every progress tick.
"""

from __future__ import annotations

from p2pshare_node.errors import ErrorKind


class GiveUpClock:
    """Time without a usable peer, and time without a verified piece while pieces fail."""

    def __init__(self, limit: float | None, now: float = 0.0) -> None:
        self.limit = limit
        self._alone_since: float | None = None
        self._last_progress = now
        self._failing: set[int] = set()  # pieces that failed verification and are still missing

    @property
    def failing(self) -> int:
        """Pieces that failed verification and have not been verified since."""
        return len(self._failing)

    def start(self, now: float) -> None:
        """The download starts now (the time before does not count)."""
        self._last_progress = now

    def piece_verified(self, index: int, now: float) -> None:
        self._last_progress = now
        self._failing.discard(index)

    def piece_failed(self, index: int) -> None:
        self._failing.add(index)

    def give_up_in(self, now: float) -> float | None:
        """Seconds left before a stalled download gives up (None: not stalled, or never)."""
        if self.limit is None or not self._failing:
            return None
        return max(0.0, self._last_progress + self.limit - now)

    def check(self, now: float, *, complete: bool, has_peers: bool) -> tuple[ErrorKind, str] | None:
        """Why to give up now (kind and message), or None to keep going."""
        limit = self.limit
        if complete or limit is None:
            self._alone_since = None
            return None
        stalled = now - self._last_progress
        if self._failing and stalled >= limit:
            failed = len(self._failing)
            return (
                ErrorKind.INTEGRITY,
                f"no piece verified for {stalled:.0f}s and {failed} "
                f"piece{'s' if failed != 1 else ''} failed verification (the peers serve "
                "data that does not match the share: a changed or damaged file?)",
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
