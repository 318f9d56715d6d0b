"""Connection.get_buffer/buffer_updated (reading straight into the receive buffer) parse exactly
what receive_data does: the same events and errors for any stream, split and read size."""

from __future__ import annotations

import itertools

import pytest
from conn_helpers import SHARE_ID, bitfield, handshake
from core_strategies import wire_events
from hypothesis import given, settings
from hypothesis import strategies as st
from p2pshare_core import codec
from p2pshare_core import events as ev
from p2pshare_core.connection import Connection, Role
from p2pshare_core.constants import MAX_FRAME_LENGTH
from p2pshare_core.errors import RemoteProtocolError

PREFIX = codec.encode(handshake(b"p")) + codec.encode(bitfield(True))
Outcome = list[object]


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points) if b > a]


def _drain(conn: Connection, out: Outcome) -> bool:
    """Parse what is buffered into `out`; False once the connection failed."""
    while True:
        try:
            event = conn.next_event()
        except RemoteProtocolError as err:
            out.append(err.code)
            return False
        if event is ev.NEED_DATA:
            return True
        out.append(event)
        if isinstance(event, ev.ConnectionClosed):
            return False


def _copied(conn: Connection, chunks: list[bytes], eof: bool) -> Outcome:
    out: Outcome = []
    for chunk in chunks:
        conn.receive_data(chunk)
        if not _drain(conn, out):
            return out
    if eof:
        conn.receive_data(b"")
        _drain(conn, out)
    return out


def _read_into(conn: Connection, chunks: list[bytes], eof: bool, hints: list[int]) -> Outcome:
    """As a BufferedProtocol transport does: ask for room, fill a prefix of it, report it, and
    parse while the view is still alive (asyncio holds it until buffer_updated returns)."""
    out: Outcome = []
    for chunk, hint in zip(chunks, itertools.cycle(hints or [1])):
        rest = memoryview(chunk)
        while rest:
            view = conn.get_buffer(hint)
            assert len(view) >= hint
            n = min(len(view), len(rest))
            view[:n] = rest[:n]
            rest = rest[n:]
            conn.buffer_updated(n)
            ok = _drain(conn, out)
            view.release()
            if not ok:
                return out
    if eof:
        conn.receive_data(b"")
        _drain(conn, out)
    return out


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(list(Role)),
    st.sampled_from([None, SHARE_ID]),
    st.lists(st.one_of(wire_events.map(codec.encode), st.binary(max_size=40)), max_size=12),
    st.lists(st.integers(0, 10_000)),
    st.lists(st.integers(1, 3000), max_size=5),
    st.booleans(),
)
def test_same_events_as_receive_data(
    role: Role,
    share_id: bytes | None,
    parts: list[bytes],
    cuts: list[int],
    hints: list[int],
    eof: bool,
) -> None:
    data = PREFIX + b"".join(parts)
    chunks = _split(data, cuts)
    want = _copied(Connection(role, share_id), chunks, eof)
    assert _read_into(Connection(role, share_id), chunks, eof, hints) == want


@settings(max_examples=100, deadline=None)
@given(
    st.lists(wire_events, max_size=10),
    st.lists(st.integers(0, 10_000)),
    st.lists(st.booleans(), min_size=1),
    st.integers(1, 2000),
)
def test_the_two_ways_mix_on_one_connection(
    events: list[ev.Event], cuts: list[int], copied: list[bool], hint: int
) -> None:
    data = PREFIX + b"".join(codec.encode(e) for e in events)
    chunks = _split(data, cuts)
    want = _copied(Connection(Role.DIALER), chunks, True)
    conn = Connection(Role.DIALER)
    got: Outcome = []
    for chunk, by_copy in zip(chunks, itertools.cycle(copied)):
        if by_copy:
            conn.receive_data(chunk)
            ok = _drain(conn, got)
        else:
            got_more = _read_into(conn, [chunk], False, [hint])
            got += got_more
            ok = not got_more or not isinstance(got_more[-1], (int, ev.ConnectionClosed))
        if not ok:
            break
    else:
        conn.receive_data(b"")
        _drain(conn, got)
    assert got == want


@settings(max_examples=8, deadline=None)
@given(st.integers(MAX_FRAME_LENGTH - 64, MAX_FRAME_LENGTH), st.integers(1000, 200_000))
def test_big_frames_need_at_most_three_times_frame_or_read(length: int, read: int) -> None:
    """The room grows to hold one whole frame; a huge frame in small reads is not copied
    once per read (the buffer grows geometrically), and it stays bounded."""
    conn = Connection(Role.DIALER)
    data = PREFIX + length.to_bytes(4, "big") + b"\x04" + b"\x00" * (length - 1)
    out = _read_into(conn, [data], True, [read])
    assert out[:2] == [handshake(b"p"), bitfield(True)]
    assert len(conn.get_buffer(read)) <= 3 * max(length + 4, read)


def test_a_view_left_alive_never_blocks_the_buffer() -> None:
    """Compaction and growth never resize a buffer a reader still has a view of."""
    conn = Connection(Role.DIALER)
    frames = PREFIX + b"".join(codec.encode(ev.Have(index=i % 3)) for i in range(100))
    views = []
    got: Outcome = []
    for i in range(0, len(frames), 7):
        view = conn.get_buffer(16)
        piece = frames[i : i + 7]
        view[: len(piece)] = piece
        conn.buffer_updated(len(piece))
        views.append(view)  # never released
        _drain(conn, got)
    assert got == [handshake(b"p"), bitfield(True)] + [ev.Have(index=i % 3) for i in range(100)]


def test_misuse_is_refused() -> None:
    conn = Connection(Role.DIALER)
    with pytest.raises(ValueError):
        conn.get_buffer(0)
    room = len(conn.get_buffer(10))
    with pytest.raises(ValueError):
        conn.buffer_updated(room + 1)
    with pytest.raises(ValueError):
        conn.buffer_updated(0)
    conn.receive_data(b"")
    with pytest.raises(RuntimeError):
        conn.buffer_updated(1)


def test_receive_data_keeps_no_large_buffer_between_frames() -> None:
    """A connection fed by receive_data (the simulator's tens of thousands of them, #19) holds
    no frame's worth of room once that frame is parsed; one that is read into keeps its room
    for the next read. (The large frame: 256 KiB in an unassigned id, skipped [FRAME-5].)"""
    large = (256 * 1024 + 1).to_bytes(4, "big") + b"\x7f" + bytes(256 * 1024)
    stream = PREFIX + large + codec.encode(ev.Have(index=1))
    copied = Connection(Role.DIALER)
    copied.receive_data(stream)
    got: Outcome = []
    assert _drain(copied, got) and got[-1] == ev.Have(index=1)
    assert len(copied.get_buffer(1)) < 64 * 1024
    reader = Connection(Role.DIALER)
    assert _read_into(reader, [stream], False, [len(stream)])[-1] == ev.Have(index=1)
    assert len(reader.get_buffer(1)) >= 256 * 1024
