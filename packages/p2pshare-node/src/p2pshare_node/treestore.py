"""The files of a folder share, addressed as the one concatenation the protocol sees (TREE-6).

A `TreeStore` offers what a `PieceStore` offers (positioned reads and writes, hashing, syncs)
over many files, so the download pipeline and the serving path work on a tree unchanged.

Every file and directory is opened relative to the tree's root directory, one component at a
time, without following symbolic links (O_NOFOLLOW, O_DIRECTORY, dir_fd) where the platform
can (POSIX); elsewhere each component is checked with lstat first. A link planted anywhere in
the tree, by a peer's metainfo (impossible: TREE-3 keeps paths inside) or by another local
program, is refused, never followed out of the tree ([TREE-11], [STORE-2]). Files are opened
lazily and at most MAX_OPEN at a time, so a tree of 65 536 files needs no more descriptors
than a few; the descriptors of the last MAX_DIRS folders are kept, so opening a file is one
call, not one per folder on its path.

A download of many small files pays per file, not per byte, so each file is touched as few
times as can be: a file smaller than PREALLOCATE_MIN is made by its first write (not made,
preallocated and closed beforehand, then opened again), and the tree is flushed by syncing
its own files and folders on a few threads at once, not by a system-wide os.sync() that waits
for every other program's writes too (see `sync`).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import stat
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from p2pshare_core.tree import TreeMetainfo

from p2pshare_node.safeio import UnexpectedFileError
from p2pshare_node.storage import PieceStore, hash_by_chunks, preallocate, read_into_by_copy

MAX_OPEN = 64
"""Files kept open at once; the least recently used one is closed to open another."""
MAX_DIRS = 32
"""Folder descriptors kept open at once (POSIX), to open the files inside them."""
PREALLOCATE_MIN = 1024 * 1024
"""Files of this size or more are made and preallocated before the download writes; smaller
ones are made by their first write: reserving a few blocks is not worth a second open."""
SYNC_THREADS = 16
"""Files flushed at once: a journaling filesystem commits concurrent fsyncs together."""
_T = TypeVar("_T")
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_BINARY = getattr(os, "O_BINARY", 0)
_AT = _NOFOLLOW and _DIRECTORY and os.open in os.supports_dir_fd and os.mkdir in os.supports_dir_fd
"""Walk the tree with directory descriptors (POSIX); else by checked paths (Windows)."""


class TreeStore:
    """A folder share's files as one byte range; safe to use from the loop and worker threads.

    One lock guards the descriptors and every read or write, so a descriptor is never closed
    (to make room for another) while a thread uses it.
    """

    def __init__(self, root: Path, meta: TreeMetainfo, *, writable: bool) -> None:
        self.path = root
        self.meta = meta
        self.size = meta.file_size
        self.writable = writable
        self._lock = threading.RLock()
        self._fds: OrderedDict[int, int] = OrderedDict()  # entry index -> open descriptor
        self._dirs: OrderedDict[tuple[str, ...], int] = OrderedDict()  # folder -> descriptor
        self._dirty: set[int] = set()  # entries written since the last sync
        self._dirty_dirs: set[tuple[str, ...]] = set()  # folders given a new name since then
        self._root_fd: int | None = open_root(root)
        self._closed = False

    # --- creating and opening ---------------------------------------------------------------
    @classmethod
    def create(cls, root: Path, meta: TreeMetainfo) -> TreeStore:
        """Make (or, resuming, reuse) the folder root; refuses anything else standing there.

        The files and folders below it are made by `make_files`, which the download runs as
        the first job of its disk thread: making 10 000 files takes from 0.7 s to seconds on
        a busy disk, and the event loop must not wait for it (blocks that arrive meanwhile
        queue behind it, bounded like any other disk backlog).
        """
        try:
            os.mkdir(root)
        except FileExistsError:
            info = os.lstat(root)
            if not stat.S_ISDIR(info.st_mode):
                raise UnexpectedFileError(
                    f"{root} is not a directory: refusing to use it"
                ) from None
        return cls(root, meta, writable=True)

    def make_files(self) -> None:
        """Make (or, resuming, keep) every folder of the tree, its empty files, and each file
        of PREALLOCATE_MIN bytes or more at its full size (preallocated: a full disk shows
        now, not at 97 %). A smaller file is made by its first write (`_fd`)."""
        for index, entry in enumerate(self.meta.entries):
            with self._lock:
                if entry.is_dir:
                    self._dir(entry.components, create=True)
                    continue
                if 0 < entry.size < PREALLOCATE_MIN:
                    self._dir(entry.components[:-1], create=True)
                    continue
                fd = self._fd(index, create=True)
                if os.fstat(fd).st_size != entry.size:
                    os.ftruncate(fd, entry.size)
                preallocate(fd, entry.size)
                self._release(index)  # (making 65 536 files keeps few open)

    @classmethod
    def open_readonly(cls, root: Path, meta: TreeMetainfo) -> TreeStore:
        """The tree at root, to be read (served); files are opened when first read."""
        return cls(root, meta, writable=False)

    @property
    def closed(self) -> bool:
        return self._closed

    def _dir(self, components: tuple[str, ...], *, create: bool) -> int:
        """The kept descriptor of the folder `components` below the root (made if `create`;
        -1 where there is no dir_fd); call with the lock held, and do not close it."""
        if self._closed:
            raise ValueError(f"{self.path} is closed")
        fd = self._dirs.get(components)
        if fd is not None:
            self._dirs.move_to_end(components)
            return fd
        fd = walk_dirs(self._root_fd, self.path, components, create=create)
        if create:  # (its name, and its parents', may be new: synced with the files)
            self._dirty_dirs.update(components[:depth] for depth in range(len(components)))
        if fd < 0:
            return fd  # (no dir_fd: every open checks its path again)
        while len(self._dirs) >= MAX_DIRS:
            os.close(self._dirs.popitem(last=False)[1])
        self._dirs[components] = fd
        return fd

    def _fd(self, index: int, *, create: bool = False) -> int:
        """The open descriptor of entry `index`, made if `create` and missing (call with the
        lock held); a file made here that is longer than its entry (left there by someone
        else) is cut to its size, so the bytes it ends with are the share's."""
        if self._closed:
            raise ValueError(f"{self.path} is closed")
        fd = self._fds.get(index)
        if fd is not None:
            self._fds.move_to_end(index)
            return fd
        while len(self._fds) >= MAX_OPEN:
            self._release(next(iter(self._fds)))
        flags = os.O_RDWR if self.writable else os.O_RDONLY
        if create:
            flags |= os.O_CREAT
        entry = self.meta.entries[index]
        parent = self._dir(entry.components[:-1], create=create)
        fd = open_file_at(parent, self.path, entry.components, flags)
        self._fds[index] = fd
        if create:
            self._dirty_dirs.add(entry.components[:-1])
            if os.fstat(fd).st_size > entry.size:
                os.ftruncate(fd, entry.size)
        return fd

    def _release(self, index: int) -> None:
        fd = self._fds.pop(index, None)
        if fd is not None:
            os.close(fd)

    # --- the byte range -----------------------------------------------------------------------
    def write(self, offset: int, data: bytes | memoryview) -> None:
        """Write data at `offset` of the concatenation, into the files it covers."""
        view = memoryview(data)
        with self._lock:
            for span in self.meta.spans(offset, len(view)):
                fd = self._fd(span.entry, create=True)
                part, at = view[: span.length], span.offset
                while part:
                    written = (
                        os.pwrite(fd, part, at)
                        if hasattr(os, "pwrite")
                        else _seek_write(fd, part, at)
                    )
                    part, at = part[written:], at + written
                view = view[span.length :]
                self._dirty.add(span.entry)

    def read(self, offset: int, length: int) -> bytes:
        """`length` bytes at `offset` of the concatenation (short only if a file shrank, or
        does not exist yet: a resumed download re-hashes while `make_files` still runs)."""
        parts = []
        with self._lock:
            for span in self.meta.spans(offset, length):
                try:
                    fd = self._fd(span.entry)
                except FileNotFoundError:
                    break
                got = _read_at(fd, span.offset, span.length)
                parts.append(got)
                if len(got) < span.length:
                    break
        return b"".join(parts)

    def read_into(self, offset: int, view: memoryview) -> int:
        """Read into `view` at `offset` of the concatenation; returns how many bytes."""
        return read_into_by_copy(self.read, offset, view)

    def hash_range(
        self, digest: Any, offset: int, length: int, buffer: bytearray | None = None
    ) -> int:
        """Feed `length` bytes from `offset` to `digest`, a chunk at a time; returns how many."""
        return hash_by_chunks(self.read_into, digest, offset, length, buffer)

    def sha256_range(self, offset: int, length: int) -> bytes:
        return hashlib.sha256(self.read(offset, length)).digest()  # (a piece: <= 64 MiB)

    def sync(self) -> None:
        """Flush to disk every file written, and every folder given a new name, since the
        last sync (a failure leaves them to the next one).

        One fsync after another costs a journal commit each: 10 000 small files took 30 s.
        A system-wide os.sync() flushed them at once, but waited for every other program's
        writes too (1.9 to 8.6 s at the end of a 10 000-file download while other downloads
        wrote). Here SYNC_THREADS threads fsync this tree's files, then its folders (POSIX:
        a new name is in its folder), and the filesystem commits the fsyncs that wait
        together in one go. The lock is held only to open, never while a file is flushed.
        """
        with self._lock:
            dirty, self._dirty = sorted(self._dirty), set()
            folders, self._dirty_dirs = sorted(self._dirty_dirs), set()
        try:
            self._sync_all(self._sync_file, dirty)
            if self._root_fd is not None:  # (no folder descriptors on Windows)
                self._sync_all(self._sync_folder, folders)
        except BaseException:
            with self._lock:
                self._dirty.update(dirty)
                self._dirty_dirs.update(folders)
            raise

    @staticmethod
    def _sync_all(sync_one: Callable[[_T], None], items: list[_T]) -> None:
        if len(items) <= 1:
            for item in items:
                sync_one(item)
            return
        workers = min(SYNC_THREADS, len(items))
        with ThreadPoolExecutor(workers, thread_name_prefix="p2pshare-fsync") as pool:
            for _ in pool.map(sync_one, items):
                pass

    def _sync_file(self, index: int) -> None:
        self._fsync(lambda: self._fd(index))

    def _sync_folder(self, components: tuple[str, ...]) -> None:
        self._fsync(lambda: self._dir(components, create=False))

    def _fsync(self, kept_fd: Callable[[], int]) -> None:
        """fsync a kept descriptor through a copy taken under the lock: the kept one may be
        closed meanwhile (to open another), and the flush itself runs without the lock."""
        with self._lock:
            fd = os.dup(kept_fd())
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def sync_quietly(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.sync()

    def drop_cached(self, offset: int, length: int) -> None:
        """Advice only (see PieceStore.drop_cached), for the files that are open now."""
        advise = getattr(os, "posix_fadvise", None)
        if advise is None or length <= 0:
            return
        with self._lock:
            for span in self.meta.spans(offset, length):
                fd = self._fds.get(span.entry)
                if fd is not None:
                    with contextlib.suppress(OSError):
                        advise(fd, span.offset, span.length, os.POSIX_FADV_DONTNEED)

    def close(self) -> None:
        with self._lock:
            for index in list(self._fds):
                self._release(index)
            while self._dirs:
                os.close(self._dirs.popitem()[1])
            if self._root_fd is not None:
                os.close(self._root_fd)
                self._root_fd = None
            self._closed = True


def open_root(root: Path) -> int | None:
    """A descriptor of a tree's root directory to walk from (None where there is no dir_fd);
    a symbolic link at the root itself is refused."""
    return _open_dir(None, str(root)) if _AT else None


def walk_dirs(root_fd: int | None, root: Path, components: tuple[str, ...], *, create: bool) -> int:
    """A descriptor of the directory `components` below root (each made if `create`), each
    step opened without following a link; -1 where there is no dir_fd (each path checked)."""
    fd = os.dup(root_fd) if root_fd is not None else -1
    path = root
    try:
        for name in components:
            path = path / name
            if root_fd is None:  # (no dir_fd: checked paths)
                if create:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(path)
                if not stat.S_ISDIR(os.lstat(path).st_mode):
                    raise UnexpectedFileError(f"{path} is not a directory")
                continue
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, dir_fd=fd)
            inner = _open_dir(fd, name, path)
            os.close(fd)
            fd = inner
    except BaseException:
        if fd >= 0:
            os.close(fd)
        raise
    return fd


