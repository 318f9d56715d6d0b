"""Hypothesis strategies for p2pshare_core events and shares (shared by the core tests)."""

from __future__ import annotations

import hashlib

from hypothesis import strategies as st
from p2pshare_core import events as ev
from p2pshare_core.constants import MAX_REASON_LENGTH
from p2pshare_core.metainfo import Metainfo

U16 = 0xFFFF
U32 = 0xFFFF_FFFF
U64 = 0xFFFF_FFFF_FFFF_FFFF

u32 = st.integers(0, U32)
peer_ids = st.binary(min_size=20, max_size=20)

# Text that survives UTF-8 (no lone surrogates).
utf8_text = st.text(st.characters(codec="utf-8"), max_size=40)


def _reason() -> st.SearchStrategy[str]:
    return utf8_text.filter(lambda s: len(s.encode()) <= MAX_REASON_LENGTH)


hosts = st.one_of(
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
)

peer_entries = st.builds(ev.PeerEntry, peer_id=peer_ids, host=hosts, port=st.integers(0, U16))

handshakes = st.builds(
    ev.Handshake,
    peer_id=peer_ids,
    listen_port=st.integers(0, U16),
    share_id=st.binary(min_size=32, max_size=32),
    file_size=st.integers(0, U64),
    piece_size=u32,
    file_sha1=st.binary(min_size=20, max_size=20),
    name=utf8_text,
    flags=st.integers(0, 255),
)

pieces = st.builds(ev.Piece, index=u32, offset=u32, data=st.binary(max_size=300))
requests = st.builds(ev.Request, index=u32, offset=u32, length=u32)
rejects = st.builds(ev.Reject, index=u32, offset=u32, length=u32)
cancels = st.builds(ev.Cancel, index=u32, offset=u32, length=u32)
haves = st.builds(ev.Have, index=u32)
peers_messages = st.builds(ev.Peers, entries=st.lists(peer_entries, max_size=60).map(tuple))
hot_events = st.one_of(pieces, requests, rejects, cancels, haves, peers_messages)
span_events = st.one_of(  # extension SPAN (spec 5.2)
    st.builds(ev.SpanRequest, index=u32, count=u32),
    st.builds(ev.SpanData, index=u32, count=u32, data=st.binary(max_size=300)),
    st.builds(ev.SpanReject, index=u32, count=u32),
    st.builds(ev.SpanCancel, index=u32, count=u32),
)

wire_events: st.SearchStrategy[ev.Event] = st.one_of(
    handshakes,
    st.builds(ev.Bitfield, bits=st.binary(max_size=64)),
    hot_events,
    span_events,
    st.sampled_from(
        [ev.Choke(), ev.Unchoke(), ev.Interested(), ev.NotInterested(), ev.KeepAlive()]
    ),
    st.builds(ev.MetainfoRequest, chunk=u32),
    st.builds(ev.MetainfoData, chunk=u32, total_size=u32, data=st.binary(max_size=100)),
    st.builds(ev.MetainfoReject, chunk=u32),
    st.builds(ev.Error, code=st.integers(0, U16), reason=_reason()),
)
"""Every wire event type with arbitrary (representable) field values."""


@st.composite
def small_shares(draw: st.DrawFn) -> tuple[Metainfo, bytes]:
    """A small share (metainfo + file bytes) with 0..6 pieces of 16 KiB."""
    size = draw(st.integers(0, 6 * 16384))
    seed = draw(st.integers(0, 255))
    data = bytes((seed + i * 7) & 0xFF for i in range(size))
    piece_size = 16384
    hashes = tuple(
        hashlib.sha256(data[i : i + piece_size]).digest() for i in range(0, size, piece_size)
    )
    name = draw(st.sampled_from(["file.bin", "données.txt", "a", "x" * 255]))
    meta = Metainfo(name, size, piece_size, hashlib.sha1(data).digest(), hashes)
    return meta, data
