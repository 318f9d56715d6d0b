"""When `get` stops seeding after its download: a user who runs a tool once expects it to end.

A downloader that leaves at once takes from the swarm without giving back; one that never
leaves is a process the user forgets in a terminal. Like aria2 (`--seed-ratio 1.0`), `get`
keeps seeding after completion until it has uploaded as much as the file's size, or until
nobody has asked it for anything for a while (the swarm has the file), whichever comes first;
`--seed-time` adds a time limit, `--seed` seeds until Ctrl-C and `--exit-when-done` does not
seed at all. The decision is pure (time passed in), so it is tested without waiting.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_RATIO = 1.0
DEFAULT_IDLE = 300.0  # seconds without uploading a byte after completion


@dataclass(frozen=True)
class SeedPolicy:
    """Limits on seeding after completion; None means "no such limit"."""

    ratio: float | None = DEFAULT_RATIO  # uploaded bytes / file size
    seconds: float | None = None  # time since completion
    idle: float | None = DEFAULT_IDLE  # time since the last uploaded byte (or completion)

    @property
    def seeds(self) -> bool:
        """False when the download should exit at once (--exit-when-done)."""
        return self.seconds is None or self.seconds > 0

    def describe(self) -> str:
        """'until ratio 1.0 or 5 min without uploads' for the user."""
        parts = []
        if self.ratio is not None:
            parts.append(f"ratio {self.ratio:g}")
        if self.seconds is not None:
            parts.append(f"{_duration(self.seconds)} of seeding")
        if self.idle is not None:
            parts.append(f"{_duration(self.idle)} without uploads")
        return "until " + " or ".join(parts) if parts else "until Ctrl-C"

    def reason_to_stop(
        self, *, now: float, completed_at: float, last_upload_at: float, uploaded: int, size: int
    ) -> str | None:
        """Why to stop seeding now, or None to go on."""
        if self.ratio is not None and size > 0 and uploaded >= self.ratio * size:
            return f"uploaded {uploaded / size:.2f}x the file (--seed-ratio {self.ratio:g})"
        if self.ratio is not None and size == 0:
            return "an empty file has nothing to upload"
        if self.seconds is not None and now - completed_at >= self.seconds:
            return f"seeded for {_duration(self.seconds)} (--seed-time)"
        if self.idle is not None and now - max(completed_at, last_upload_at) >= self.idle:
            return f"no peer wanted anything for {_duration(self.idle)}"
        return None


def _duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"
