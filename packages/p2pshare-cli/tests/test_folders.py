"""Folder shares on the real CLI (spec 8.7): `share DIR` / `get LINK` give an identical tree.

The hostile trees (`..`, absolute paths, duplicates, collisions, a file where a folder is, too
many files) are served to the real `get` by the conformance suite's fake swarm, in
conformance/tests/test_serve.py; here: the healthy paths, symbolic links, resume, --force.
"""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import DONE_TIMEOUT, EVENT_TIMEOUT, Swarm, pieces_of, run_cli

pytestmark = pytest.mark.slow


def _make_tree(root: Path) -> None:
    """Nested folders, an empty file, an empty folder, Unicode names, files across pieces."""
    (root / "photos" / "2024").mkdir(parents=True)
    (root / "empty folder" / "inner empty").mkdir(parents=True)
    (root / "photos" / "2024" / "a.jpg").write_bytes(os.urandom(70_000))
    (root / "photos" / "2024" / "Ünïcødé 文件.jpg").write_bytes(os.urandom(16_384))
    (root / "photos" / "b").write_bytes(os.urandom(5))
    (root / "empty.txt").write_bytes(b"")
    (root / "zz.bin").write_bytes(os.urandom(40_000))


def _same_tree(a: Path, b: Path) -> None:
    """`diff -r` (or filecmp where there is no diff) finds no difference."""
    if shutil.which("diff"):
        result = subprocess.run(["diff", "-r", str(a), str(b)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
        return
    cmp = filecmp.dircmp(a, b)
    assert not (cmp.left_only or cmp.right_only or cmp.diff_files), cmp.report()


async def test_a_folder_arrives_identical(swarm: Swarm, tmp_path: Path) -> None:
    """Share a folder (a symlink inside is skipped with a warning), get it: identical tree,
    one digest (the share ID) on both sides, nothing left beside it."""
    root = tmp_path / "seed" / "album"
    root.mkdir(parents=True)
    _make_tree(root)
    outside = tmp_path / "secret.txt"
    outside.write_text("never shared")
    (root / "photos" / "link").symlink_to(outside)
    seeder, link = await swarm.seed("seeder", root)
    skipped = seeder.all("skipped")
    assert [e["path"] for e in skipped] == ["photos/link"], skipped
    leecher = await swarm.get("leecher", link, "--exit-when-done")
    assert await leecher.wait_exit(DONE_TIMEOUT) == 0, leecher.stderr
    done = leecher.first("completed")
    assert done is not None and done["files"] == 6 and done["share_id"] == link[-64:]
    got = tmp_path / "leecher" / "album"
    (root / "photos" / "link").unlink()  # (the one thing that is not shared)
    _same_tree(root, got)
    assert sorted(p.name for p in (tmp_path / "leecher").iterdir()) == ["album"]
    assert len(leecher.all("file-done")) == 4  # (the files with bytes; empty ones start done)
    info = run_cli("info", str(got), "--json", "--piece-size", "16384")
    assert f'"share_id": "{link[-64:]}"' in info.stdout, info.stdout + info.stderr
    verified = run_cli("verify", str(got), link)
    assert verified.returncode == 0 and verified.stdout.startswith("OK:"), verified.stdout
    (got / "photos" / "b").write_bytes(b"other")
    (got / "zz.bin").unlink()
    verified = run_cli("verify", str(got), link)
    assert verified.returncode == 7, verified.stdout + verified.stderr
    assert "2 of 6 files" in verified.stdout and "photos/b" in verified.stdout, verified.stdout


async def test_a_killed_folder_download_resumes(swarm: Swarm, tmp_path: Path) -> None:
    """kill -9 in the middle of a tree: the next run fetches only what was missing."""
    root = tmp_path / "seed" / "many"
    root.mkdir(parents=True)
    for i in range(40):
        (root / f"d{i % 4}").mkdir(exist_ok=True)
        (root / f"d{i % 4}" / f"f{i}.bin").write_bytes(os.urandom(9_000 + i))
    _, link = await swarm.seed("seeder", root, "--max-upload-rate", "96KiB")
    first = await swarm.get("leecher", link)
    await first.wait_for("piece", EVENT_TIMEOUT)
    first.kill()
    await first.wait_exit(EVENT_TIMEOUT)
    before = set(pieces_of(first))
    assert before and not first.first("completed")
    second = await swarm.get("leecher", link, "--exit-when-done")
    assert await second.wait_exit(DONE_TIMEOUT) == 0, second.stderr
    meta = second.first("metadata")
    assert meta is not None and int(meta["have"]) >= len(before)
    assert not before & set(pieces_of(second)), "pieces fetched again after the kill"
    _same_tree(root, tmp_path / "leecher" / "many")


async def test_force_merges_into_an_existing_folder(swarm: Swarm, tmp_path: Path) -> None:
    """Without --force an existing folder is refused; with it, each file of the share replaces
    the file of the same path, and what else the folder holds stays."""
    root = tmp_path / "seed" / "docs"
    root.mkdir(parents=True)
    (root / "a.txt").write_text("new a")
    (root / "sub").mkdir()
    (root / "sub" / "b.txt").write_text("new b")
    _, link = await swarm.seed("seeder", root)
    target = tmp_path / "leecher" / "docs"
    target.mkdir(parents=True)
    (target / "a.txt").write_text("old a")
    (target / "mine.txt").write_text("keep me")
    refused = await swarm.get("leecher", link, "--exit-when-done", started=False)
    assert await refused.wait_exit(EVENT_TIMEOUT) != 0
    assert "already exists" in refused.stderr
    forced = await swarm.get("leecher", link, "--exit-when-done", "--force")
    assert await forced.wait_exit(DONE_TIMEOUT) == 0, forced.stderr
    assert (target / "a.txt").read_text() == "new a"
    assert (target / "sub" / "b.txt").read_text() == "new b"
    assert (target / "mine.txt").read_text() == "keep me"


def test_share_refuses_a_folder_peers_cannot_store(tmp_path: Path) -> None:
    """Two names that differ only by case would be one file on Windows and macOS: refused,
    never renamed [TREE-5, TREE-12]."""
    root = tmp_path / "clash"
    root.mkdir()
    (root / "README").write_text("1")
    (root / "readme").write_text("2")
    if len(os.listdir(root)) != 2:
        pytest.skip("this filesystem ignores case")
    result = run_cli("share", str(root), "--host", "127.0.0.1", "--no-lan")
    assert result.returncode != 0
    assert "differ only by case" in result.stderr, result.stderr
