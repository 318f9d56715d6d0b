"""Metainfo: canonical encoding, share ID, geometry, names and chunk helpers."""

from __future__ import annotations

import hashlib

import pytest
from core_strategies import small_shares
from hypothesis import given, settings
from hypothesis import strategies as st
from p2pshare_core.constants import (
    MAX_FILE_SIZE,
    MAX_METAINFO_SIZE,
    MAX_PIECES,
    METAINFO_CHUNK_SIZE,
    MIN_METAINFO_SIZE,
)
from p2pshare_core.errors import ErrorCode, LocalProtocolError, RemoteProtocolError
from p2pshare_core.metainfo import (
    Metainfo,
    ShareSummary,
    choose_piece_size,
    chunk_bounds,
    chunk_count,
    chunk_length,
    validate_name,
)


@settings(max_examples=40, deadline=None)
@given(small_shares())
def test_canonical_round_trip(share: tuple[Metainfo, bytes]) -> None:
    meta, data = share
    encoded = meta.encode()
    assert Metainfo.decode(encoded) == meta
    assert Metainfo.decode(encoded).encode() == encoded
    assert meta.share_id == hashlib.sha256(encoded).digest()
    assert len(encoded) == meta.summary.metainfo_size
    assert sum(meta.piece_length(i) for i in range(meta.piece_count)) == len(data)
    for i in range(meta.piece_count):
        assert meta.piece_offset(i) == i * meta.piece_size


def test_exact_layout() -> None:
    meta = Metainfo("a", 1, 16384, b"\x11" * 20, (b"\x22" * 32,))
    assert meta.encode() == (
        b"P2PM\x01" + (1).to_bytes(8, "big") + (16384).to_bytes(4, "big") + b"\x11" * 20
        + b"\x00\x01a" + b"\x22" * 32
    )  # fmt: skip
    assert len(Metainfo("a", 0, 16384, b"\x00" * 20, ()).encode()) == MIN_METAINFO_SIZE


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b[:-1],
        lambda b: b + b"\x00",
        lambda b: b"X" + b[1:],
        lambda b: b[:4] + b"\x02" + b[5:],
        lambda b: b[:10],
        lambda b: b[:13] + (1000).to_bytes(4, "big") + b[17:],
        lambda b: b[:39] + b"\xff" + b[40:],
        lambda b: b[:39] + b"/" + b[40:],
        lambda b: b"\x00" * (MAX_METAINFO_SIZE + 1),
    ],
)
def test_bad_encodings(mutate: object) -> None:
    good = Metainfo("a", 20000, 16384, b"\x11" * 20, (b"\x22" * 32, b"\x33" * 32)).encode()
    with pytest.raises(RemoteProtocolError) as info:
        Metainfo.decode(mutate(good))  # type: ignore[operator]
    assert info.value.code is ErrorCode.BAD_METAINFO


@pytest.mark.parametrize(
    ("kwargs", "requirement"),
    [
        ({"file_sha1": b"x"}, "META-1"),
        ({"piece_hashes": ()}, "META-1"),
        ({"piece_hashes": (b"x",)}, "META-1"),
        ({"piece_size": 1000}, "META-2"),
        ({"file_size": MAX_FILE_SIZE + 1}, "META-2"),
        ({"name": "a/b"}, "NAME-1"),
    ],
)
def test_constructor_validates(kwargs: dict[str, object], requirement: str) -> None:
    fields: dict[str, object] = {
        "name": "a",
        "file_size": 1,
        "piece_size": 16384,
        "file_sha1": b"\x00" * 20,
        "piece_hashes": [b"\x00" * 32],
    }
    fields.update(kwargs)
    with pytest.raises(LocalProtocolError) as info:
        Metainfo(**fields)  # type: ignore[arg-type]
    assert info.value.code is ErrorCode.BAD_METAINFO
    assert info.value.requirement == requirement


def test_too_many_pieces() -> None:
    with pytest.raises(LocalProtocolError, match="over"):
        Metainfo("a", 16384 * (MAX_PIECES + 1), 16384, b"\x00" * 20, ())


@pytest.mark.parametrize(
    "name", ["report.pdf", "Ünïcødé 文件.bin", "CONSOLE.txt", "a..b", "x" * 255, ".hidden"]
)
def test_safe_names(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", ".", "..", "../x", "a/b", "a\\b", "a\x00b", "a\x1fb", "a\x7fb", "nul.txt", "Com3",
     "lpt9.tar.gz", "x.", " x", "x ", "a:b", "a*b", "a?b", 'a"b', "a<b", "a>b", "a|b",
     "é" * 128, "\ud800", 5],
)  # fmt: skip
def test_unsafe_names(name: str) -> None:
    with pytest.raises(LocalProtocolError) as info:
        validate_name(name)
    assert info.value.code is ErrorCode.BAD_METAINFO
    assert info.value.requirement == "NAME-1"