def open_in_tree(
    root_fd: int | None,
    root: Path,
    components: tuple[str, ...],
    flags: int,
    *,
    create: bool = False,
) -> int:
    """Open the file `components` below root, following no link on the way [TREE-11]; it
    must be a regular file, and one with a single name if it is opened for writing."""
    parent = walk_dirs(root_fd, root, components[:-1], create=create)
    try:
        return open_file_at(parent, root, components, flags)
    finally:
        if parent >= 0:
            os.close(parent)


def open_file_at(parent: int, root: Path, components: tuple[str, ...], flags: int) -> int:
    """Open the file `components` below root, its last name in the folder `parent` (opened
    by `walk_dirs`; -1: no dir_fd, the path is checked), without following a link."""
    writing = bool(flags & (os.O_RDWR | os.O_WRONLY))
    target = root.joinpath(*components)
    flags |= _BINARY | _NOFOLLOW
    try:
        if parent >= 0:
            fd = os.open(components[-1], flags, 0o644, dir_fd=parent)
        else:
            if os.path.islink(target):
                raise UnexpectedFileError(f"{target} is a symbolic link")
            fd = os.open(target, flags, 0o644)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, getattr(errno, "EMLINK", errno.ELOOP)):
            raise UnexpectedFileError(f"{target} is a symbolic link: refusing it") from None
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or (writing and info.st_nlink > 1):
        os.close(fd)
        raise UnexpectedFileError(f"{target} is not a regular file with one name")
    return fd


