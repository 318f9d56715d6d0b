"""Compute the Metainfo of a file to share: piece SHA-256s and whole-file SHA-1 in one pass.

Sharing must be serving soon after launch, and hashing is nearly all of that time. The work is
split over two threads (hashlib releases the GIL, so on two cores they run in parallel):

- a reader thread fills a ring of large reusable buffers (readinto, no copies) and feeds each
  block to the SHA-1 while it is still hot in the CPU cache;
- the calling thread hashes the pieces of each filled block with SHA-256, then recycles it.

Reading and SHA-1 together cost about as much as SHA-256 alone, so the two threads are balanced
and the whole pass costs little more than one SHA-256 of the file.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from pathlib import Path

from p2pshare_core.constants import PIECE_HASH_LENGTH
from p2pshare_core.metainfo import Metainfo, PieceHashes, choose_piece_size

BLOCK_TARGET = 4 * 1024 * 1024  # fits in L2+L3 for the second hash, amortises the syscalls
RING = 3  # buffers: one being read, one being hashed, one spare so neither thread waits
_BINARY = getattr(os, "O_BINARY", 0)
_DONE = -1  # a block length the reader posts when it stops (after the last block or an error)


def build_metainfo(path: Path, piece_size: int | None = None, name: str | None = None) -> Metainfo:
    """Hash the file at path; blocking, run it in a thread from async code."""
    size = os.stat(path).st_size
    ps = choose_piece_size(size) if piece_size is None else choose_piece_size(size, piece_size)
    # a block is a whole number of pieces so no piece straddles two blocks
    block = max(ps, (BLOCK_TARGET // ps) * ps)
    fd = os.open(path, os.O_RDONLY | _BINARY)
    try:
        reader = _Reader(fd, size, block, path)
        thread = threading.Thread(target=reader.run, name="p2pshare-read-sha1", daemon=True)
        thread.start()
        digests = bytearray()  # side by side, as the metainfo keeps them (see PieceHashes)
        try:
            while True:
                index, got = reader.filled.get()
                if got == _DONE:
                    break
                view = memoryview(reader.buffers[index])[:got]
                for start in range(0, got, ps):
                    digests += hashlib.sha256(view[start : start + ps]).digest()
                view.release()
                reader.free.put(index)
        finally:
            reader.stop = True
            reader.free.put(-1)  # wake the reader if it waits for a buffer
            thread.join()
    finally:
        os.close(fd)
    if reader.error is not None:
        raise reader.error
    # The ring goes before the metainfo is built: its encoding is a second copy of the digests,
    # and the ring's 12 MiB plus both copies would make peak memory grow with the file.
    reader.buffers.clear()
    return Metainfo(
        name=name if name is not None else path.name,
        file_size=size,
        piece_size=ps,
        file_sha1=reader.sha1.digest(),
        # (the bytearray itself: Metainfo copies it once, into the canonical encoding)
        piece_hashes=PieceHashes(digests, 0, len(digests) // PIECE_HASH_LENGTH),
    )


class _Reader:
    """The reader thread's side: read blocks into free buffers and SHA-1 them in file order."""

    def __init__(self, fd: int, size: int, block: int, path: Path) -> None:
        self.fd = fd
        self.size = size
        self.block = block
        self.path = path
        self.buffers = [bytearray(block) for _ in range(RING)]
        self.free: queue.SimpleQueue[int] = queue.SimpleQueue()
        self.filled: queue.SimpleQueue[tuple[int, int]] = queue.SimpleQueue()
        for index in range(RING):
            self.free.put(index)
        self.sha1 = hashlib.sha1()
        self.error: OSError | None = None
        self.stop = False

    def run(self) -> None:
        try:
            remaining = self.size
            while remaining > 0 and not self.stop:
                index = self.free.get()
                if index < 0:
                    break
                got = _read_full(self.fd, self.buffers[index], min(self.block, remaining))
                if got == 0:
                    raise OSError(f"{self.path} shrank while it was being hashed")
                view = memoryview(self.buffers[index])[:got]
                self.sha1.update(view)
                view.release()
                self.filled.put((index, got))
                remaining -= got
        except OSError as exc:
            self.error = exc
        finally:
            self.filled.put((0, _DONE))


def _read_full(fd: int, buf: bytearray, want: int) -> int:
    """Fill buf[:want] from fd (os.readv keeps it copy-free where available)."""
    view = memoryview(buf)
    got = 0
    while got < want:
        if hasattr(os, "readv"):
            n = os.readv(fd, [view[got:want]])
        else:
            data = os.read(fd, want - got)
            n = len(data)
            view[got : got + n] = data
        if n == 0:
            break
        got += n
    view.release()
    return got
