"""Extension SPAN (spec 5.2): multi-piece requests on one connection, both modes.

With the bit in force, span frames follow SPAN-1..SPAN-9; without it, the same bytes are an
unassigned id that is skipped (FRAME-5, SPAN-1), and we never send one (EXT-3).
"""

from __future__ import annotations

import hashlib

import pytest
from conn_helpers import DATA, META, PIECE, bitfield, drain, feed, handshake
from hypothesis import given
from hypothesis import strategies as st
from p2pshare_core import codec
from p2pshare_core import events as ev
from p2pshare_core.capabilities import Capability
from p2pshare_core.connection import Connection, Role, State
from p2pshare_core.constants import MAX_PEER_REQUESTS, MAX_SPAN_LENGTH
from p2pshare_core.errors import ErrorCode, LocalProtocolError, RemoteProtocolError
from p2pshare_core.metainfo import Metainfo
from p2pshare_core.spans import span_blocks, split_spans

SPAN = int(Capability.SPAN)
ONE = DATA[:PIECE]  # piece 0
TWO_SHORT = DATA[: 2 * PIECE - 1]  # pieces 0 and 1, a byte short


def pair(
    acceptor_flags: int = SPAN, dialer_flags: int = SPAN, meta: Metainfo = META
) -> tuple[Connection, Connection]:
    """(acceptor = seeder, dialer = downloader), both ACTIVE, with the given offers."""
    acceptor = Connection(Role.ACCEPTOR, meta.share_id)
    dialer = Connection(Role.DIALER)
    # (bits we do not implement can only come from a foreign peer: sent as raw bytes)
    acceptor.send(handshake(b"a", meta, flags=acceptor_flags & SPAN))
    dialer.receive_data(codec.encode(handshake(b"a", meta, flags=acceptor_flags)))
    drain(dialer)
    dialer_hs = handshake(b"d", meta, flags=dialer_flags)
    acceptor.receive_data(dialer.send(dialer_hs) + dialer.send(bitfield(meta=meta)))
    drain(acceptor)
    dialer.receive_data(acceptor.send(bitfield(True, meta)))
    drain(dialer)
    return acceptor, dialer


def _fails(conn: Connection, event: ev.Event, code: ErrorCode, requirement: str) -> None:
    conn.receive_data(codec.encode(event))
    with pytest.raises(RemoteProtocolError) as info:
        drain(conn)
    assert (info.value.code, info.value.requirement) == (code, requirement)
    assert conn.their_state is State.ERROR


def test_both_offer_span_so_it_is_in_force() -> None:
    acceptor, dialer = pair()
    assert acceptor.capabilities_in_force == Capability.SPAN == dialer.capabilities_in_force


def test_a_whole_span_round_trip_including_the_short_last_piece() -> None:
    """[SPAN-5, SPAN-7] one request for pieces 1..2, one span_data with all their bytes."""
    seeder, downloader = pair()
    wire = downloader.send_spans([(1, 2)])
    assert wire == codec.encode(ev.SpanRequest(index=1, count=2))
    assert downloader.our_spans == {(1, 2)}
    seeder.receive_data(wire)
    assert drain(seeder) == [ev.SpanRequest(index=1, count=2)]
    header, length = seeder.send_span_header(1, 2)
    assert length == len(DATA) - PIECE  # a full piece and the short last one
    assert not seeder.their_spans
    downloader.receive_data(header + DATA[PIECE:])
    (got,) = drain(downloader)
    assert got == ev.SpanData(index=1, count=2, data=DATA[PIECE:])
    assert not downloader.our_spans


def test_reject_and_cancel_of_a_span() -> None:
    seeder, downloader = pair()
    seeder.receive_data(
        downloader.send_spans([(0, 2)]) + codec.encode(ev.SpanCancel(index=0, count=2))
    )
    assert drain(seeder) == [ev.SpanRequest(index=0, count=2), ev.SpanCancel(index=0, count=2)]
    assert seeder.their_spans == {(0, 2)}  # a cancel does not answer it [SPAN-5]
    downloader.receive_data(seeder.send(ev.SpanReject(index=0, count=2)))
    assert drain(downloader) == [ev.SpanReject(index=0, count=2)]
    assert not downloader.our_spans and not seeder.their_spans


def test_a_cancel_of_an_unknown_span_is_ignored() -> None:
    """[SPAN-9] it may have crossed the reply."""
    seeder, _ = pair()
    assert feed(seeder, ev.SpanCancel(index=1, count=1)) == [ev.SpanCancel(index=1, count=1)]
    assert seeder.their_state is State.ACTIVE


