"""Checks and file work before a node talks to anyone: the shared file, the download folder.

Everything here fails with a NodeError a user can act on (no such file, folder not writable,
the output already exists), before a socket is opened or a byte is fetched.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from p2pshare_core.metainfo import Metainfo

from p2pshare_node.errors import ErrorKind, NodeError
from p2pshare_node.paths import UnsafeNameError, part_path, safe_output_path, state_path
from p2pshare_node.resume import ResumeState
from p2pshare_node.sharing import build_metainfo
from p2pshare_node.storage import PieceStore


async def open_shared_file(
    path: Path, piece_size: int | None, pool: ThreadPoolExecutor
) -> tuple[Metainfo, PieceStore]:
    """Hash the file to share (in `pool`) and open it for reading."""
    loop = asyncio.get_running_loop()
    if not path.is_file():
        raise NodeError(ErrorKind.FILESYSTEM, f"{path}: no such file")
    try:
        meta = await loop.run_in_executor(pool, build_metainfo, path, piece_size)
        store = PieceStore.open_readonly(path)
    except OSError as exc:
        raise NodeError(ErrorKind.FILESYSTEM, f"{path}: {exc.strerror or exc}") from None
    except ValueError as exc:  # bad piece size, file too large, unsafe name
        raise NodeError(ErrorKind.FILESYSTEM, f"cannot share {path}: {exc}") from None
    except Exception as exc:  # the core's LocalProtocolError (name not portable)
        raise NodeError(ErrorKind.FILESYSTEM, f"cannot share {path}: {exc}") from None
    return meta, store


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


def final_path(out: Path, name: str, *, force: bool) -> Path:
    """Where a file of this (peer-supplied) name lands; refuses unsafe names and clobbering."""
    try:
        final = safe_output_path(out, name)
    except UnsafeNameError as exc:
        raise NodeError(ErrorKind.UNSAFE_NAME, str(exc)) from None
    if final.exists() and not force:
        raise NodeError(
            ErrorKind.OUTPUT_EXISTS, f"{final} already exists (use --force to overwrite it)"
        )
    return final


def create_part(final: Path, size: int, *, resuming: bool, force: bool) -> tuple[PieceStore, Path]:
    """Open (preallocating) NAME.part; returns it and the path of its resume state file."""
    part = part_path(final)
    state_file = state_path(final)
    if not resuming and state_file.exists() and not force:
        raise NodeError(
            ErrorKind.OUTPUT_EXISTS,
            f"{state_file} belongs to another download of the same name "
            "(use --force to replace it)",
        )
    try:
        store = PieceStore.create(part, size)
    except OSError as exc:
        kind = ErrorKind.FILESYSTEM
        raise NodeError(kind, f"cannot create {part}: {exc.strerror or exc}") from None
    return store, state_file


async def recheck(store: PieceStore, state: ResumeState, pool: ThreadPoolExecutor) -> list[int]:
    """Re-hash the pieces a state file lists: only what is really on disk counts."""
    meta = state.metainfo
    loop = asyncio.get_running_loop()

    def check(index: int) -> bool:
        digest = store.sha256_range(meta.piece_offset(index), meta.piece_length(index))
        return digest == meta.piece_hashes[index]

    indices = sorted(state.verified)
    results = await asyncio.gather(*(loop.run_in_executor(pool, check, i) for i in indices))
    return [index for index, ok in zip(indices, results, strict=True) if ok]
