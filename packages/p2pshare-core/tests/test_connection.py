"""Connection: the handshake/bitfield/active lifecycle, the semantic rules, EOF, buffering."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from conn_helpers import DATA, META, PIECE, SHARE_ID, active_pair, bitfield, drain, feed, handshake
from core_strategies import small_shares
from hypothesis import given, settings
from hypothesis import strategies as st
from p2pshare_core import codec
from p2pshare_core import events as ev
from p2pshare_core.bitfield import Bitfield as Bits
from p2pshare_core.connection import Connection, Role, State
from p2pshare_core.constants import (
    MAX_BLOCK_LENGTH,
    MAX_FRAME_LENGTH,
    MAX_PEER_REQUESTS,
    METAINFO_CHUNK_SIZE,
)
from p2pshare_core.errors import ErrorCode, LocalProtocolError, RemoteProtocolError
from p2pshare_core.metainfo import Metainfo, chunk_bounds, chunk_count

# --- a whole transfer between two connections -------------------------------------------------


def _transfer(meta: Metainfo, data: bytes, chunk: int) -> bytes:
    """Dialer without the share learns it from the acceptor, then fetches every piece."""
    seeder = Connection(Role.ACCEPTOR, meta.share_id)
    leecher = Connection(Role.DIALER)
    hs_seed = handshake(b"s", meta)
    wire = seeder.send(hs_seed) + seeder.send(bitfield(True, meta))

    def deliver(conn: Connection, data_: bytes) -> list[ev.ReceivedEvent]:
        out: list[ev.ReceivedEvent] = []
        for i in range(0, len(data_), chunk):
            conn.receive_data(data_[i : i + chunk])
            out += drain(conn)
            assert conn.buffered <= MAX_FRAME_LENGTH + 4
        return out

    assert deliver(leecher, wire) == [hs_seed, bitfield(True, meta)]
    assert leecher.share_id == meta.share_id
    assert leecher.summary == meta.summary
    wire = leecher.send(handshake(b"l", meta)) + leecher.send(bitfield(False, meta))
    wire += leecher.send(ev.Interested())
    wire += b"".join(leecher.send(ev.MetainfoRequest(chunk=c)) for c in range(2))
    got = deliver(seeder, wire)
    assert got[-1] == ev.MetainfoRequest(chunk=1)
    assert seeder.peer_interested
    # seeder answers metainfo chunk 0, rejects chunk 1, unchokes
    encoded = meta.encode()
    start, end = chunk_bounds(len(encoded), 0)
    wire = seeder.send(ev.MetainfoData(chunk=0, total_size=len(encoded), data=encoded[start:end]))
    wire += seeder.send(ev.MetainfoReject(chunk=1)) + seeder.send(ev.Unchoke())
    assert deliver(leecher, wire)[-1] == ev.Unchoke()
    assert not leecher.peer_choking
    assert not leecher.our_metainfo_requests
    # request every piece (pipelined), serve them with both send paths
    requests = [
        ev.Request(index=i, offset=0, length=meta.piece_length(i)) for i in range(meta.piece_count)
    ]
    wire = b"".join(leecher.send(r) for r in requests)
    assert deliver(seeder, wire) == requests
    assert seeder.their_requests == {r.triple for r in requests}
    wire = b""
    for r in requests:
        block = data[meta.piece_offset(r.index) : meta.piece_offset(r.index) + r.length]
        if r.index % 2:
            wire += seeder.send_piece_header(r.index, 0, r.length) + block
        else:
            wire += seeder.send(ev.Piece(index=r.index, offset=0, data=block))
    pieces = deliver(leecher, wire)
    assert not seeder.their_requests
    assert not leecher.our_requests
    leecher.receive_data(b"")
    seeder.receive_data(b"")
    assert drain(leecher) == [ev.ConnectionClosed()]
    assert drain(seeder) == [ev.ConnectionClosed()]
    assert leecher.their_state is State.CLOSED
    return b"".join(p.data for p in pieces if isinstance(p, ev.Piece))


@settings(max_examples=25, deadline=None)
@given(small_shares(), st.sampled_from([1, 3, 13, 100, 4096, 1 << 20]))
def test_two_connections_transfer_a_small_share(share: tuple[Metainfo, bytes], chunk: int) -> None:
    meta, data = share
    assert _transfer(meta, data, chunk) == data


def test_transfer_of_the_fixed_share() -> None:
    assert _transfer(META, DATA, 1000) == DATA


# --- receive-side rules -----------------------------------------------------------------------


def _remote_error(conn: Connection, *events: ev.Event) -> RemoteProtocolError:
    with pytest.raises(RemoteProtocolError) as info:
        feed(conn, *events)
    assert conn.their_state is State.ERROR
    # the error sticks: later calls raise it again, data is ignored
    conn.receive_data(b"\x00\x00\x00\x00")
    assert conn.buffered == 0
    with pytest.raises(RemoteProtocolError) as again:
        conn.next_event()
    assert again.value.code is info.value.code
    return info.value


@pytest.mark.parametrize(
    ("event", "code"),
    [
        (ev.Have(index=3), ErrorCode.OUT_OF_RANGE),
        (ev.Request(index=3, offset=0, length=1), ErrorCode.OUT_OF_RANGE),
        (ev.Request(index=0, offset=0, length=0), ErrorCode.OUT_OF_RANGE),
        (ev.Request(index=0, offset=PIECE - 1, length=2), ErrorCode.OUT_OF_RANGE),
        (ev.Request(index=2, offset=0, length=1001), ErrorCode.OUT_OF_RANGE),
        (ev.Request(index=0, offset=0, length=MAX_BLOCK_LENGTH + 1), ErrorCode.OUT_OF_RANGE),
        (ev.Request(index=0, offset=0xFFFFFFFF, length=1), ErrorCode.OUT_OF_RANGE),
        (ev.Cancel(index=5, offset=0, length=1), ErrorCode.OUT_OF_RANGE),
        (ev.Reject(index=0, offset=0, length=PIECE + 1), ErrorCode.OUT_OF_RANGE),
        (ev.Piece(index=0, offset=0, data=b""), ErrorCode.OUT_OF_RANGE),
        (ev.Piece(index=0, offset=0, data=b"x"), ErrorCode.UNSOLICITED),
        (ev.Reject(index=0, offset=0, length=1), ErrorCode.UNSOLICITED),
        (ev.MetainfoData(chunk=0, total_size=10, data=b""), ErrorCode.UNSOLICITED),
        (ev.MetainfoReject(chunk=0), ErrorCode.UNSOLICITED),
        (ev.MetainfoRequest(chunk=65), ErrorCode.OUT_OF_RANGE),
        (
            ev.Peers(entries=(ev.PeerEntry(peer_id=b"p" * 20, host="::1", port=1),) * 51),
            ErrorCode.PEX_VIOLATION,
        ),
        (handshake(b"x"), ErrorCode.UNEXPECTED_MESSAGE),
        (bitfield(), ErrorCode.UNEXPECTED_MESSAGE),
    ],
)
def test_receive_rules_in_active_state(event: ev.Event, code: ErrorCode) -> None:
    acceptor, _ = active_pair()
    err = _remote_error(acceptor, event)
    assert err.code is code
    assert err.requirement
    assert ev.Error.from_exception(err).code == code


def test_cancel_of_unknown_request_is_ignored_and_does_not_answer() -> None:
    acceptor, dialer = active_pair()
    acceptor.receive_data(dialer.send(ev.Cancel(index=0, offset=0, length=10)))
    assert drain(acceptor) == [ev.Cancel(index=0, offset=0, length=10)]
    acceptor.receive_data(dialer.send(ev.Request(index=0, offset=0, length=10)))
    acceptor.receive_data(dialer.send(ev.Cancel(index=0, offset=0, length=10)))
    drain(acceptor)
    assert acceptor.their_requests == {(0, 0, 10)}  # a cancelled request still needs a reply
    dialer.receive_data(acceptor.send(ev.Reject(index=0, offset=0, length=10)))
    assert drain(dialer) == [ev.Reject(index=0, offset=0, length=10)]
    assert not dialer.our_requests


def test_each_request_gets_exactly_one_reply() -> None:
    _acceptor, dialer = active_pair()
    dialer.send(ev.Request(index=0, offset=0, length=4))
    assert feed(dialer, ev.Piece(index=0, offset=0, data=b"abcd"))
    assert _remote_error(dialer, ev.Reject(index=0, offset=0, length=4)).code is (
        ErrorCode.UNSOLICITED
    )


def test_duplicate_and_too_many_requests() -> None:
    acceptor, _ = active_pair()
    feed(acceptor, ev.Request(index=0, offset=0, length=1))
    err = _remote_error(acceptor, ev.Request(index=0, offset=0, length=1))
    assert err.code is ErrorCode.UNEXPECTED_MESSAGE
    acceptor, _ = active_pair()
    requests = [ev.Request(index=0, offset=o, length=1) for o in range(MAX_PEER_REQUESTS)]
    assert feed(acceptor, *requests) == requests
    err = _remote_error(acceptor, ev.Request(index=1, offset=0, length=1))
    assert err.code is ErrorCode.TOO_MANY_REQUESTS


def test_choke_and_interest_flags() -> None:
    acceptor, dialer = active_pair()
    assert acceptor.am_choking and acceptor.peer_choking
    for event in (ev.Unchoke(), ev.Interested()):
        acceptor.receive_data(dialer.send(event))
    drain(acceptor)
    assert not acceptor.peer_choking and acceptor.peer_interested
    assert not dialer.am_choking and dialer.am_interested
    for event in (ev.Choke(), ev.NotInterested()):
        acceptor.receive_data(dialer.send(event))
    drain(acceptor)
    assert acceptor.peer_choking and not acceptor.peer_interested


@pytest.mark.parametrize(
    ("bits", "requirement"), [(b"", "BF-2"), (b"\xe0\x00", "BF-2"), (b"\xe1", "BF-3")]
)
def test_bad_bitfields(bits: bytes, requirement: str) -> None:
    conn = Connection(Role.ACCEPTOR, SHARE_ID)
    conn.send(handshake(b"a"))
    err = _remote_error(conn, handshake(b"d"), ev.Bitfield(bits=bits))
    assert err.code is ErrorCode.MALFORMED
    assert err.requirement == requirement


def test_empty_share_has_an_empty_bitfield() -> None:
    meta = Metainfo("empty", 0, 16384, b"\x00" * 20, ())
    conn = Connection(Role.DIALER)
    assert feed(conn, handshake(b"a", meta), ev.Bitfield(bits=b"")) == [
        handshake(b"a", meta),
        ev.Bitfield(bits=b""),
    ]
    assert _remote_error(conn, ev.Have(index=0)).code is ErrorCode.OUT_OF_RANGE


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"share_id": b"\x01" * 32}, ErrorCode.SHARE_MISMATCH),
        ({"piece_size": 1000}, ErrorCode.BAD_HANDSHAKE),
        ({"piece_size": 1 << 27}, ErrorCode.BAD_HANDSHAKE),
        ({"file_size": 1 << 60}, ErrorCode.BAD_HANDSHAKE),
        ({"file_size": 16384 * 131_073, "piece_size": 16384}, ErrorCode.BAD_HANDSHAKE),
        ({"name": "../etc/passwd"}, ErrorCode.BAD_METAINFO),
        ({"name": "CON.txt"}, ErrorCode.BAD_METAINFO),
    ],
)
def test_bad_handshakes(changes: dict[str, Any], code: ErrorCode) -> None:
    conn = Connection(Role.DIALER, SHARE_ID)
    assert _remote_error(conn, handshake(b"a", **changes)).code is code


def test_handshake_summary_must_match_ours() -> None:
    conn = Connection(Role.DIALER)  # share id unknown: only the summary can disagree
    conn.send(handshake(b"d"))
    err = _remote_error(conn, handshake(b"a", file_size=META.file_size + 1))
    assert err.code is ErrorCode.SHARE_MISMATCH
    conn = Connection(Role.DIALER)
    feed(conn, handshake(b"a"))
    with pytest.raises(LocalProtocolError) as info:
        conn.send(handshake(b"d", name="other.bin"))
    assert info.value.code is ErrorCode.SHARE_MISMATCH
    assert conn.our_state is State.ERROR


def test_version_and_magic_checks() -> None:
    frame = bytearray(codec.encode(handshake()))
    frame[9] = 2  # version byte: 4 length + 1 id + 4 magic
    conn = Connection(Role.DIALER)
    conn.receive_data(bytes(frame))
    with pytest.raises(RemoteProtocolError) as info:
        conn.next_event()
    assert info.value.code is ErrorCode.UNSUPPORTED_VERSION
    frame[5] = ord("X")
    conn = Connection(Role.DIALER)
    conn.receive_data(bytes(frame))
    with pytest.raises(RemoteProtocolError) as info:
        conn.next_event()
    assert info.value.code is ErrorCode.BAD_HANDSHAKE
    with pytest.raises(LocalProtocolError) as local:
        Connection(Role.DIALER).send(handshake(version=2))
    assert local.value.code is ErrorCode.UNSUPPORTED_VERSION


def test_metainfo_data_checks() -> None:
    encoded = META.encode()
    assert chunk_count(len(encoded)) == 1
    for data_event, code in [
        (ev.MetainfoData(chunk=0, total_size=len(encoded) + 1, data=encoded), 13),
        (ev.MetainfoData(chunk=0, total_size=len(encoded), data=encoded[:-1]), 13),
        (ev.MetainfoData(chunk=1, total_size=len(encoded), data=b""), 13),
    ]:
        _, dialer = active_pair()
        dialer.send(ev.MetainfoRequest(chunk=data_event.chunk))
        assert _remote_error(dialer, data_event).code == code
    _, dialer = active_pair()
    dialer.send(ev.MetainfoRequest(chunk=0))
    with pytest.raises(LocalProtocolError) as info:
        dialer.send(ev.MetainfoRequest(chunk=0))
    assert info.value.code is ErrorCode.UNEXPECTED_MESSAGE


def test_big_metainfo_is_served_in_chunks() -> None:
    count = 3000  # 3000 * 32 bytes of hashes: two chunks
    meta = Metainfo("big", count * 16384, 16384, b"\x00" * 20, (b"\x11" * 32,) * count)
    encoded = meta.encode()
    assert chunk_count(len(encoded)) == 2 == -(-len(encoded) // METAINFO_CHUNK_SIZE)
    seeder, leecher = Connection(Role.ACCEPTOR), Connection(Role.DIALER)
    leecher.receive_data(seeder.send(handshake(b"s", meta)) + seeder.send(bitfield(True, meta)))
    drain(leecher)
    seeder.receive_data(leecher.send(handshake(b"l", meta)) + leecher.send(bitfield(False, meta)))
    seeder.receive_data(b"".join(leecher.send(ev.MetainfoRequest(chunk=c)) for c in (0, 1)))
    drain(seeder)
    for c in (1, 0):
        s, e = chunk_bounds(len(encoded), c)
        reply = ev.MetainfoData(chunk=c, total_size=len(encoded), data=encoded[s:e])
        leecher.receive_data(seeder.send(reply))
        assert drain(leecher) == [reply]
    assert Metainfo.decode(encoded) == meta


def test_error_message_closes_their_side() -> None:
    acceptor, dialer = active_pair()
    wire = dialer.send(ev.Error(code=ErrorCode.SHUTDOWN, reason="bye"))
    assert dialer.our_state is State.CLOSED
    assert feed(acceptor, ev.Error(code=16, reason="bye")) == [ev.Error(code=16, reason="bye")]
    assert wire == codec.encode(ev.Error(code=16, reason="bye"))
    assert acceptor.their_state is State.CLOSED
    acceptor.receive_data(b"")
    assert drain(acceptor) == [ev.ConnectionClosed()]
    assert acceptor.next_event() == ev.ConnectionClosed()  # and again, forever


def test_everything_after_their_error_message_is_ignored() -> None:
    """STATE-4: after an error message no further byte is processed (not even a bad one)."""
    acceptor, _ = active_pair()
    assert feed(acceptor, ev.Error(code=1), ev.Have(index=99)) == [ev.Error(code=1)]
    acceptor.receive_data(b"\xff" * 100 + struct.pack(">IB", 1, 0x42))
    assert acceptor.next_event() is ev.NEED_DATA
    assert acceptor.buffered == 0
    acceptor.receive_data(b"")
    assert acceptor.next_event() == ev.ConnectionClosed()
    assert acceptor.their_state is State.CLOSED


# --- framing, EOF and buffering ----------------------------------------------------------------


def test_eof_inside_a_frame_is_truncated() -> None:
    frame = codec.encode(handshake())
    for cut in (1, 4, 5, len(frame) - 1):
        conn = Connection(Role.DIALER)
        conn.receive_data(frame[:cut])
        assert conn.next_event() is ev.NEED_DATA
        conn.receive_data(b"")
        with pytest.raises(RemoteProtocolError) as info:
            conn.next_event()
        assert info.value.code is ErrorCode.TRUNCATED
    with pytest.raises(RuntimeError):
        conn.receive_data(b"more")


def test_eof_before_anything_is_a_clean_close() -> None:
    conn = Connection(Role.ACCEPTOR)
    conn.receive_data(b"")
    assert conn.next_event() == ev.ConnectionClosed()
    assert conn.their_state is State.CLOSED


def test_frame_too_large_is_detected_from_the_length_alone() -> None:
    conn = Connection(Role.DIALER)
    conn.receive_data(struct.pack(">I", MAX_FRAME_LENGTH + 1))
    with pytest.raises(RemoteProtocolError) as info:
        conn.next_event()
    assert info.value.code is ErrorCode.FRAME_TOO_LARGE


def test_state_is_checked_before_the_payload_arrives() -> None:
    conn = Connection(Role.DIALER)
    conn.receive_data(struct.pack(">IB", MAX_FRAME_LENGTH, 4))  # a 1 MiB piece before handshake
    with pytest.raises(RemoteProtocolError) as info:
        conn.next_event()
    assert info.value.code is ErrorCode.UNEXPECTED_MESSAGE
    conn = Connection(Role.DIALER)
    conn.receive_data(b"\x00\x00\x00\x00")  # keepalive before the handshake
    with pytest.raises(RemoteProtocolError):
        conn.next_event()


def test_largest_frame_is_buffered_in_bounded_memory() -> None:
    conn = Connection(Role.DIALER)
    feed(conn, handshake(), bitfield())
    conn.receive_data(struct.pack(">IB", MAX_FRAME_LENGTH, 0x04))
    step = b"\x00" * 65536
    fed = 5
    while fed + len(step) < MAX_FRAME_LENGTH + 4:
        conn.receive_data(step)
        fed += len(step)
        assert conn.next_event() is ev.NEED_DATA
        assert conn.buffered <= MAX_FRAME_LENGTH + 4
    conn.receive_data(b"\x00" * (MAX_FRAME_LENGTH + 4 - fed))
    with pytest.raises(RemoteProtocolError) as info:  # a 1 MiB block is too long
        conn.next_event()
    assert info.value.code is ErrorCode.OUT_OF_RANGE


def test_unknown_ids_are_skipped_even_when_split() -> None:
    conn = Connection(Role.DIALER)
    unknown = struct.pack(">IB", 1001, 0x42) + b"\xaa" * 1000
    wire = unknown + codec.encode(handshake()) + unknown + b"\x00\x00\x00\x00" + unknown
    events: list[ev.ReceivedEvent] = []
    for i in range(0, len(wire), 7):
        conn.receive_data(wire[i : i + 7])
        events += drain(conn)
        assert conn.buffered <= MAX_FRAME_LENGTH + 4
    conn.receive_data(b"")
    events += drain(conn)
    assert events == [handshake(), ev.KeepAlive(), ev.ConnectionClosed()]


def test_eof_while_skipping_is_truncated() -> None:
    conn = Connection(Role.DIALER)
    conn.receive_data(struct.pack(">IB", 100, 0x42) + b"\x00" * 10)
    assert conn.next_event() is ev.NEED_DATA
    conn.receive_data(b"")
    with pytest.raises(RemoteProtocolError) as info:
        conn.next_event()
    assert info.value.code is ErrorCode.TRUNCATED


def test_many_frames_in_one_chunk_are_parsed_one_at_a_time() -> None:
    acceptor, _dialer = active_pair()
    haves = [ev.Have(index=i % 3) for i in range(5000)]
    acceptor.receive_data(b"".join(codec.encode(h) for h in haves))
    assert acceptor.next_event() == haves[0]  # one event per call, the rest stays buffered
    assert acceptor.buffered == 9 * 4999
    assert drain(acceptor) == haves[1:]
    assert acceptor.buffered == 0


# --- send-side rules ---------------------------------------------------------------------------


def _local_error(conn: Connection, event: ev.Event | ev.ConnectionClosed) -> LocalProtocolError:
    with pytest.raises(LocalProtocolError) as info:
        conn.send(event)
    assert conn.our_state is State.ERROR
    return info.value


@pytest.mark.parametrize(
    ("event", "code"),
    [
        (ev.Piece(index=0, offset=0, data=b"x"), ErrorCode.UNSOLICITED),
        (ev.Reject(index=0, offset=0, length=1), ErrorCode.UNSOLICITED),
        (ev.Have(index=99), ErrorCode.OUT_OF_RANGE),
        (ev.Request(index=0, offset=0, length=0), ErrorCode.OUT_OF_RANGE),
        (ev.MetainfoData(chunk=0, total_size=1, data=b"x"), ErrorCode.UNSOLICITED),
        (
            ev.Peers(entries=(ev.PeerEntry(peer_id=b"p" * 20, host="1.2.3.4", port=1),) * 51),
            ErrorCode.PEX_VIOLATION,
        ),
        (bitfield(), ErrorCode.UNEXPECTED_MESSAGE),
    ],
)
def test_send_rules(event: ev.Event, code: ErrorCode) -> None:
    acceptor, _ = active_pair()
    assert _local_error(acceptor, event).code is code
    assert acceptor.send(ev.Error(code=code)) == codec.encode(ev.Error(code=code))
    assert acceptor.our_state is State.CLOSED


def test_send_piece_header_rules() -> None:
    acceptor, _dialer = active_pair()
    with pytest.raises(LocalProtocolError) as info:
        acceptor.send_piece_header(0, 0, 10)
    assert info.value.code is ErrorCode.UNSOLICITED
    assert acceptor.our_state is State.ERROR
    fresh = Connection(Role.ACCEPTOR, SHARE_ID)
    with pytest.raises(LocalProtocolError) as info:
        fresh.send_piece_header(0, 0, 10)
    assert info.value.code is ErrorCode.UNEXPECTED_MESSAGE


def test_we_never_exceed_the_peers_request_limit() -> None:
    _, dialer = active_pair()
    for offset in range(MAX_PEER_REQUESTS):
        dialer.send(ev.Request(index=0, offset=offset, length=1))
    assert len(dialer.our_requests) == MAX_PEER_REQUESTS
    assert _local_error(dialer, ev.Request(index=1, offset=0, length=1)).code is (
        ErrorCode.TOO_MANY_REQUESTS
    )


def test_connection_closed_can_be_sent_to_mark_our_side() -> None:
    acceptor, _ = active_pair()
    assert acceptor.send(ev.ConnectionClosed()) == b""
    assert acceptor.our_state is State.CLOSED
    _local_error(acceptor, ev.Have(index=0))


def test_constructor_and_views() -> None:
    with pytest.raises(ValueError):
        Connection(Role.DIALER, b"short")
    acceptor, dialer = active_pair()
    assert acceptor.role is Role.ACCEPTOR and dialer.role is Role.DIALER
    assert dialer.their_handshake == handshake(b"a")
    assert dialer.our_handshake == handshake(b"d")
    assert acceptor.summary == META.summary
    assert Bits.from_bytes(META.piece_count, bitfield(True).bits).complete()
    dialer.send(ev.MetainfoRequest(chunk=0))
    acceptor.receive_data(dialer.send(ev.MetainfoRequest(chunk=1)))
    drain(acceptor)
    assert dialer.our_metainfo_requests == {0, 1}
    assert acceptor.their_metainfo_requests == {1}


def test_send_side_handshake_and_error_checks() -> None:
    conn = Connection(Role.ACCEPTOR, SHARE_ID)
    assert _local_error(conn, handshake(flags=2)).requirement == "EXT-1"  # not implemented
    conn = Connection(Role.ACCEPTOR, SHARE_ID)
    assert _local_error(conn, handshake(flags=0x80)).requirement == "EXT-1"  # reserved
    conn = Connection(Role.ACCEPTOR, SHARE_ID)
    assert _local_error(conn, handshake(share_id=b"\x02" * 32)).code is ErrorCode.SHARE_MISMATCH
    conn = Connection(Role.ACCEPTOR, SHARE_ID)
    assert _local_error(conn, ev.Error(code=999)).requirement == "ERR-1"
    assert _local_error(Connection(Role.ACCEPTOR), ev.Error(code=0)).requirement == "ERR-1"


def test_send_requests_matches_one_send_per_request() -> None:
    """The batch path is byte-identical to send(Request) and keeps the same books."""
    _, one = active_pair()
    _, batch = active_pair()
    triples = [(0, 0, 100), (1, 50, 10), (2, 0, 1)]
    wire = b"".join(one.send(ev.Request(index=i, offset=o, length=n)) for i, o, n in triples)
    assert batch.send_requests(triples) == wire
    assert batch.our_requests == one.our_requests == set(triples)
    assert batch.send_requests([]) == b""


@pytest.mark.parametrize(
    ("triples", "code"),
    [
        ([(0, 0, 0)], ErrorCode.OUT_OF_RANGE),
        ([(99, 0, 1)], ErrorCode.OUT_OF_RANGE),
        ([(0, PIECE, 1)], ErrorCode.OUT_OF_RANGE),
        ([(0, -1, 1)], ErrorCode.MALFORMED),
        ([(0, 0, 1), (0, 0, 1)], ErrorCode.UNEXPECTED_MESSAGE),
    ],
)
def test_send_requests_rules(triples: list[tuple[int, int, int]], code: ErrorCode) -> None:
    _, dialer = active_pair()
    with pytest.raises(LocalProtocolError) as info:
        dialer.send_requests(triples)
    assert info.value.code is code
    assert dialer.our_state is State.ERROR


def test_send_requests_checks_the_state_and_the_limit() -> None:
    fresh = Connection(Role.DIALER, SHARE_ID)
    with pytest.raises(LocalProtocolError) as info:
        fresh.send_requests([(0, 0, 1)])
    assert info.value.code is ErrorCode.UNEXPECTED_MESSAGE
    _, dialer = active_pair()
    dialer.send_requests([(0, offset, 1) for offset in range(MAX_PEER_REQUESTS)])
    with pytest.raises(LocalProtocolError) as info:
        dialer.send_requests([(1, 0, 1)])
    assert info.value.code is ErrorCode.TOO_MANY_REQUESTS
