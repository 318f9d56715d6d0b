"""Codec: round trips, fast path == construct declaration, malformed payloads -> MALFORMED."""

from __future__ import annotations

import struct

import pytest
from core_strategies import handshakes, hot_events, peer_entries, wire_events
from hypothesis import given, settings
from hypothesis import strategies as st
from p2pshare_core import codec
from p2pshare_core import events as ev
from p2pshare_core.constants import MAX_FRAME_LENGTH, PIECE_HEADER_SIZE
from p2pshare_core.errors import ErrorCode, RemoteProtocolError


def _split(frame: bytes) -> tuple[int, bytes]:
    (length,) = struct.unpack_from(">I", frame)
    assert length == len(frame) - 4
    return frame[4], frame[5:]


@settings(max_examples=200, deadline=None)
@given(wire_events)
def test_round_trip_every_message(event: ev.Event) -> None:
    frame = codec.encode(event)
    assert len(frame) - 4 <= MAX_FRAME_LENGTH
    if isinstance(event, ev.KeepAlive):
        assert frame == codec.KEEPALIVE_FRAME
        return
    message_id, payload = _split(frame)
    if isinstance(event, ev.Handshake):
        assert event.version == 1
    assert codec.decode(message_id, payload) == event
    assert codec.decode_reference(message_id, payload) == event


@settings(max_examples=200, deadline=None)
@given(wire_events)
def test_encode_matches_construct_declaration(event: ev.Event) -> None:
    assert codec.encode(event) == codec.encode_reference(event)


@settings(max_examples=300, deadline=None)
@given(hot_events)
def test_fast_paths_are_byte_identical_to_construct(event: ev.Event) -> None:
    fast = codec.encode(event)
    assert fast == codec.encode_reference(event)
    message_id, payload = _split(fast)
    assert codec.decode(message_id, payload) == codec.decode_reference(message_id, payload)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([2, 3, 4, 5, 6]), st.binary(max_size=20))
def test_fast_decode_agrees_with_construct_on_any_bytes(message_id: int, payload: bytes) -> None:
    """On arbitrary payloads the fast and reference decoders accept and reject the same things."""
    try:
        fast: object = codec.decode(message_id, payload)
    except RemoteProtocolError as err:
        fast = err.code
    try:
        ref: object = codec.decode_reference(message_id, payload)
    except RemoteProtocolError as err:
        ref = err.code
    assert fast == ref


@st.composite
def _peers_payloads(draw: st.DrawFn) -> bytes:
    """Peers payloads that are valid, or nearly: a wrong count, an unknown family, a short or
    long address, bytes missing or left over."""
    entries = draw(
        st.lists(
            st.tuples(
                st.binary(min_size=20, max_size=20),
                st.sampled_from([4, 6, 4, 6, 0, 5]),
                st.sampled_from([4, 16, 4, 16, 3]),
                st.integers(0, 0xFFFF),
            ),
            max_size=4,
        )
    )
    body = b"".join(
        pid + bytes((family,)) + draw(st.binary(min_size=size, max_size=size)) + port.to_bytes(2)
        for pid, family, size, port in entries
    )
    count = draw(st.sampled_from([len(entries), len(entries), len(entries) + 1, 0]))
    payload = bytes((count % 256,)) + body
    cut = draw(st.integers(0, len(payload)))
    return draw(st.sampled_from([payload, payload[:cut], payload + b"\x00", b""]))


@settings(max_examples=300, deadline=None)
@given(_peers_payloads())
def test_fast_peers_decode_agrees_with_construct(payload: bytes) -> None:
    """[PEX-3] the struct-based peers decoder accepts what the declaration accepts (the same
    entries) and refuses what it refuses (MALFORMED, naming PEX-3)."""
    try:
        fast: object = codec.decode(0x0B, payload)
    except RemoteProtocolError as err:
        fast = (err.code, err.requirement)
    try:
        ref: object = codec.decode_reference(0x0B, payload)
    except RemoteProtocolError as err:
        ref = (err.code, err.requirement)
    assert fast == ref


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(codec.MESSAGES)), st.binary(max_size=120))
def test_valid_frames_reencode_byte_identically(message_id: int, payload: bytes) -> None:
    try:
        event = codec.decode(message_id, payload)
    except RemoteProtocolError as err:
        assert err.code in (
            ErrorCode.MALFORMED,
            ErrorCode.BAD_HANDSHAKE,
            ErrorCode.UNSUPPORTED_VERSION,
        )
        return
    frame = codec.encode(event)
    assert frame == struct.pack(">IB", len(payload) + 1, message_id) + payload


