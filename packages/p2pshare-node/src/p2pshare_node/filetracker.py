"""Which files of a folder share are complete: every piece that covers them is verified.

Pieces run across file boundaries (spec TREE-6), so a file is done when the last of its pieces
is, in whatever order they come. Each piece knows the files it touches, and each file counts
its pieces still missing: a verified piece costs a few steps, never a rescan of the tree.
"""

from __future__ import annotations

from collections.abc import Iterable

from p2pshare_core.tree import TreeMetainfo


class FileTracker:
    """Per-file completion of a folder share (for progress lines and `file-done` events)."""

    def __init__(self, meta: TreeMetainfo, verified: Iterable[int] = ()) -> None:
        self.meta = meta
        size = meta.piece_size
        self._missing: list[int] = []
        self._files_of: dict[int, list[int]] = {}
        for index, (start, entry) in enumerate(zip(meta.starts, meta.entries, strict=True)):
            if entry.is_dir or not entry.size:
                self._missing.append(0)
                continue
            first, last = start // size, (start + entry.size - 1) // size
            self._missing.append(last - first + 1)
            for piece in range(first, last + 1):
                self._files_of.setdefault(piece, []).append(index)
        self._seen: set[int] = set()
        self.done = sum(1 for m in self._missing if m == 0)
        for piece in verified:
            self.piece_verified(piece)

    @property
    def total(self) -> int:
        return len(self._missing)

    def piece_verified(self, piece: int) -> list[int]:
        """The entries this piece completes (each reported once)."""
        if piece in self._seen:
            return []
        self._seen.add(piece)
        finished = []
        for index in self._files_of.get(piece, ()):
            self._missing[index] -= 1
            if self._missing[index] == 0:
                finished.append(index)
        self.done += len(finished)
        return finished