def _open_dir(parent: int | None, name: str, shown: Path | None = None) -> int:
    """Open a directory without following a link at its last component."""
    try:
        if parent is None:
            return os.open(name, os.O_RDONLY | _DIRECTORY | _NOFOLLOW)
        return os.open(name, os.O_RDONLY | _DIRECTORY | _NOFOLLOW, dir_fd=parent)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR, getattr(errno, "EMLINK", errno.ELOOP)):
            raise UnexpectedFileError(
                f"{shown or name} is not a directory (a symbolic link or a file): refusing it"
            ) from None
        raise


def _read_at(fd: int, offset: int, length: int) -> bytes:
    chunks, got = [], 0
    while got < length:
        if hasattr(os, "pread"):
            more = os.pread(fd, length - got, offset + got)
        else:
            os.lseek(fd, offset + got, os.SEEK_SET)
            more = os.read(fd, length - got)
        if not more:
            break
        chunks.append(more)
        got += len(more)
    return b"".join(chunks)


def _seek_write(fd: int, data: memoryview, offset: int) -> int:
    os.lseek(fd, offset, os.SEEK_SET)
    return os.write(fd, data)


def allocated_tree_bytes(root: Path, meta: TreeMetainfo) -> int:
    """Bytes a resumed tree already holds on disk (for the free-space check, STORE-1)."""
    total = 0
    for entry in meta.entries:
        with contextlib.suppress(OSError):
            info = os.lstat(root.joinpath(*entry.components))
            if stat.S_ISREG(info.st_mode):
                blocks = getattr(info, "st_blocks", None)
                total += info.st_size if blocks is None else min(info.st_size, blocks * 512)
    return total


Store = PieceStore | TreeStore
"""Where a share's bytes live: one file, or a folder share's files."""


def place_tree(staging: Path, final: Path, meta: TreeMetainfo, *, merge: bool) -> None:
    """Give a verified tree its final name: rename the staging folder to `final`; with
    `merge` (--force) and a folder already at `final`, move each file into it instead,
    replacing files of the same path and leaving everything else there alone.

    Refuses (UnexpectedFileError) a symbolic link or a file where a folder of the tree goes.
    """
    if not os.path.lexists(final):
        os.rename(staging, final)
        return
    if not merge or not stat.S_ISDIR(os.lstat(final).st_mode):
        raise FileExistsError(errno.EEXIST, f"{final} already exists")
    for entry in meta.entries:
        parts = entry.components
        folder = final
        for name in parts if entry.is_dir else parts[:-1]:
            folder = folder / name
            with contextlib.suppress(FileExistsError):
                os.mkdir(folder)
            if not stat.S_ISDIR(os.lstat(folder).st_mode):
                raise UnexpectedFileError(f"{folder} is not a folder: refusing to write in it")
        if not entry.is_dir:
            os.replace(staging.joinpath(*parts), final.joinpath(*parts))
    shutil.rmtree(staging)
