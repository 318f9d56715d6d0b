"""A download's hashing, done on the disk threads while the data is still hot.

Two savings over "write now, read back and hash later":

- a piece's SHA-256 is fed from the blocks as they are written, when they arrive in offset
  order (always, for pieces of one block), so verifying it reads nothing back;
- the whole-file SHA-1 advances during the download over the verified prefix of the file (read
  back from the page cache), so at the end only the tail is left to hash instead of the whole
  file, which on a fast link would otherwise add a serial pass of about 40 % to the download.

`store_block` and `piece_digest` run on the disk thread, `extend_file_hash` and `file_digest`
on the file-hash thread (see diskworker.py), each in submission order. The two share no state,
and the file hash only reads pieces that are verified (written and hashed) already: no locks.
"""

from __future__ import annotations

import hashlib
from typing import Any

from p2pshare_core.metainfo import Metainfo
from p2pshare_core.tree import TreeMetainfo

from p2pshare_node.storage import HASH_READ_SIZE
from p2pshare_node.treestore import Store


class _Running:
    """SHA-256 of a piece's first `size` bytes, fed in order."""

    __slots__ = ("digest", "size")

    def __init__(self, data: bytes) -> None:
        self.digest = hashlib.sha256(data)
        self.size = len(data)


class TreeSha1:
    """Each file's SHA-1 of a folder share, fed its concatenation in order [TREE-7].

    Has `update`, like a hashlib object, so it rides along where the file's SHA-1 would.
    """

    def __init__(self, meta: TreeMetainfo) -> None:
        self.meta = meta
        self.digests: list[bytes] = []
        self._current = hashlib.sha1()
        self._left = 0  # bytes of the current entry still to come
        self._next = 0  # index of the entry after the current one
        self._advance()

    def _advance(self) -> None:
        """Finish every entry that is complete, and the empty ones after it."""
        entries = self.meta.entries
        while self._left == 0 and self._next <= len(entries):
            if self._next:
                self.digests.append(self._current.digest())
            if self._next == len(entries):
                self._next += 1
                return
            self._current = hashlib.sha1()
            self._left = entries[self._next].size
            self._next += 1

    def update(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while view:
            take = min(self._left, len(view))
            if not take:
                raise ValueError("more bytes than the folder share holds")
            self._current.update(view[:take])
            self._left -= take
            view = view[take:]
            self._advance()

    def verdict(self) -> bytes:
        """The tree tag if every file matched its SHA-1, else nothing (Swarm.file_hashed)."""
        if len(self.digests) != len(self.meta.entries):
            return b""
        return self.meta.file_verdict(self.digests)


def whole_digest(store: Store, meta: Metainfo) -> bytes:
    """What Swarm.file_hashed expects for this share: the file's SHA-1, or a tree's verdict."""
    digest: Any = TreeSha1(meta) if isinstance(meta, TreeMetainfo) else hashlib.sha1()
    store.hash_range(digest, 0, store.size)
    return digest.verdict() if isinstance(digest, TreeSha1) else digest.digest()


class DownloadHasher:
    """Writes blocks and hashes pieces and the file for one download."""

    def __init__(self, store: Store, piece_size: int, meta: Metainfo | None = None) -> None:
        self.store = store
        self.piece_size = piece_size
        self._running: dict[int, _Running] = {}  # piece -> hash of its in-order prefix
        self._sha1: Any = TreeSha1(meta) if isinstance(meta, TreeMetainfo) else hashlib.sha1()
        self._sha1_at = 0  # file offset the SHA-1 covers up to
        self._sha1_error: OSError | ValueError | None = None
        self._sha1_buffer: bytearray | None = None  # the file-hash thread's reads, reused

    def store_block(self, index: int, offset: int, data: bytes) -> None:
        """Write a block; keep hashing its piece while the blocks come in offset order."""
        self.store.write(index * self.piece_size + offset, data)
        if offset == 0:
            self._running[index] = _Running(data)  # (a re-fetch after a bad piece restarts)
            return
        running = self._running.get(index)
        if running is None:
            return
        if running.size == offset:
            running.digest.update(data)
            running.size += len(data)
        else:  # out of order: this piece will be read back
            del self._running[index]

    def piece_digest(self, index: int, length: int) -> bytes:
        """SHA-256 of stored piece `index` (`length` bytes): from memory when possible."""
        running = self._running.pop(index, None)
        if running is not None and running.size == length:
            digest: bytes = running.digest.digest()
            return digest
        return self.store.sha256_range(index * self.piece_size, length)

    def extend_file_hash(self, end: int) -> None:
        """Hash the file up to offset `end` (the caller knows every piece before it is good).

        A read error is kept for `file_digest` to raise: this job has nobody to report to.
        """
        if self._sha1_error is not None:
            return
        if self._sha1_buffer is None:
            self._sha1_buffer = bytearray(HASH_READ_SIZE)
        try:
            while self._sha1_at < end:  # a chunk at a time, so drop-behind follows closely
                want = min(HASH_READ_SIZE, end - self._sha1_at)
                got = self.store.hash_range(self._sha1, self._sha1_at, want, self._sha1_buffer)
                self._sha1_at += got
                if got < want:
                    raise OSError(f"{self.store.path} is shorter than expected")
        except (OSError, ValueError) as exc:
            self._sha1_error = exc

    def file_hashed_upto(self) -> int:
        """How far the file's SHA-1 has read (safe to ask from any thread)."""
        return self._sha1_at

    def file_digest(self) -> bytes:
        """SHA-1 of the whole file (hashing what the download did not cover yet)."""
        self.extend_file_hash(self.store.size)
        if self._sha1_error is not None:
            raise self._sha1_error
        if isinstance(self._sha1, TreeSha1):
            return self._sha1.verdict()
        digest: bytes = self._sha1.digest()
        return digest
