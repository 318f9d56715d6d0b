"""Positioned storage: preallocated, writes at offsets, hashes match hashlib, both I/O paths."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from p2pshare_node import storage
from p2pshare_node.storage import PieceStore


@pytest.fixture(params=["native", "fallback"])
def io_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run each test with os.pread/pwrite and with the seek-based fallback used on Windows."""
    if request.param == "fallback":
        monkeypatch.delattr(os, "pwrite", raising=False)
        monkeypatch.delattr(os, "pread", raising=False)
        monkeypatch.delattr(os, "preadv", raising=False)
    return str(request.param)


def test_preallocated_and_written_at_offsets(tmp_path: Path, io_mode: str) -> None:
    path = tmp_path / "f.part"
    store = PieceStore.create(path, 100_000)
    assert path.stat().st_size == 100_000
    store.write(90_000, b"z" * 10_000)
    store.write(0, b"a" * 10)
    assert store.read(0, 12) == b"a" * 10 + b"\0\0"
    assert store.read(90_000, 10_000) == b"z" * 10_000
    store.close()
    data = path.read_bytes()
    assert data[:10] == b"a" * 10 and data[-10_000:] == b"z" * 10_000


def test_writes_outside_the_file_are_refused(tmp_path: Path, io_mode: str) -> None:
    store = PieceStore.create(tmp_path / "f.part", 10)
    with pytest.raises(ValueError):
        store.write(5, b"123456")
    with pytest.raises(ValueError):
        store.read(-1, 2)
    store.close()
    assert (tmp_path / "f.part").stat().st_size == 10


def test_hashes_match_hashlib(
    tmp_path: Path, io_mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage, "HASH_READ_SIZE", 1000)  # force multi-chunk hashing
    payload = os.urandom(12_345)
    path = tmp_path / "f"
    path.write_bytes(payload)
    store = PieceStore.open_readonly(path)
    assert store.size == len(payload)
    assert store.sha1_file() == hashlib.sha1(payload).digest()
    assert store.sha256_range(100, 5000) == hashlib.sha256(payload[100:5100]).digest()
    store.close()
    assert store.closed


def test_reopening_keeps_existing_data(tmp_path: Path) -> None:
    path = tmp_path / "f.part"
    store = PieceStore.create(path, 1000)
    store.write(500, b"keep")
    store.close()
    again = PieceStore.create(path, 1000)
    assert again.read(500, 4) == b"keep"
    again.close()


def test_read_into_fills_a_view_and_stops_at_the_end(tmp_path: Path, io_mode: str) -> None:
    payload = os.urandom(5000)
    path = tmp_path / "f"
    path.write_bytes(payload)
    store = PieceStore.open_readonly(path)
    view = memoryview(bytearray(3000))
    assert store.read_into(1000, view) == 3000 and view.tobytes() == payload[1000:4000]
    with pytest.raises(ValueError):
        store.read_into(3000, view)  # past the announced size
    store.size += 10  # as if the file were truncated under us: a short read, no error
    short = memoryview(bytearray(2010))
    assert store.read_into(3000, short) == 2000 and short[:2000].tobytes() == payload[3000:]
    store.close()