@settings(max_examples=100, deadline=None)
@given(handshakes, st.integers(0, 255))
def test_handshake_reencodes_and_rejects_other_versions(hs: ev.Handshake, flags: int) -> None:
    frame = codec.encode(hs)
    message_id, payload = _split(frame)
    assert codec.encode(codec.decode(message_id, payload)) == frame
    other = bytearray(payload)
    other[4] = 2
    with pytest.raises(RemoteProtocolError) as info:
        codec.decode(0, bytes(other))
    assert info.value.code is ErrorCode.UNSUPPORTED_VERSION


@settings(max_examples=50, deadline=None)
@given(st.lists(peer_entries, max_size=5))
def test_peers_declaration_layout(entries: list[ev.PeerEntry]) -> None:
    frame = codec.encode(ev.Peers(entries=tuple(entries)))
    payload = frame[5:]
    assert payload[0] == len(entries)
    expected = sum(20 + 1 + (4 if e.family == 4 else 16) + 2 for e in entries)
    assert len(payload) == 1 + expected


def test_piece_header_is_prefix_of_piece_frame() -> None:
    data = b"x" * 100
    header = codec.piece_header(7, 16384, len(data))
    assert len(header) == PIECE_HEADER_SIZE
    assert header + data == codec.encode(ev.Piece(index=7, offset=16384, data=data))


def test_message_ids_follow_the_contract_table() -> None:
    names = {m.message_id: m.name for m in codec.MESSAGES.values()}
    assert names == {
        0x00: "handshake",
        0x01: "bitfield",
        0x02: "have",
        0x03: "request",
        0x04: "piece",
        0x05: "reject",
        0x06: "cancel",
        0x07: "choke",
        0x08: "unchoke",
        0x09: "interested",
        0x0A: "not_interested",
        0x0B: "peers",
        0x0C: "metainfo_request",
        0x0D: "metainfo_data",
        0x0E: "metainfo_reject",
        0x0F: "error",
        0x10: "span_request",
        0x11: "span_data",
        0x12: "span_reject",
        0x13: "span_cancel",
    }
    assert codec.MESSAGE_IDS[ev.Piece] == 4
    assert ev.KeepAlive not in codec.MESSAGE_IDS


def test_exact_bytes_of_a_request() -> None:
    frame = codec.encode(ev.Request(index=1, offset=2, length=3))
    assert frame == bytes.fromhex("0000000d03000000010000000200000003")


@pytest.mark.parametrize(
    ("message_id", "payload", "code"),
    [
        (0x00, b"P2PX\x01", ErrorCode.BAD_HANDSHAKE),
        (0x00, b"P2", ErrorCode.BAD_HANDSHAKE),
        (0x00, b"P2PS", ErrorCode.BAD_HANDSHAKE),
        (0x00, b"P2PS\x07", ErrorCode.UNSUPPORTED_VERSION),
        (0x00, b"P2PS\x01\x00", ErrorCode.BAD_HANDSHAKE),
        (0x02, b"\x00\x00\x00", ErrorCode.MALFORMED),
        (0x03, b"\x00" * 13, ErrorCode.MALFORMED),
        (0x04, b"\x00" * 7, ErrorCode.MALFORMED),
        (0x05, b"", ErrorCode.MALFORMED),
        (0x07, b"\x00", ErrorCode.MALFORMED),
        (0x0B, b"\x01" + b"p" * 20 + b"\x05" + b"\x00" * 6, ErrorCode.MALFORMED),
        (0x0B, b"\x02" + b"p" * 20 + b"\x04" + b"\x00" * 6, ErrorCode.MALFORMED),
        (0x0B, b"\x00\x00", ErrorCode.MALFORMED),
        (0x0C, b"\x00" * 5, ErrorCode.MALFORMED),
        (0x0D, b"\x00" * 7, ErrorCode.MALFORMED),
        (0x0F, b"\x00\x01\xff\xfe", ErrorCode.MALFORMED),
        (0x0F, b"\x00\x01" + b"x" * 1025, ErrorCode.MALFORMED),
        (0x0F, b"\x00", ErrorCode.MALFORMED),
    ],
)
def test_malformed_payloads(message_id: int, payload: bytes, code: ErrorCode) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        codec.decode(message_id, payload)
    assert info.value.code is code
    assert info.value.requirement
    assert "\n" not in str(info.value)


def test_decode_of_unknown_id_is_a_caller_error() -> None:
    with pytest.raises(ValueError, match="unknown message id"):
        codec.decode(0x42, b"")


def test_decode_accepts_memoryview_and_bytearray() -> None:
    frame = codec.encode(ev.Piece(index=1, offset=0, data=b"abc"))
    expected = ev.Piece(index=1, offset=0, data=b"abc")
    assert codec.decode(4, memoryview(frame)[5:]) == expected
    assert codec.decode(4, bytearray(frame[5:])) == expected
    decoded = codec.decode(4, bytearray(frame[5:]))
    assert isinstance(decoded, ev.Piece)
    assert type(decoded.data) is bytes
