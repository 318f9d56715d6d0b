"""Compute the TreeMetainfo of a folder to share (spec 8.7): its file list and every hash.

The folder is walked without following symbolic links: a link inside it (to a file or a
folder, inside the tree or out of it) is skipped and reported, never followed [TREE-12], and so
are devices, FIFOs and sockets, which have no fixed content. A directory left with nothing to
share becomes an empty-directory entry. Paths that no peer could store as they are (an unsafe
component, a case or Unicode collision, too deep or too long, too many) refuse the whole share
with the core's reason: renaming one would silently change what the user shares.

Hashing reads each file once, in the spec's entry order: its SHA-1 and the SHA-256 of the
pieces of the concatenation are fed from the same buffer.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from p2pshare_core.constants import DEFAULT_PIECE_SIZE
from p2pshare_core.errors import LocalProtocolError
from p2pshare_core.metainfo import validate_name
from p2pshare_core.tree import TreeEntry, TreeMetainfo, check_entries, choose_tree_piece_size

from p2pshare_node.safeio import UnexpectedFileError
from p2pshare_node.treestore import open_in_tree, open_root

READ_SIZE = 1024 * 1024


@dataclass(frozen=True)
class Skipped:
    """Something in the folder that is not shared, and why."""

    path: str  # relative to the folder, '/'-separated
    reason: str


def scan_tree(root: Path) -> tuple[list[TreeEntry], list[Skipped]]:
    """The regular files (sizes only, no hashes yet) and empty directories below root."""
    entries: list[TreeEntry] = []
    skipped: list[Skipped] = []

    def walk(folder: Path, prefix: str) -> bool:
        """Adds what folder holds; False if it holds nothing to share."""
        found = False
        with os.scandir(folder) as listing:
            items = sorted(listing, key=lambda e: e.name)
        for item in items:
            rel = prefix + item.name
            if item.is_symlink():
                skipped.append(Skipped(rel, "a symbolic link (never followed)"))
            elif item.is_dir(follow_symlinks=False):
                if not walk(Path(item.path), rel + "/"):
                    entries.append(TreeEntry.directory(rel))
                found = True
            elif item.is_file(follow_symlinks=False):
                entries.append(TreeEntry(rel, item.stat(follow_symlinks=False).st_size))
                found = True
            else:
                skipped.append(Skipped(rel, "not a regular file (device, FIFO or socket)"))
        return found

    walk(root, "")
    return entries, skipped


def build_tree_metainfo(
    root: Path, piece_size: int | None = None, name: str | None = None
) -> tuple[TreeMetainfo, list[Skipped]]:
    """Scan and hash the folder at root; blocking, run it in a thread from async code.

    Raises ValueError (with the reason) for a folder that cannot be shared as it is.
    """
    entries, skipped = scan_tree(root)
    name = name if name is not None else root.name
    ordered = sorted(entries, key=TreeEntry.order_key)
    try:
        validate_name(name)
        check_entries(ordered)  # every path rule before any hashing [TREE-12]
    except LocalProtocolError as exc:
        raise ValueError(exc.reason) from None
    ps = choose_tree_piece_size(name, ordered, piece_size or DEFAULT_PIECE_SIZE)
    hashed, digests = _hash(root, ordered, ps)
    try:
        return TreeMetainfo.build(name, ps, hashed, digests), skipped
    except LocalProtocolError as exc:
        raise ValueError(exc.reason) from None


def _hash(
    root: Path, entries: list[TreeEntry], piece_size: int
) -> tuple[list[TreeEntry], list[bytes]]:
    """Each file's SHA-1 and the pieces' SHA-256 over the concatenation, in one read."""
    pieces: list[bytes] = []
    out: list[TreeEntry] = []
    buffer = bytearray(READ_SIZE)
    root_fd = open_root(root)
    try:
        _hash_into(root, root_fd, entries, piece_size, pieces, out, buffer)
    finally:
        if root_fd is not None:
            os.close(root_fd)
    return out, pieces


def _hash_into(
    root: Path,
    root_fd: int | None,
    entries: list[TreeEntry],
    piece_size: int,
    pieces: list[bytes],
    out: list[TreeEntry],
    buffer: bytearray,
) -> None:
    """The loop of `_hash`: each file's SHA-1, the pieces' SHA-256 (the last one appended)."""
    piece = hashlib.sha256()
    filled = 0
    for entry in entries:
        if entry.is_dir:
            out.append(entry)
            continue
        sha1 = hashlib.sha1()
        got_total = 0
        fd = _open_inside(root, root_fd, entry.path)
        try:
            while True:
                got = os.readv(fd, [buffer]) if hasattr(os, "readv") else _read_into(fd, buffer)
                if not got:
                    break
                view = memoryview(buffer)[:got]
                sha1.update(view)
                at = 0
                while at < got:
                    take = min(got - at, piece_size - filled)
                    piece.update(view[at : at + take])
                    filled += take
                    at += take
                    if filled == piece_size:
                        pieces.append(piece.digest())
                        piece, filled = hashlib.sha256(), 0
                view.release()
                got_total += got
        finally:
            os.close(fd)
        if got_total != entry.size:
            raise ValueError(f"{entry.path} changed size while it was being hashed")
        out.append(TreeEntry(entry.path, entry.size, sha1.digest()))
    if filled:
        pieces.append(piece.digest())


def _open_inside(root: Path, root_fd: int | None, rel: str) -> int:
    """Open a file of the tree for reading through the tree's own directories, following no
    link on the way: a folder swapped for a link since the scan cannot lead out of the tree."""
    try:
        return open_in_tree(root_fd, root, tuple(rel.split("/")), os.O_RDONLY)
    except UnexpectedFileError as exc:
        raise ValueError(f"{rel} changed while it was being shared: {exc}") from None
    except OSError as exc:
        raise ValueError(f"cannot read {rel}: {exc.strerror or exc}") from None


def _read_into(fd: int, buffer: bytearray) -> int:
    data = os.read(fd, len(buffer))
    buffer[: len(data)] = data
    return len(data)
