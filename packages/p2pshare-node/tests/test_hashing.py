"""Download hashing: piece digests from memory or read back, file SHA-1 in steps, all exact."""

from __future__ import annotations

import hashlib
import random
import tracemalloc
from pathlib import Path

import pytest
from p2pshare_node.hashing import DownloadHasher
from p2pshare_node.storage import PieceStore

PIECE = 1000
DATA = random.Random(7).randbytes(PIECE * 5 + 321)  # 6 pieces, the last one short


def _hasher(tmp_path: Path) -> DownloadHasher:
    return DownloadHasher(PieceStore.create(tmp_path / "f.part", len(DATA)), PIECE)


def _piece(index: int) -> bytes:
    return DATA[index * PIECE : (index + 1) * PIECE]


def test_in_order_out_of_order_and_refetched_blocks_hash_right(tmp_path: Path) -> None:
    hasher = _hasher(tmp_path)
    piece = _piece(0)
    for offset in (0, 300, 600):  # in order: hashed from memory
        hasher.store_block(0, offset, piece[offset : offset + 300])
    hasher.store_block(0, 900, piece[900:])
    for offset in (600, 0, 300):  # out of order: read back
        hasher.store_block(1, offset, _piece(1)[offset : offset + 300])
    hasher.store_block(1, 900, _piece(1)[900:])
    hasher.store_block(2, 500, _piece(2)[500:])  # never an offset-0 block: read back
    hasher.store_block(2, 0, b"\xff" * 500)  # a bad block first, then the piece again
    hasher.store_block(2, 0, _piece(2)[:500])
    hasher.store_block(2, 500, _piece(2)[500:])
    for index in range(3):
        assert hasher.piece_digest(index, PIECE) == hashlib.sha256(_piece(index)).digest()
    last = DATA[5 * PIECE :]
    hasher.store_block(5, 0, last)
    assert hasher.piece_digest(5, len(last)) == hashlib.sha256(last).digest()


def test_file_hash_grows_with_the_verified_prefix(tmp_path: Path) -> None:
    hasher = _hasher(tmp_path)
    for index in range(6):
        hasher.store_block(index, 0, DATA[index * PIECE : (index + 1) * PIECE])
    hasher.extend_file_hash(2 * PIECE)
    hasher.extend_file_hash(2 * PIECE)  # nothing new
    hasher.extend_file_hash(5 * PIECE)
    assert hasher.file_digest() == hashlib.sha1(DATA).digest()


def test_file_hash_read_errors_surface_at_the_end(tmp_path: Path) -> None:
    hasher = _hasher(tmp_path)
    hasher.store.close()
    hasher.extend_file_hash(PIECE)  # a job nobody waits for: the error is kept
    hasher.extend_file_hash(2 * PIECE)
    with pytest.raises(ValueError, match="closed"):
        hasher.file_digest()


def test_a_file_shorter_than_announced_is_an_error(tmp_path: Path) -> None:
    hasher = _hasher(tmp_path)
    hasher.store.size += 10  # as if the file were truncated under us
    with pytest.raises(OSError, match="shorter"):
        hasher.file_digest()


def test_the_hashing_loops_hold_one_chunk_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two chunks alive at once stayed in the hashing thread's arena (8 MiB of peak RSS)."""
    chunk = 256 * 1024
    monkeypatch.setattr("p2pshare_node.storage.HASH_READ_SIZE", chunk)
    monkeypatch.setattr("p2pshare_node.hashing.HASH_READ_SIZE", chunk)
    data = random.Random(8).randbytes(8 * chunk)
    store = PieceStore.create(tmp_path / "big.part", len(data))
    store.write(0, data)
    hasher = DownloadHasher(store, chunk)
    jobs = (
        lambda: hasher.extend_file_hash(len(data)),
        store.sha1_file,
        lambda: store.sha256_range(0, len(data)),
    )
    tracemalloc.start()
    try:
        for job in jobs:
            tracemalloc.reset_peak()
            before = tracemalloc.get_traced_memory()[0]
            job()
            assert tracemalloc.get_traced_memory()[1] - before < 1.5 * chunk
    finally:
        tracemalloc.stop()
    assert hasher.file_digest() == hashlib.sha1(data).digest()
    store.close()


def test_the_file_hash_reads_into_one_buffer_it_keeps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh chunk per read kept 4 MiB of the hashing thread's arena (or, at 1 MiB, was
    faulted in again on every read): after the first read, hashing allocates no chunks."""
    chunk = 256 * 1024
    monkeypatch.setattr("p2pshare_node.storage.HASH_READ_SIZE", chunk)
    monkeypatch.setattr("p2pshare_node.hashing.HASH_READ_SIZE", chunk)
    data = random.Random(9).randbytes(8 * chunk + 123)
    store = PieceStore.create(tmp_path / "big.part", len(data))
    store.write(0, data)
    hasher = DownloadHasher(store, chunk)
    hasher.extend_file_hash(chunk)  # (makes the buffer)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        hasher.extend_file_hash(len(data))
        assert tracemalloc.get_traced_memory()[1] - before < chunk // 8
    finally:
        tracemalloc.stop()
    assert hasher.file_digest() == hashlib.sha1(data).digest()
    store.close()
