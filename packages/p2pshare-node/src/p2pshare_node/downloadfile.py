"""The file of a download in progress (NAME.part) and the disk pipeline that fills it.

Blocks are written and pieces hashed in order on one disk thread (diskworker.py); the file's
SHA-1 follows on a second thread over the verified prefix, so the final whole-file check finds
little left to do. Blocks waiting for the disk are bounded: past DISK_BACKLOG_MAX the node
stops reading from its peers (TCP pushes back) until the disk catches up. The download is
flushed in steps in the background and dropped from the page cache behind it, and finally
renamed into place.

Kept apart from node.py because none of it is about peers: the node hands in blocks and
verified pieces and is told, through the callbacks, what the disk found.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from p2pshare_core.metainfo import Metainfo
from p2pshare_core.tree import TreeMetainfo

from p2pshare_node.diskworker import DiskWorker
from p2pshare_node.dropbehind import DropBehind
from p2pshare_node.errors import ErrorKind, NodeError
from p2pshare_node.hashing import DownloadHasher
from p2pshare_node.ranges import PieceFlags
from p2pshare_node.storage import PieceStore
from p2pshare_node.treestore import Store, TreeStore, place_tree

DISK_BACKLOG_MAX = 4 * 1024 * 1024  # blocks waiting for the disk before reading pauses
WRITEBACK_STEP = 32 * 1024 * 1024  # flush (and drop behind) the download in steps of this size
FILE_HASH_STEP = 4 * 1024 * 1024  # the file's SHA-1 advances over the verified prefix in steps

OnError = Callable[[ErrorKind, str], None]


class DownloadFile:
    """NAME.part: ordered writes, piece and file hashes, background flushes, the final rename.

    `verified` is the node's set of verified pieces (read here, never changed); the callbacks
    run on the event loop: `on_piece_hashed(index, digest)`, `on_file_hashed(digest)`,
    `on_error(kind, message)` (fatal), and `set_reading(paused)` when the backlog of blocks
    waiting for the disk crosses its bounds.
    """

    def __init__(
        self,
        *,
        store: Store,
        meta: Metainfo,
        final: Path,
        disk: DiskWorker,
        file_hash: DiskWorker,
        flush_pool: ThreadPoolExecutor,
        verified: PieceFlags,
        on_piece_hashed: Callable[[int, bytes], None],
        on_file_hashed: Callable[[bytes], None],
        on_error: OnError,
        set_reading: Callable[[bool], None],
        merge: bool = False,
    ) -> None:
        self.store = store
        self.meta = meta
        self.final = final
        self._disk = disk
        self._file_hash = file_hash
        self._flush_pool = flush_pool
        self._verified = verified
        self._on_piece_hashed = on_piece_hashed
        self._on_file_hashed = on_file_hashed
        self._on_error = on_error
        self._set_reading = set_reading
        self._merge = merge  # a folder share into an existing folder (--force)
        if isinstance(store, TreeStore):  # its files, made before any block is written
            disk.submit(store.make_files, done=self._made)
        self._hasher = DownloadHasher(store, meta.piece_size, meta)
        self._drop_behind = DropBehind(store, self._hasher.file_hashed_upto)
        self._file_hashed_pieces = 0  # leading verified pieces handed to the file hash
        self._unsynced = 0  # bytes verified since the last background flush was started
        self._syncing: Future[None] | None = None
        self.backlog = 0  # bytes handed to the disk thread and not yet written
        self.paused = False  # reading is paused because the disk lags

    def _made(self, _: object, error: BaseException | None) -> None:
        if error is None or self.store.closed:
            return
        if isinstance(error, OSError) and error.errno == errno.ENOSPC:
            self._on_error(ErrorKind.FILESYSTEM, f"disk full while making {self.store.path}")
        else:
            self._on_error(ErrorKind.FILESYSTEM, f"cannot make {self.store.path}: {error}")

    def store_block(self, index: int, offset: int, data: bytes | memoryview) -> None:
        """Queue a block for the disk; pause reading while too much is waiting."""
        store = self.store
        if not store.writable:
            return  # (a late duplicate block after completion is moot)
        size = len(data)

        def written(_: object, error: BaseException | None) -> None:
            self.backlog -= size
            if self.paused and self.backlog < DISK_BACKLOG_MAX // 2:
                self.paused = False
                self._set_reading(False)
            if error is None or store.closed:
                return
            if isinstance(error, OSError) and error.errno == errno.ENOSPC:
                self._on_error(ErrorKind.FILESYSTEM, f"disk full while writing {store.path}")
            else:
                self._on_error(ErrorKind.FILESYSTEM, f"cannot write {store.path}: {error}")

        self._disk.submit(self._hasher.store_block, index, offset, data, done=written)
        self.backlog += size
        if self.backlog > DISK_BACKLOG_MAX and not self.paused:
            self.paused = True  # memory stays bounded when the disk is slower than the net
            self._set_reading(True)

    def verify_piece(self, index: int) -> None:
        """Hash a piece once its blocks are written (same FIFO thread: after the writes)."""

        def hashed(digest: bytes, error: BaseException | None) -> None:
            if error is not None:
                self._on_error(ErrorKind.FILESYSTEM, f"cannot read back piece {index}: {error}")
                return
            self._on_piece_hashed(index, digest)

        self._disk.submit(
            self._hasher.piece_digest, index, self.meta.piece_length(index), done=hashed
        )

    def piece_verified(self, index: int) -> None:
        """A piece is good: advance the file hash over it and flush the file in steps."""
        self._extend_file_hash()
        self._writeback(index)

    def verify_file(self) -> None:
        """Finish the whole-file SHA-1 (after every extend_file_hash: the same FIFO thread)."""

        def hashed(digest: bytes, error: BaseException | None) -> None:
            if error is not None:
                self._on_error(ErrorKind.FILESYSTEM, f"cannot read back the file: {error}")
                return
            self._on_file_hashed(digest)

        self._file_hash.submit(self._hasher.file_digest, done=hashed)

    def _extend_file_hash(self) -> None:
        """Let the file's SHA-1 run over the verified prefix now, not in one pass at the end."""
        meta = self.meta
        start = self._file_hashed_pieces
        count = self._verified.first_missing(start)  # (per piece: C speed, not a rescan)
        if count > start:
            end = min(count * meta.piece_size, meta.file_size)
            if end - start * meta.piece_size < FILE_HASH_STEP and end < meta.file_size:
                return  # in steps: one job per few MiB, not one per piece
            self._file_hashed_pieces = count
            self._file_hash.submit(self._hasher.extend_file_hash, end)

    def _writeback(self, index: int) -> None:
        """Flush the download to disk in the background as it goes, and drop behind it.

        The final fsync before the rename then finds little left to write, instead of the
        whole file, which would hold up completion (and the event loop) for a second or more;
        the page cache keeps only the recent part of the download (see dropbehind.py).
        """
        if not self.store.writable:
            return
        self._unsynced += self.meta.piece_length(index)
        if self._unsynced < WRITEBACK_STEP or (self._syncing and not self._syncing.done()):
            return
        self._unsynced = 0
        self._syncing = self._flush_pool.submit(self._drop_behind.flush)

    def move_into_place(self) -> Store:
        """Sync, close and rename NAME.part to NAME; returns the final file (or folder share)
        opened read-only. A folder share's files were verified by their SHA-1 [TREE-7]."""
        store = self.store
        if self._syncing is not None:
            self._syncing.result()  # (never raises) the file is not closed under its flush
        try:
            store.sync()
            store.close()
            meta = self.meta
            if isinstance(meta, TreeMetainfo):
                place_tree(store.path, self.final, meta, merge=self._merge)
                self.store = TreeStore.open_readonly(self.final, meta)
            else:
                os.replace(store.path, self.final)
                self.store = PieceStore.open_readonly(self.final)
        except OSError as exc:
            raise NodeError(
                ErrorKind.FILESYSTEM, f"cannot move the download into place: {exc}"
            ) from None
        return self.store
