"""The files of a folder share, addressed as the one concatenation the protocol sees (TREE-6).

A `TreeStore` offers what a `PieceStore` offers (positioned reads and writes, hashing, syncs)
over many files, so the download pipeline and the serving path work on a tree unchanged.

Every file and directory is opened relative to the tree's root directory, one component at a
time, without following symbolic links (O_NOFOLLOW, O_DIRECTORY, dir_fd) where the platform
can (POSIX); elsewhere each component is checked with lstat first. A link planted anywhere in
the tree, by a peer's metainfo (impossible: TREE-3 keeps paths inside) or by another local
program, is refused, never followed out of the tree ([TREE-11], [STORE-2]). Files are opened
lazily and at most MAX_OPEN at a time, so a tree of 65 536 files needs no more descriptors
than a few.
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
from pathlib import Path
from typing import Any

from p2pshare_core.tree import TreeMetainfo

from p2pshare_node.safeio import UnexpectedFileError
from p2pshare_node.storage import PieceStore, hash_by_chunks, preallocate, read_into_by_copy

MAX_OPEN = 64
"""Files kept open at once; the least recently used one is closed to open another."""
FSYNC_EACH = 16
"""Files synced one by one; more are flushed with one os.sync() where there is one."""
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
        self._dirty: set[int] = set()  # entries written since the last sync
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
        """Make (or, resuming, keep) every folder and file of the tree, each file at its full
        size (preallocated: a full disk shows now, not at 97 %)."""
        for index, entry in enumerate(self.meta.entries):
            with self._lock:
                if entry.is_dir:
                    os.close(self._walk(entry.components, create=True))
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

    def _walk(self, components: tuple[str, ...], *, create: bool) -> int:
        """A descriptor of the directory `components` below the root (made if `create`)."""
        return walk_dirs(self._root_fd, self.path, components, create=create)

    def _fd(self, index: int, *, create: bool = False) -> int:
        """The open descriptor of entry `index` (call with the lock held)."""
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
        components = self.meta.entries[index].components
        fd = open_in_tree(self._root_fd, self.path, components, flags, create=create)
        self._fds[index] = fd
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
                fd = self._fd(span.entry)
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
        """Flush every file written since the last sync to disk.

        One fsync per file costs a journal commit each: 10 000 small files took 30 s, and held
        the lock the disk thread writes under. Past a few files, one os.sync() (POSIX) flushes
        them all at once, without the lock; elsewhere each file is fsynced.
        """
        with self._lock:
            dirty, self._dirty = sorted(self._dirty), set()
            if len(dirty) <= FSYNC_EACH or not hasattr(os, "sync"):
                for index in dirty:
                    os.fsync(self._fd(index))
                return
        os.sync()

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
    writing = bool(flags & (os.O_RDWR | os.O_WRONLY))
    parent = walk_dirs(root_fd, root, components[:-1], create=create)
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
    finally:
        if parent >= 0:
            os.close(parent)
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
