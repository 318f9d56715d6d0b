"""Drop-behind: flushed pages behind both hashes are released, the rest stay, nothing is lost."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from p2pshare_node.dropbehind import DropBehind
from p2pshare_node.storage import PieceStore

MiB = 1024 * 1024
DATA = os.urandom(8 * MiB)


def _cached_bytes(path: Path) -> int | None:
    """Bytes of `path` in the page cache (util-linux fincore), None where it cannot be told."""
    fincore = shutil.which("fincore")
    if fincore is None:
        return None
    out = subprocess.run(
        [fincore, "--bytes", "--noheadings", "--output", "RES", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    return int(out.stdout.strip()) if out.returncode == 0 and out.stdout.strip() else None


def _written_store(tmp_path: Path) -> PieceStore:
    store = PieceStore.create(tmp_path / "f.part", len(DATA))
    for offset in range(0, len(DATA), MiB):
        store.write(offset, DATA[offset : offset + MiB])
    return store


def test_releases_only_what_the_file_hash_passed_and_keeps_the_recent_part(
    tmp_path: Path,
) -> None:
    store = _written_store(tmp_path)
    hashed = 4 * MiB
    drop = DropBehind(store, lambda: hashed, keep=1 * MiB)
    drop.flush()
    assert drop.dropped == 3 * MiB
    cached = _cached_bytes(store.path)
    if cached is not None and sys.platform == "linux":
        assert cached <= len(DATA) - 3 * MiB  # the released pages are really gone
    hashed = 6 * MiB
    drop.flush()
    assert drop.dropped == 5 * MiB
    hashed = 2 * MiB
    drop.flush()  # never moves back
    assert drop.dropped == 5 * MiB
    assert store.read(0, len(DATA)) == DATA  # released pages come back from disk intact
    store.close()
    assert (tmp_path / "f.part").read_bytes() == DATA


def test_without_posix_fadvise_it_only_flushes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delattr(os, "posix_fadvise", raising=False)  # Windows, macOS
    store = _written_store(tmp_path)
    drop = DropBehind(store, lambda: len(DATA), keep=0)
    drop.flush()
    assert store.read(0, len(DATA)) == DATA
    store.close()


def test_a_closed_store_is_left_alone(tmp_path: Path) -> None:
    store = _written_store(tmp_path)
    store.close()
    DropBehind(store, lambda: len(DATA), keep=0).flush()