@pytest.mark.parametrize(
    "span",
    [(0, 0), (3, 1), (2, 2), (0, 4), (0xFFFF_FFFF, 1)],
)
def test_spans_outside_the_share_are_out_of_range(span: tuple[int, int]) -> None:
    """[SPAN-2] for each span frame a peer may send."""
    for kind in (ev.SpanRequest, ev.SpanReject, ev.SpanCancel):
        seeder, _ = pair()
        _fails(seeder, kind(index=span[0], count=span[1]), ErrorCode.OUT_OF_RANGE, "SPAN-2")
    _, downloader = pair()
    _fails(
        downloader,
        ev.SpanData(index=span[0], count=span[1], data=b"x"),
        ErrorCode.OUT_OF_RANGE,
        "SPAN-2",
    )


def test_a_span_longer_than_max_span_length_is_out_of_range() -> None:
    """[SPAN-2] 64 KiB pieces: 8 make MAX_SPAN_LENGTH, 9 are too many."""
    size = 65_536
    data = bytes(size * 10)
    meta = Metainfo("big.bin", len(data), size, hashlib.sha1(data).digest(), (bytes(32),) * 10)
    seeder, downloader = pair(meta=meta)
    assert 8 * size == MAX_SPAN_LENGTH
    seeder.receive_data(downloader.send_spans([(0, 8)]))
    assert drain(seeder) == [ev.SpanRequest(index=0, count=8)]
    with pytest.raises(LocalProtocolError, match=r"SPAN-2|524288"):
        downloader.send_spans([(8, 9)])
    seeder2, _ = pair(meta=meta)
    _fails(seeder2, ev.SpanRequest(index=1, count=9), ErrorCode.OUT_OF_RANGE, "SPAN-2")


def test_overlapping_spans_are_unexpected_but_blocks_may_overlap_spans() -> None:
    """[SPAN-4] spans are compared with spans only."""
    seeder, downloader = pair()
    seeder.receive_data(downloader.send_spans([(0, 2)]) + downloader.send_requests([(1, 0, 100)]))
    assert len(drain(seeder)) == 2
    _fails(seeder, ev.SpanRequest(index=1, count=2), ErrorCode.UNEXPECTED_MESSAGE, "SPAN-4")
    with pytest.raises(LocalProtocolError):
        downloader.send_spans([(1, 1)])


def test_span_pieces_count_toward_max_peer_requests() -> None:
    """[SPAN-3] blocks + span pieces <= MAX_PEER_REQUESTS; SPAN-4 is checked before SPAN-3."""
    seeder, downloader = pair()
    blocks = [(0, offset, 1) for offset in range(MAX_PEER_REQUESTS - 2)]
    seeder.receive_data(downloader.send_requests(blocks) + downloader.send_spans([(0, 2)]))
    assert len(drain(seeder)) == MAX_PEER_REQUESTS - 1
    _fails(seeder, ev.SpanRequest(index=2, count=1), ErrorCode.TOO_MANY_REQUESTS, "SPAN-3")
    seeder, downloader = pair()
    seeder.receive_data(downloader.send_requests(blocks) + downloader.send_spans([(0, 2)]))
    drain(seeder)
    _fails(seeder, ev.SpanRequest(index=1, count=2), ErrorCode.UNEXPECTED_MESSAGE, "SPAN-4")
    seeder, downloader = pair()
    seeder.receive_data(downloader.send_spans([(0, 2)]) + downloader.send_requests(blocks))
    drain(seeder)
    _fails(seeder, ev.Request(index=2, offset=0, length=1), ErrorCode.TOO_MANY_REQUESTS, "MSG-5")


@pytest.mark.parametrize(
    ("asked", "reply", "code", "requirement"),
    [
        ([], ev.SpanData(index=0, count=1, data=ONE), ErrorCode.UNSOLICITED, "SPAN-7"),
        ([], ev.SpanReject(index=0, count=1), ErrorCode.UNSOLICITED, "SPAN-7"),
        ([(0, 2)], ev.SpanData(index=0, count=1, data=ONE), ErrorCode.UNSOLICITED, "SPAN-7"),
        ([(0, 2)], ev.SpanData(index=0, count=2, data=TWO_SHORT), ErrorCode.MALFORMED, "SPAN-7"),
        ([(0, 1)], ev.Piece(index=0, offset=0, data=ONE), ErrorCode.UNSOLICITED, "MSG-10"),
    ],
    ids=["data-unasked", "reject-unasked", "data-other-count", "data-short", "piece-for-span"],
)  # fmt: skip
def test_unsolicited_span_replies_and_wrong_sizes(
    asked: list[tuple[int, int]], reply: ev.Event, code: ErrorCode, requirement: str
) -> None:
    """[SPAN-7] UNSOLICITED before MALFORMED; a block reply does not answer a span."""
    _, downloader = pair()
    if asked:
        downloader.send_spans(asked)
    _fails(downloader, reply, code, requirement)


