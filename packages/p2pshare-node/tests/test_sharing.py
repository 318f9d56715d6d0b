"""Sharing a file computes the same metainfo as a straightforward reference computation."""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from pathlib import Path

import pytest
from p2pshare_node import sharing
from p2pshare_node.sharing import build_metainfo


@pytest.mark.parametrize("size", [0, 1, 16_384, 16_385, 200_000])
def test_metainfo_matches_reference(
    tmp_path: Path, size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sharing, "BLOCK_TARGET", 32_768)  # several blocks through the buffer ring
    payload = os.urandom(size)
    path = tmp_path / "data.bin"
    path.write_bytes(payload)
    meta = build_metainfo(path, 16_384)
    assert meta.name == "data.bin"
    assert meta.file_size == size
    assert meta.piece_size == 16_384
    assert meta.file_sha1 == hashlib.sha1(payload).digest()
    expected = [hashlib.sha256(payload[i : i + 16_384]).digest() for i in range(0, size, 16_384)]
    assert list(meta.piece_hashes) == expected


def test_read_error_in_reader_thread_is_raised(tmp_path: Path) -> None:
    """An OSError while reading (here: reading a directory) reaches the caller, no hang."""
    if os.name != "posix":
        pytest.skip("reading a directory is an error only on POSIX")
    with pytest.raises(OSError):
        build_metainfo(tmp_path, 16_384)


def test_peak_memory_holds_the_ring_or_two_copies_of_the_digests_never_all_three(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The read ring is released before the metainfo's encoding copies the digests: peak memory
    then grows with the file only by the digests (the metainfo itself), as bench (d) checks."""
    block = 64 * 1024
    monkeypatch.setattr(sharing, "BLOCK_TARGET", block)
    pieces = 4096
    path = tmp_path / "data.bin"
    path.write_bytes(bytes(pieces * 16_384))
    digests = pieces * 32
    ring = sharing.RING * block
    tracemalloc.start()
    try:
        meta = build_metainfo(path, 16_384)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert meta.piece_count == pieces
    assert peak < max(ring + digests, 2 * digests) + digests // 2  # all three: ring + 2 digests
