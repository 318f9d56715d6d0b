"""Checks and file work before a node talks to anyone: the shared file, the download folder.

Everything here fails with a NodeError a user can act on (no such file, folder not writable,
the output already exists), before a socket is opened or a byte is fetched.
"""

from __future__ import annotations

import asyncio
import errno
import os
import stat
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from p2pshare_core.events import Handshake
from p2pshare_core.metainfo import Metainfo
from p2pshare_core.tree import TreeMetainfo

from p2pshare_node.dirlock import DownloadLock, LockedError
from p2pshare_node.errors import ErrorKind, NodeError
from p2pshare_node.journal import PieceJournal
from p2pshare_node.paths import (
    UnsafeNameError,
    journal_path,
    part_path,
    safe_output_path,
    state_path,
)
from p2pshare_node.safeio import NotEnoughSpaceError, allocated_bytes, check_room, human_bytes
from p2pshare_node.sharetree import Skipped, build_tree_metainfo
from p2pshare_node.sharing import build_metainfo
from p2pshare_node.storage import PieceStore
from p2pshare_node.treestore import Store, TreeStore, allocated_tree_bytes


def check_shareable(path: Path) -> None:
    """A clear word for what cannot be shared: nothing there, a device, a FIFO."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise NodeError(ErrorKind.FILESYSTEM, f"{path}: no such file") from None
    except OSError as exc:
        raise NodeError(ErrorKind.FILESYSTEM, f"{path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode) and not stat.S_ISDIR(info.st_mode):
        raise NodeError(
            ErrorKind.FILESYSTEM,
            f"{path} is not a regular file (a device, FIFO or socket has no fixed content "
            "to share)",
        )


async def open_shared_file(
    path: Path, piece_size: int | None, pool: ThreadPoolExecutor, name: str | None = None
) -> tuple[Metainfo, PieceStore]:
    """Hash the file to share (in `pool`) and open it for reading; `name`: the name peers
    see (default: the file's own)."""
    loop = asyncio.get_running_loop()
    check_shareable(path)
    try:
        meta = await loop.run_in_executor(pool, build_metainfo, path, piece_size, name)
        store = PieceStore.open_readonly(path)
    except OSError as exc:
        raise NodeError(ErrorKind.FILESYSTEM, f"{path}: {exc.strerror or exc}") from None
    except ValueError as exc:  # bad piece size, file too large, unsafe name
        raise NodeError(ErrorKind.FILESYSTEM, f"cannot share {path}: {exc}") from None
    except Exception as exc:  # the core's LocalProtocolError (name not portable)
        hint = "" if name else " (share it under another name with --name NAME)"
        raise NodeError(ErrorKind.FILESYSTEM, f"cannot share {path}: {exc}{hint}") from None
    return meta, store


async def open_shared_tree(
    path: Path, piece_size: int | None, pool: ThreadPoolExecutor, name: str | None = None
) -> tuple[TreeMetainfo, TreeStore, list[Skipped]]:
    """Scan and hash the folder to share (in `pool`) and open it for reading; also what in it
    is not shared (symbolic links, devices), for the user to hear about [TREE-12]."""
    loop = asyncio.get_running_loop()
    root = path.resolve()  # (the folder the user named, even through a link; none inside it)
    try:
        meta, skipped = await loop.run_in_executor(
            pool, build_tree_metainfo, root, piece_size, name
        )
        store = TreeStore.open_readonly(root, meta)
    except OSError as exc:
        raise NodeError(ErrorKind.FILESYSTEM, f"{path}: {exc.strerror or exc}") from None
    except ValueError as exc:  # an unsafe path, a collision, too many files, too large
        hint = "" if name else " (share the folder under another name with --name NAME)"
        hint = hint if "name" in str(exc) else ""
        raise NodeError(ErrorKind.FILESYSTEM, f"cannot share {path}: {exc}{hint}") from None
    return meta, store, skipped


def ensure_output_dir(out: Path) -> None:
    """Create the download folder like `mkdir -p` (a new user's `-o downloads` just works)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise NodeError(ErrorKind.FILESYSTEM, f"{out}: not a directory") from None
    except OSError as exc:
        raise NodeError(ErrorKind.FILESYSTEM, f"cannot create {out}: {exc.strerror}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise NodeError(ErrorKind.FILESYSTEM, f"{out}: directory is not writable")


async def refuse_if_present(out: Path, summary: Handshake, pool: ThreadPoolExecutor) -> None:
    """A file of the share's name is already in the folder: if it is the same size and its
    SHA-1 is the share's, say "already complete" (ALREADY_COMPLETE, exit 0) instead of
    "already exists"; anything else is left for final_path to refuse.

    The SHA-1 compared is the one in the peer's handshake summary, which only the metainfo
    (not fetched here) binds to the share ID: a peer that knew this file's SHA-1 could make
    us report it complete. Nothing is written either way; the file stays as it is.
    """
    if summary.summary.is_tree:
        return  # a folder already there is final_path's to refuse (or --force's to merge)
    try:
        final = safe_output_path(out, summary.name)
        info = os.lstat(final)
    except (UnsafeNameError, OSError):
        return
    if not stat.S_ISREG(info.st_mode) or info.st_size != summary.file_size:
        return
    loop = asyncio.get_running_loop()
    try:
        store = PieceStore.open_readonly(final)
    except OSError:
        return
    try:
        digest = await loop.run_in_executor(pool, store.sha1_file)
    finally:
        store.close()
    if digest == summary.file_sha1:
        raise NodeError(
            ErrorKind.ALREADY_COMPLETE,
            f"{final} is already complete: its SHA-1 {digest.hex()} is the share's",
        )


def final_path(out: Path, name: str, *, force: bool) -> Path:
    """Where a file of this (peer-supplied) name lands; refuses unsafe names and clobbering."""
    try:
        final = safe_output_path(out, name)
    except UnsafeNameError as exc:
        raise NodeError(ErrorKind.UNSAFE_NAME, str(exc)) from None
    if os.path.lexists(final) and not force:  # (a symlink there counts: STORE-2)
        raise NodeError(
            ErrorKind.OUTPUT_EXISTS, f"{final} already exists (use --force to overwrite it)"
        )
    return final


@dataclass(frozen=True)
class PartFiles:
    """What a download writes beside its final name until it is complete (spec 16.1)."""

    store: Store  # NAME.part, preallocated (a folder share: the folder NAME.part)
    state_file: Path  # the resume state (resume.py)
    journal: PieceJournal  # verified pieces as they happen (journal.py)
    lock: DownloadLock  # one download of this file in this folder at a time


def create_part(final: Path, meta: Metainfo, *, resuming: bool, force: bool) -> PartFiles:
    """Lock the download, check the room, open (preallocating) NAME.part and its journal.

    On any failure nothing is left held, and nothing that this call created is left on disk.
    """
    part = part_path(final)
    state_file = state_path(final)
    try:
        lock = DownloadLock.acquire(part)
    except LockedError as exc:
        raise NodeError(
            ErrorKind.LOCKED,
            f"another download of {meta.name!r} into {final.parent} is running "
            f"({exc.holder}); wait for it to finish or stop it",
        ) from None
    except OSError as exc:
        raise NodeError(ErrorKind.FILESYSTEM, f"cannot lock {part}: {exc}") from None
    try:
        if not resuming and os.path.lexists(state_file) and not force:
            raise NodeError(
                ErrorKind.OUTPUT_EXISTS,
                f"{state_file} belongs to another download of the same name "
                "(use --force to replace it)",
            )
        store = _allocate(final.parent, part, meta)
        try:
            journal = PieceJournal(journal_path(final), meta.share_id)
            if not resuming:
                journal.clear()
        except OSError as exc:
            store.close()
            raise NodeError(ErrorKind.FILESYSTEM, f"cannot create {part}: {exc}") from None
    except BaseException:
        lock.release()
        raise
    return PartFiles(store=store, state_file=state_file, journal=journal, lock=lock)


def _allocate(folder: Path, part: Path, meta: Metainfo) -> Store:
    """[STORE-1] Room first (what NAME.part does not hold yet), then the preallocated file;
    for a folder share, the folder NAME.part with every file of the tree in it [TREE-11]."""
    try:
        if isinstance(meta, TreeMetainfo):
            check_room(folder, meta.file_size - allocated_tree_bytes(part, meta))
            return TreeStore.create(part, meta)
        check_room(folder, meta.file_size - allocated_bytes(part))
        return PieceStore.create(part, meta.file_size)
    except NotEnoughSpaceError as exc:
        raise NodeError(
            ErrorKind.FILESYSTEM,
            f"not enough free space in {exc.directory}: {meta.name!r} needs "
            f"{human_bytes(exc.needed)}, {human_bytes(exc.free)} free",
        ) from None
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            message = f"not enough free space in {folder} for {part.name}"
        else:
            message = f"cannot create {part}: {exc.strerror or exc}"
        raise NodeError(ErrorKind.FILESYSTEM, message) from None


async def recheck(
    store: Store, meta: Metainfo, listed: Iterable[int], pool: ThreadPoolExecutor
) -> list[int]:
    """Re-hash the pieces the resume records list: only what is really on disk counts."""
    loop = asyncio.get_running_loop()

    def check(index: int) -> bool:
        digest = store.sha256_range(meta.piece_offset(index), meta.piece_length(index))
        return digest == meta.piece_hashes[index]

    indices = sorted(listed)
    results = await asyncio.gather(*(loop.run_in_executor(pool, check, i) for i in indices))
    return [index for index, ok in zip(indices, results, strict=True) if ok]
