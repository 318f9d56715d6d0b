"""PieceHashes: packed digests that behave exactly like the tuple of bytes they replace."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from p2pshare_core.errors import LocalProtocolError
from p2pshare_core.metainfo import Metainfo, PieceHashes

digests = st.lists(st.binary(min_size=32, max_size=32), max_size=40)


@given(digests, st.integers(-50, 50), st.integers(-50, 50), st.sampled_from([None, 1, 2, -1]))
def test_behaves_like_the_tuple(items: list[bytes], a: int, b: int, step: int | None) -> None:
    packed, plain = PieceHashes.of(items), tuple(items)
    assert len(packed) == len(plain)
    assert list(packed) == list(plain)
    assert packed == plain and packed == list(plain)
    assert packed[a:b:step] == plain[a:b:step]
    for index in (a, b):
        if -len(plain) <= index < len(plain):
            assert packed[index] == plain[index]
            assert type(packed[index]) is bytes
        else:
            with pytest.raises(IndexError):
                packed[index]
    assert packed == PieceHashes.of(items) and hash(packed) == hash(PieceHashes.of(items))
    assert packed != (*plain, b"\x00" * 32)


def test_a_view_into_a_larger_buffer() -> None:
    buffer = b"head" + b"\x01" * 32 + b"\x02" * 32
    view = PieceHashes(buffer, 4, 2)
    assert list(view) == [b"\x01" * 32, b"\x02" * 32]
    assert view.joined() == buffer[4:] and view.buffer is buffer and view.start == 4
    assert view != "not hashes" and repr(view) == "PieceHashes(<2 digests>)"
    with pytest.raises(ValueError):
        PieceHashes(buffer, 4, 3)  # runs past the end
    with pytest.raises(LocalProtocolError):
        PieceHashes.of([b"short"])
    assert list(PieceHashes.of(iter([b"\x03" * 32]))) == [b"\x03" * 32]
    packed = PieceHashes(bytearray(buffer), 4, 2)  # as the seeder builds them
    assert packed == view and hash(packed) == hash(view)


@given(digests.filter(bool))
def test_metainfo_holds_its_encoding_once(items: list[bytes]) -> None:
    meta = Metainfo("f.bin", len(items) * 16384, 16384, b"\x00" * 20, items)
    encoded = meta.encode()
    assert meta.piece_hashes.buffer is encoded  # type: ignore[attr-defined]
    again = Metainfo.decode(encoded)
    assert again == meta and again.share_id == meta.share_id
    assert again.piece_hashes.buffer is again.encode()  # type: ignore[attr-defined]
    packed = Metainfo("f.bin", meta.file_size, 16384, b"\x00" * 20, PieceHashes.of(items))
    assert packed.encode() == encoded  # a bytearray or separate buffer is re-packed
