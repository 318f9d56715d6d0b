"""MetainfoFetch: chunks in any order (and twice) assemble to the metainfo."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st
from p2pshare_core.constants import METAINFO_CHUNK_SIZE
from p2pshare_core.events import MetainfoData
from p2pshare_core.metafetch import MetainfoFetch, chunk_total
from p2pshare_core.metainfo import Metainfo, PieceHashes

SOURCES = [bytes([n]) * 20 for n in range(3)]


def _metainfo(pieces: int, name: str = "f.bin") -> Metainfo:
    digests = b"".join(hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(pieces))
    return Metainfo(
        name=name,
        file_size=pieces * 16384,
        piece_size=16384,
        file_sha1=bytes(20),
        piece_hashes=PieceHashes(digests, 0, pieces),
    )


def _chunk(blob: bytes, chunk: int) -> bytes:
    return blob[chunk * METAINFO_CHUNK_SIZE : (chunk + 1) * METAINFO_CHUNK_SIZE]


@settings(max_examples=40, deadline=None)
@given(
    pieces=st.integers(1, 9000),  # up to 5 chunks, the last one short or full
    data=st.data(),
)
def test_chunks_in_any_order_and_repeated_assemble_the_metainfo(
    pieces: int, data: st.DataObject
) -> None:
    meta = _metainfo(pieces)
    blob = meta.encode()
    total = chunk_total(meta.summary)
    order = data.draw(st.permutations(range(total)))
    repeats = data.draw(st.lists(st.sampled_from(range(total)), max_size=4))
    fetch = MetainfoFetch(None)
    fetch.start(meta.summary)
    done = [fetch.received(c, _chunk(blob, c), SOURCES[c % 3], total) for c in order]
    assert done == [False] * (total - 1) + [True]  # complete exactly at the last new chunk
    for c in repeats:  # the first copy wins; a repeat after completion changes nothing
        assert not fetch.received(c, bytes(len(_chunk(blob, c))), SOURCES[0], total)
    got, sources = fetch.assemble(meta.share_id)
    assert got == meta and got is not None and got.encode() == blob
    assert sources == {SOURCES[c % 3] for c in range(total)}
    assert fetch.blob == blob and fetch.missing == []
    reply = fetch.reply(total - 1)  # and it serves them on
    assert isinstance(reply, MetainfoData) and reply.data == _chunk(blob, total - 1)


@settings(max_examples=20, deadline=None)
@given(pieces=st.integers(1, 5000), bad=st.data())
def test_a_wrong_chunk_fails_the_share_id_and_the_next_round_starts_clean(
    pieces: int, bad: st.DataObject
) -> None:
    meta = _metainfo(pieces)
    blob = meta.encode()
    total = chunk_total(meta.summary)
    wrong = bad.draw(st.integers(0, total - 1))
    fetch = MetainfoFetch(None)
    fetch.start(meta.summary)
    for c in range(total):
        chunk = _chunk(blob, c)
        if c == wrong:
            chunk = bytes([chunk[0] ^ 1]) + chunk[1:]
        fetch.received(c, chunk, SOURCES[c % 2], total)
    got, sources = fetch.assemble(meta.share_id)
    assert got is None and fetch.problem is not None and fetch.problem.requirement == "META-14"
    assert sources == {SOURCES[c % 2] for c in range(total)}
    # a fresh round from good peers: nothing of the bad one is left in the buffer
    fetch.start(meta.summary)
    assert [fetch.received(c, _chunk(blob, c), SOURCES[2], total) for c in range(total)][-1]
    got, sources = fetch.assemble(meta.share_id)
    assert got == meta and sources == {SOURCES[2]}
