"""Compact, human-readable piece ranges ("0-15,17") for the resume state file."""

from __future__ import annotations

from collections.abc import Iterable


def format_ranges(indices: Iterable[int]) -> str:
    """Collapse indices into "a-b,c" runs: a 100 000-piece state stays short and readable."""
    runs: list[str] = []
    start: int | None = None
    prev = -2
    for index in sorted(set(indices)):
        if index < 0:
            raise ValueError(f"negative piece index {index}")
        if start is not None and index == prev + 1:
            prev = index
            continue
        if start is not None:
            runs.append(_run(start, prev))
        start = prev = index
    if start is not None:
        runs.append(_run(start, prev))
    return ",".join(runs)


def _run(start: int, end: int) -> str:
    return str(start) if start == end else f"{start}-{end}"


def parse_ranges(text: str, count: int) -> set[int]:
    """Parse "0-15,17"; every index must be < count (the state file is input we do not trust)."""
    result: set[int] = set()
    text = text.strip()
    if not text:
        return result
    for part in text.split(","):
        first, sep, last = part.strip().partition("-")
        if not first.isdigit() or (sep and not last.isdigit()):
            raise ValueError(f"bad piece range {part!r}")
        lo = int(first)
        hi = int(last) if sep else lo
        if lo > hi or hi >= count:
            raise ValueError(f"piece range {part!r} outside 0..{count - 1}")
        result.update(range(lo, hi + 1))
    return result
