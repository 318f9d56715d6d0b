"""Compact, human-readable piece ranges ("0-15,17") for the resume state file."""

from __future__ import annotations

from collections.abc import Iterable, Iterator


def format_ranges(indices: Iterable[int]) -> str:
    """Collapse indices into "a-b,c" runs: a 100 000-piece state stays short and readable."""
    runs: list[str] = []
    start: int | None = None
    prev = -2
    ordered = indices if isinstance(indices, PieceFlags) else sorted(set(indices))
    for index in ordered:
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


class PieceFlags:
    """A set of piece indices kept as one byte per piece.

    A node tracks its verified pieces for its whole life: at 131 072 pieces a set of ints costs
    about 8 MiB (and grows with the file), these flags 128 KiB.
    """

    __slots__ = ("_count", "_flags")

    def __init__(self, indices: Iterable[int] = ()) -> None:
        self._flags = bytearray()
        self._count = 0
        for index in indices:
            self.add(index)

    @classmethod
    def full(cls, count: int) -> PieceFlags:
        """Every index in 0..count-1 (a seed's pieces)."""
        flags = cls()
        flags._flags = bytearray(b"\x01") * count
        flags._count = count
        return flags

    def add(self, index: int) -> None:
        if index < 0:
            raise ValueError(f"negative piece index {index}")
        flags = self._flags
        if index >= len(flags):
            flags.extend(bytes(index + 1 - len(flags)))
        if not flags[index]:
            flags[index] = 1
            self._count += 1

    def copy(self) -> PieceFlags:
        """A snapshot (for a thread that must not see later changes)."""
        snapshot = PieceFlags()
        snapshot._flags = self._flags[:]
        snapshot._count = self._count
        return snapshot

    def __contains__(self, index: object) -> bool:
        return isinstance(index, int) and 0 <= index < len(self._flags) and bool(self._flags[index])

    def __len__(self) -> int:
        return self._count

    def first_missing(self, start: int = 0) -> int:
        """The lowest index >= `start` not in the set: one bytearray.find, not a Python loop."""
        found = self._flags.find(0, start)
        return found if found >= 0 else max(start, len(self._flags))

    def __iter__(self) -> Iterator[int]:
        """The indices in increasing order (found at C speed with bytearray.find)."""
        find = self._flags.find
        index = find(1)
        while index >= 0:
            yield index
            index = find(1, index + 1)
