"""A folder share on disk: one byte range over many files, never through a symbolic link."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from p2pshare_core.tree import TreeEntry, TreeMetainfo
from p2pshare_node.hashing import whole_digest
from p2pshare_node.safeio import UnexpectedFileError
from p2pshare_node.sharetree import build_tree_metainfo, scan_tree
from p2pshare_node.treestore import (
    MAX_DIRS,
    MAX_OPEN,
    PREALLOCATE_MIN,
    TreeStore,
    open_in_tree,
    open_root,
)


def _meta(files: dict[str, bytes]) -> tuple[TreeMetainfo, bytes]:
    entries = sorted(
        (TreeEntry(p, len(d), hashlib.sha1(d).digest()) for p, d in files.items()),
        key=TreeEntry.order_key,
    )
    whole = b"".join(files[e.path] for e in entries)
    size = 16_384
    hashes = [hashlib.sha256(whole[i : i + size]).digest() for i in range(0, len(whole), size)]
    return TreeMetainfo.build("root", size, entries, hashes), whole


def test_bytes_land_in_their_files_and_read_back(tmp_path: Path) -> None:
    """Writes across file boundaries land in each file; more files than MAX_OPEN are fine."""
    files = {f"d{i % 3}/f{i}": os.urandom(1000 + i) for i in range(MAX_OPEN + 6)}
    files["empty"] = b""
    meta, whole = _meta(files)
    store = TreeStore.create(tmp_path / "root", meta)
    store.make_files()
    for at in range(0, len(whole), 7_777):
        store.write(at, whole[at : at + 7_777])
    assert store.read(0, len(whole)) == whole
    assert whole_digest(store, meta) == meta.file_sha1  # every file's SHA-1 matches [TREE-7]
    store.sync()
    store.close()
    for path, data in files.items():
        assert (tmp_path / "root" / path).read_bytes() == data


def test_a_planted_link_is_refused_not_followed(tmp_path: Path) -> None:
    """A symbolic link where a folder of the tree goes: refused, nothing written through it."""
    meta, _ = _meta({"d/f": b"x" * 10})
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "d").symlink_to(outside)
    store = TreeStore.create(tmp_path / "root", meta)
    with pytest.raises(UnexpectedFileError):
        store.make_files()
    assert list(outside.iterdir()) == []
    (tmp_path / "root" / "d").unlink()
    (tmp_path / "root" / "d").mkdir()
    (tmp_path / "root" / "d" / "f").symlink_to(outside / "f")
    store.make_files()  # (a small file is made by its first write, which refuses the link)
    with pytest.raises(UnexpectedFileError):
        store.write(0, b"x" * 10)
    store.close()
    assert list(outside.iterdir()) == []
    (tmp_path / "elsewhere").symlink_to(outside)
    with pytest.raises(UnexpectedFileError):  # (a link where the folder itself goes)
        TreeStore.create(tmp_path / "elsewhere", meta)


def test_a_large_file_is_preallocated_a_small_one_made_by_its_write(tmp_path: Path) -> None:
    """Big files are reserved before the download writes; a small file costs no extra open,
    and one left longer than its entry (by someone else) is cut to the share's bytes."""
    files = {"big": os.urandom(PREALLOCATE_MIN), "small": os.urandom(100), "empty": b""}
    meta, whole = _meta(files)
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "small").write_bytes(b"left over" * 1000)
    store = TreeStore.create(tmp_path / "root", meta)
    store.make_files()
    assert (tmp_path / "root" / "big").stat().st_size == PREALLOCATE_MIN
    assert (tmp_path / "root" / "empty").stat().st_size == 0
    store.write(0, whole)
    store.sync()
    store.close()
    for path, data in files.items():
        assert (tmp_path / "root" / path).read_bytes() == data


def test_sync_flushes_every_file_and_folder_of_the_tree_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before a tree is renamed into place and its resume state removed, every file written
    and every folder with a new name in it is fsynced: a power loss then loses nothing. No
    system-wide os.sync(): it waited for every other program's writes."""
    files = {f"d{i % (MAX_DIRS + 3)}/e/f{i}": os.urandom(10 + i) for i in range(MAX_OPEN * 2)}
    meta, whole = _meta(files)
    store = TreeStore.create(tmp_path / "root", meta)
    store.make_files()
    store.write(0, whole)
    synced: set[int] = set()
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.add(os.fstat(fd).st_ino)
        real_fsync(fd)

    def no_sync() -> None:
        raise AssertionError("os.sync() flushes every program's writes")

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "sync", no_sync, raising=False)
    store.sync()
    store.close()
    root = tmp_path / "root"
    names = [root / path for path in files]
    root_fd = open_root(root)
    if root_fd is not None:  # (POSIX: folders are fsynced too; not on Windows)
        os.close(root_fd)
        names += [p for p in root.rglob("*") if p.is_dir()] + [root]
    assert {p.stat().st_ino for p in names} <= synced


def test_sharing_skips_links_and_special_files(tmp_path: Path) -> None:
    """Links and FIFOs are skipped and reported; a folder left empty is an empty folder."""
    root = tmp_path / "share"
    (root / "only links").mkdir(parents=True)
    (root / "only links" / "l").symlink_to(tmp_path)
    (root / "a.txt").write_text("a")
    if hasattr(os, "mkfifo"):
        os.mkfifo(root / "pipe")
    entries, skipped = scan_tree(root)
    assert [(e.path, e.is_dir) for e in entries] == [("a.txt", False), ("only links", True)]
    assert {s.path for s in skipped} >= {"only links/l"}
    meta, _ = build_tree_metainfo(root)
    assert meta.entries[0].sha1 == hashlib.sha1(b"a").digest()


def test_reading_a_shared_folder_never_leaves_it(tmp_path: Path) -> None:
    """A folder of the share swapped for a link to elsewhere (after the scan): reading a file
    through it is refused, so nothing outside the folder is hashed or served."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "f").write_text("secret")
    root = tmp_path / "share"
    root.mkdir()
    (root / "d").symlink_to(outside)
    root_fd = open_root(root)
    try:
        with pytest.raises(UnexpectedFileError):
            open_in_tree(root_fd, root, ("d", "f"), os.O_RDONLY)
    finally:
        if root_fd is not None:
            os.close(root_fd)