@pytest.mark.parametrize(("ours", "theirs"), [(SPAN, 0), (0, SPAN), (0, 0), (SPAN, 0xFE)])
def test_without_span_in_force_the_frames_are_skipped_and_never_sent(
    ours: int, theirs: int
) -> None:
    """[SPAN-1, EXT-3, FRAME-5] whichever side did not offer it, even a well-formed span_data."""
    seeder, downloader = pair(acceptor_flags=theirs, dialer_flags=ours)
    assert downloader.capabilities_in_force == Capability(0)
    frames = [
        ev.SpanRequest(index=0, count=1),
        ev.SpanReject(index=0, count=1),
        ev.SpanCancel(index=9, count=0),  # out of range too: still just skipped
        ev.SpanData(index=0, count=1, data=DATA[:PIECE]),
        ev.Have(index=1),
    ]
    assert feed(seeder, *frames) == [ev.Have(index=1)]
    assert feed(downloader, *frames) == [ev.Have(index=1)]
    with pytest.raises(LocalProtocolError) as info:
        downloader.send_spans([(0, 1)])
    assert info.value.requirement == "SPAN-1"
    assert downloader.our_state is State.ERROR


@given(st.integers(0, 2), st.integers(1, 3), st.data())
def test_span_lengths_follow_the_share_geometry(
    index: int, count: int, data: st.DataObject
) -> None:
    """Every span inside the share round-trips with exactly its pieces' bytes."""
    if index + count > META.piece_count:
        return
    seeder, downloader = pair()
    seeder.receive_data(downloader.send_spans([(index, count)]))
    drain(seeder)
    if data.draw(st.booleans()):
        header, length = seeder.send_span_header(index, count)
        body = DATA[index * PIECE : index * PIECE + length]
        assert len(body) == length
        downloader.receive_data(header + body)
        assert drain(downloader) == [ev.SpanData(index=index, count=count, data=body)]
    else:
        downloader.receive_data(seeder.send(ev.SpanReject(index=index, count=count)))
        assert drain(downloader) == [ev.SpanReject(index=index, count=count)]
    assert not downloader.our_spans and not seeder.their_spans


@pytest.mark.parametrize("kind", [ev.SpanRequest, ev.SpanReject, ev.SpanCancel, ev.SpanData])
def test_span_frames_before_the_bitfield_are_unexpected(kind: type) -> None:
    """[STATE-2] in force, but only ACTIVE allows them (the table's ACTIVE_MESSAGES)."""
    acceptor = Connection(Role.ACCEPTOR, META.share_id)
    acceptor.send(handshake(b"a", flags=SPAN))
    fields = {"index": 0, "count": 1}
    if kind is ev.SpanData:
        fields["data"] = DATA[:PIECE]  # type: ignore[assignment]
    acceptor.receive_data(codec.encode(handshake(b"d", flags=SPAN)) + codec.encode(kind(**fields)))
    with pytest.raises(RemoteProtocolError) as info:
        drain(acceptor)
    assert (info.value.code, info.value.requirement) == (ErrorCode.UNEXPECTED_MESSAGE, "STATE-2")


@given(
    st.lists(st.integers(0, 40), unique=True, max_size=30),
    st.lists(st.tuples(st.integers(0, 40), st.integers(1, 100)), max_size=5),
    st.integers(1, 9),
)
def test_split_spans_partitions_the_blocks(
    whole: list[int], partial: list[tuple[int, int]], run: int
) -> None:
    """Spans are 2..run consecutive whole pieces; together with the singles they are exactly
    the blocks given (so the picker's bookkeeping and the frames sent agree)."""
    piece, size = 1000, 40 * 1000 + 500  # 41 pieces, the last 500 bytes
    blocks = [(i, 0, min(piece, size - i * piece)) for i in whole]
    blocks += [(i, 1, n) for i, n in partial if n < min(piece, size - i * piece)]
    spans, singles = split_spans(blocks, piece, size, run)
    covered = [b for s in spans for b in span_blocks(s, piece, size)]
    assert sorted(covered + singles) == sorted(blocks)
    for index, count in spans:
        assert 2 <= count <= run and index + count <= 41
