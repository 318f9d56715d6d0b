"""Hostile input: any bytes, in any split, only ever produce ProtocolError subclasses, and the
receive buffer never holds more than one frame beyond what was fed since the last NEED_DATA."""

from __future__ import annotations

import itertools

from conn_helpers import SHARE_ID, bitfield, handshake
from core_strategies import wire_events
from hypothesis import given, settings
from hypothesis import strategies as st
from p2pshare_core import codec
from p2pshare_core import events as ev
from p2pshare_core.connection import Connection, Role, State
from p2pshare_core.constants import MAX_FRAME_LENGTH
from p2pshare_core.errors import RemoteProtocolError

LIMIT = MAX_FRAME_LENGTH + 4


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points) if b > a]


def _run(conn: Connection, chunks: list[bytes], eof: bool) -> None:
    """Feed chunks, draining after each; assert only RemoteProtocolError and bounded buffers."""
    try:
        for chunk in chunks:
            conn.receive_data(chunk)
            for _ in range(len(chunk) + 2):  # each event consumes >= 4 bytes; bounded
                event = conn.next_event()
                if event is ev.NEED_DATA:
                    assert conn.buffered <= LIMIT
                    break
                if isinstance(event, ev.ConnectionClosed):  # pragma: no cover - not before EOF
                    raise AssertionError("ConnectionClosed before EOF")
            else:  # pragma: no cover - would mean a parsing loop
                raise AssertionError("next_event kept returning events")
        if eof:
            conn.receive_data(b"")
            for _ in range(sum(map(len, chunks)) + 2):
                event = conn.next_event()
                if isinstance(event, ev.ConnectionClosed):
                    break
                assert event is not ev.NEED_DATA
    except RemoteProtocolError:
        assert conn.their_state is State.ERROR
        assert conn.buffered == 0


connections = st.builds(Connection, st.sampled_from(list(Role)), st.sampled_from([None, SHARE_ID]))


@settings(max_examples=300, deadline=None)
@given(connections, st.binary(max_size=600), st.lists(st.integers(0, 10_000)), st.booleans())
def test_random_bytes_any_split(conn: Connection, data: bytes, cuts: list[int], eof: bool) -> None:
    _run(conn, _split(data, cuts), eof)


PREFIX = codec.encode(handshake(b"p")) + codec.encode(bitfield(True))


@settings(max_examples=300, deadline=None)
@given(
    connections,
    st.lists(st.one_of(wire_events.map(codec.encode), st.binary(max_size=40)), max_size=12),
    st.lists(st.integers(0, 10_000)),
    st.booleans(),
)
def test_valid_prefix_then_mixed_frames_and_garbage(
    conn: Connection, parts: list[bytes], cuts: list[int], eof: bool
) -> None:
    """Reach ACTIVE first so the later checks (ranges, replies, PEX, metainfo) are exercised."""
    conn.send(handshake(b"q"))
    conn.send(bitfield())
    conn.send(ev.Request(index=0, offset=0, length=16))
    data = PREFIX + b"".join(parts)
    _run(conn, _split(data, cuts), eof)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(wire_events, max_size=8),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=4),
    st.lists(st.integers(0, 10_000)),
)
def test_mutated_valid_streams(
    events: list[ev.Event], flips: list[tuple[int, int]], cuts: list[int]
) -> None:
    data = bytearray(PREFIX + b"".join(codec.encode(e) for e in events))
    for where, value in flips:
        data[where % len(data)] = value
    _run(Connection(Role.DIALER), _split(bytes(data), cuts), True)


@settings(max_examples=8, deadline=None)
@given(st.integers(MAX_FRAME_LENGTH - 64, MAX_FRAME_LENGTH), st.integers(1000, 200_000))
def test_big_frames_stay_within_the_limit(length: int, step: int) -> None:
    conn = Connection(Role.DIALER)
    data = PREFIX + length.to_bytes(4, "big") + b"\x04" + b"\x00" * (length - 1)
    chunks = [data[i : i + step] for i in range(0, len(data), step)]
    _run(conn, chunks, True)
