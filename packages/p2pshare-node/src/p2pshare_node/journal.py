"""An append-only journal of verified pieces, so that nothing verified is ever fetched twice.

The resume state file (resume.py) holds the metainfo, megabytes for a big share, so it is
written only when a download starts, when it resumes and when it stops. Between those, every
piece is appended here as its hash checks out ([STORE-4]); the records of one batch of work go
out in one small write into the page cache before any peer or user hears of those pieces, and
a page-cache write survives `kill -9` (the process dies, the kernel keeps its data). Power loss
is covered by an fsync batched at most once per state interval, off the event loop.

A record is `<4: piece index><4: CRC-32 of (share id + index)>`. A torn tail (a crash in the
middle of an append), garbage, or a journal left by another share of the same name fail the
check and are ignored, so reading a journal never fails. It is a hint, like the state file: on
resume every listed piece is re-hashed before it counts.

The journal is bounded: a piece is appended once per run, and each start folds the journal
into the state file and empties it, so it never holds more than 8 bytes per piece.
"""

from __future__ import annotations

import contextlib
import os
import struct
import zlib
from pathlib import Path

from p2pshare_node.safeio import open_for_writing

RECORD = struct.Struct(">II")
MAX_JOURNAL_BYTES = 64 * 1024 * 1024  # far above 8 bytes x MAX_PIECES x a few runs


def _check(share_id: bytes, index: int) -> int:
    return zlib.crc32(share_id + index.to_bytes(4, "big"))


class PieceJournal:
    """The open journal of one download; append from the event loop, sync from a thread."""

    def __init__(self, path: Path, share_id: bytes) -> None:
        self.path = path
        self._share_id = share_id
        self._fd: int | None = open_for_writing(path, append=True)
        self._pending = bytearray()  # records not written yet (see flush)

    def append(self, index: int) -> None:
        """Record a verified piece; it reaches the file at the next `flush`."""
        self._pending += RECORD.pack(index, _check(self._share_id, index))

    def flush(self) -> None:
        """Write the records appended since the last flush: one page-cache write, durable
        across a crash of this process (raises OSError). The node flushes once per batch of
        swarm actions, before anyone (a peer, the user) can hear of the pieces it records."""
        pending = self._pending
        if pending and self._fd is not None:
            self._pending = bytearray()
            os.write(self._fd, pending)

    def sync(self) -> None:
        """Make the records durable across power loss (called in a worker thread)."""
        fd = self._fd
        if fd is not None:
            with contextlib.suppress(OSError):  # closed under us by a concurrent close
                os.fsync(fd)

    def clear(self) -> None:
        """Forget every record: the state file now lists them all."""
        self._pending = bytearray()  # (those are in the state file too)
        if self._fd is not None:
            os.ftruncate(self._fd, 0)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.flush()
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


def read_journal(path: Path, share_id: bytes, piece_count: int) -> set[int]:
    """The pieces a journal lists; records that are torn, foreign or out of range are skipped."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_JOURNAL_BYTES)
    except OSError:
        return set()
    pieces: set[int] = set()
    usable = len(data) - len(data) % RECORD.size
    for index, check in RECORD.iter_unpack(data[:usable]):
        if index < piece_count and check == _check(share_id, index):
            pieces.add(index)
    return pieces