def test_choose_piece_size() -> None:
    assert choose_piece_size(0) == 65536
    assert choose_piece_size(100 * 2**30) == 2**20  # spec 8.3 example
    assert choose_piece_size(MAX_FILE_SIZE) == 2**26
    assert choose_piece_size(10, 16384) == 16384
    with pytest.raises(ValueError):
        choose_piece_size(MAX_FILE_SIZE + 1)
    with pytest.raises(ValueError):
        choose_piece_size(10, 3000)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, MAX_FILE_SIZE), st.sampled_from([2**k for k in range(14, 27)]))
def test_chosen_piece_size_fits(size: int, requested: int) -> None:
    ps = choose_piece_size(size, requested)
    assert -(-size // ps) <= MAX_PIECES
    assert ps == requested or -(-size // (ps // 2)) > MAX_PIECES


def test_chunk_helpers() -> None:
    assert chunk_count(MAX_METAINFO_SIZE) == 65
    assert chunk_count(METAINFO_CHUNK_SIZE) == 1
    assert chunk_count(METAINFO_CHUNK_SIZE + 1) == 2
    assert chunk_bounds(70000, 1) == (65536, 70000)
    assert chunk_length(70000, 0) == 65536
    with pytest.raises(IndexError):
        chunk_bounds(70000, 2)


def test_summary_geometry() -> None:
    summary = ShareSummary("a", 40000, 16384, b"\x00" * 20)
    assert summary.piece_count == 3
    assert [summary.piece_length(i) for i in range(3)] == [16384, 16384, 7232]
    assert summary.piece_offset(2) == 32768
    for bad in (-1, 3):
        with pytest.raises(IndexError):
            summary.piece_length(bad)
        with pytest.raises(IndexError):
            summary.piece_offset(bad)
    assert ShareSummary("e", 0, 16384, b"\x00" * 20).piece_count == 0


def test_piece_hashes_list_is_kept_packed_and_compares_equal() -> None:
    meta = Metainfo("a", 1, 16384, b"\x00" * 20, [b"\x01" * 32])  # type: ignore[arg-type]
    assert meta.piece_hashes == (b"\x01" * 32,)
    assert hash(meta.share_id)


def test_wire_constants_match_the_spec_table() -> None:
    from p2pshare_core import constants as c

    assert (c.PROTOCOL_MAGIC, c.PROTOCOL_VERSION, c.METAINFO_MAGIC) == (b"P2PS", 1, b"P2PM")
    assert (c.MAX_FRAME_LENGTH, c.MAX_BLOCK_LENGTH) == (1_048_576, 262_144)
    assert (c.MIN_PIECE_SIZE, c.MAX_PIECE_SIZE, c.MAX_PIECES) == (16_384, 67_108_864, 131_072)
    assert c.MAX_FILE_SIZE == 8_796_093_022_208
    assert (c.MIN_METAINFO_SIZE, c.MAX_METAINFO_SIZE, c.MAX_METAINFO_CHUNKS) == (40, 4_194_598, 65)
    assert (c.MAX_PEX_ENTRIES, c.MAX_PEER_REQUESTS, c.MAX_REASON_LENGTH) == (50, 512, 1024)


def test_metainfo_geometry_matches_its_summary() -> None:
    meta = Metainfo("a", 40000, 16384, b"\x00" * 20, (b"\x01" * 32,) * 3)
    assert meta.summary is meta.summary  # cached: asked for on every block
    for i in range(3):
        assert meta.piece_length(i) == meta.summary.piece_length(i)
        assert meta.piece_offset(i) == meta.summary.piece_offset(i)
    for bad in (-1, 3):
        with pytest.raises(IndexError):
            meta.piece_length(bad)
        with pytest.raises(IndexError):
            meta.piece_offset(bad)


def test_encoding_is_computed_once_and_decode_keeps_the_bytes_it_parsed() -> None:
    meta = Metainfo("a", 40000, 16384, b"\x00" * 20, (b"\x01" * 32,) * 3)
    encoded = meta.encode()
    assert meta.encode() is encoded  # served to peers and saved every second: built once
    again = Metainfo.decode(encoded)
    assert again.encode() is encoded and again == meta
    assert Metainfo.decode(bytearray(encoded)).encode() == encoded
