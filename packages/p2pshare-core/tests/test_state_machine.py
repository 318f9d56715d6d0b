"""h2-style state machine tests: every (state, event type) pair on both the send and the receive
side gives the table's next state, or a ProtocolError and State.ERROR; plus random walks."""

from __future__ import annotations

import pytest
from conn_helpers import META, SHARE_ID, bitfield, drain, handshake
from hypothesis import given, settings
from hypothesis import strategies as st
from p2pshare_core import codec
from p2pshare_core import events as ev
from p2pshare_core.capabilities import FRAME_IDS
from p2pshare_core.connection import Connection, Role, State
from p2pshare_core.errors import ErrorCode, LocalProtocolError, ProtocolError, RemoteProtocolError
from p2pshare_core.states import TRANSITIONS

ENCODED_META = META.encode()

# One semantically valid instance of every event type, given the setups below (the asker has
# request (0, 0, 10) and metainfo chunk 0 outstanding).
SAMPLES: dict[type, ev.Event | ev.ConnectionClosed] = {
    ev.Handshake: handshake(b"z"),
    ev.Bitfield: bitfield(),
    ev.Have: ev.Have(index=0),
    ev.Request: ev.Request(index=2, offset=0, length=10),
    ev.Piece: ev.Piece(index=0, offset=0, data=b"x" * 10),
    ev.Reject: ev.Reject(index=0, offset=0, length=10),
    ev.Cancel: ev.Cancel(index=0, offset=0, length=10),
    ev.Choke: ev.Choke(),
    ev.Unchoke: ev.Unchoke(),
    ev.Interested: ev.Interested(),
    ev.NotInterested: ev.NotInterested(),
    ev.Peers: ev.Peers(entries=()),
    ev.MetainfoRequest: ev.MetainfoRequest(chunk=1),
    ev.MetainfoData: ev.MetainfoData(chunk=0, total_size=len(ENCODED_META), data=ENCODED_META),
    ev.MetainfoReject: ev.MetainfoReject(chunk=0),
    ev.Error: ev.Error(code=ErrorCode.SHUTDOWN, reason="bye"),
    ev.KeepAlive: ev.KeepAlive(),
    ev.ConnectionClosed: ev.ConnectionClosed(),
}
KINDS = list(SAMPLES)
STATES = list(State)


# Extension frames exist only where their extension is in force: test_span.py walks them.
EXTENSION_KINDS = {kind for kind, mid in codec.MESSAGE_IDS.items() if mid in FRAME_IDS}


def test_every_message_type_is_covered() -> None:
    assert set(codec.MESSAGE_IDS) - EXTENSION_KINDS | {ev.KeepAlive, ev.ConnectionClosed} == set(
        KINDS
    )
    for row in TRANSITIONS.values():
        assert set(row) - EXTENSION_KINDS <= set(KINDS)
    assert set(TRANSITIONS) == set(State)


# What one side sends to reach each state (ERROR: a have before the handshake).
SCRIPTS: dict[State, list[ev.Event]] = {
    State.HANDSHAKE: [],
    State.BITFIELD: [handshake(b"d")],
    State.ACTIVE: [handshake(b"d"), bitfield()],
    State.CLOSED: [ev.Error(code=16)],
    State.ERROR: [ev.Have(index=0)],
}


def receive_side_in(state: State) -> Connection:
    """A connection whose *their* state is `state`; we asked for (0,0,10) and chunk 0."""
    conn = Connection(Role.ACCEPTOR, SHARE_ID)
    conn.send(handshake(b"a"))
    conn.send(bitfield(True))
    conn.send(ev.Request(index=0, offset=0, length=10))
    conn.send(ev.MetainfoRequest(chunk=0))
    script = SCRIPTS[state]
    if script:  # (b"" would mean EOF)
        conn.receive_data(b"".join(codec.encode(e) for e in script))
    try:
        drain(conn)
    except RemoteProtocolError:
        assert state is State.ERROR
    assert conn.their_state is state
    return conn


def send_side_in(state: State) -> Connection:
    """A connection whose *our* state is `state`; the peer asked for (0,0,10) and chunk 0."""
    conn = Connection(Role.DIALER, SHARE_ID)
    peer: list[ev.Event] = [
        handshake(b"a"),
        bitfield(True),
        ev.Request(index=0, offset=0, length=10),
        ev.MetainfoRequest(chunk=0),
    ]
    conn.receive_data(b"".join(codec.encode(e) for e in peer))
    drain(conn)
    script = SCRIPTS[state]
    for event in script:
        try:
            conn.send(event)
        except LocalProtocolError:
            assert state is State.ERROR
    assert conn.our_state is state
    return conn


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
@pytest.mark.parametrize("state", STATES, ids=lambda s: s.name)
def test_receive_side_follows_the_table(state: State, kind: type) -> None:
    conn = receive_side_in(state)
    event = SAMPLES[kind]
    conn.receive_data(b"" if kind is ev.ConnectionClosed else codec.encode(event))  # type: ignore[arg-type]
    expected = TRANSITIONS[state].get(kind)
    if state is State.CLOSED:  # STATE-4: after their error message everything is ignored
        result = conn.next_event()
        assert result == (ev.ConnectionClosed() if kind is ev.ConnectionClosed else ev.NEED_DATA)
        assert conn.their_state is State.CLOSED
    elif state is State.ERROR or expected is None:  # STATE-6 / STATE-2
        with pytest.raises(RemoteProtocolError) as info:
            conn.next_event()
        assert conn.their_state is State.ERROR
        if state is not State.ERROR:
            assert info.value.code is ErrorCode.UNEXPECTED_MESSAGE
    else:
        assert conn.next_event() == event
        assert conn.their_state is expected


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
@pytest.mark.parametrize("state", STATES, ids=lambda s: s.name)
def test_send_side_follows_the_table(state: State, kind: type) -> None:
    conn = send_side_in(state)
    event = SAMPLES[kind]
    expected = TRANSITIONS[state].get(kind)
    if expected is None:
        with pytest.raises(LocalProtocolError) as info:
            conn.send(event)
        assert info.value.code is ErrorCode.UNEXPECTED_MESSAGE
        assert conn.our_state is State.ERROR
    else:
        wire = conn.send(event)
        assert conn.our_state is expected
        assert wire == (b"" if kind is ev.ConnectionClosed else codec.encode(event))  # type: ignore[arg-type]


# --- random walks -------------------------------------------------------------------------------

walk_events = st.one_of(
    st.sampled_from(list(SAMPLES.values())),
    st.builds(ev.Request, index=st.integers(0, 3), offset=st.integers(0, 3), length=st.just(10)),
    st.builds(ev.Reject, index=st.integers(0, 3), offset=st.integers(0, 3), length=st.just(10)),
    st.builds(ev.Piece, index=st.integers(0, 3), offset=st.integers(0, 3), data=st.just(b"y" * 10)),
    st.builds(ev.MetainfoRequest, chunk=st.integers(0, 2)),
    st.builds(ev.MetainfoReject, chunk=st.integers(0, 2)),
)


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from([None, SHARE_ID]),
    st.lists(st.tuples(st.booleans(), walk_events), max_size=25),
)
def test_random_walks_keep_the_table_invariant(
    share_id: bytes | None, steps: list[tuple[bool, ev.Event | ev.ConnectionClosed]]
) -> None:
    """Whatever we send or receive: the new state is the table's, or a ProtocolError was raised
    and that side is in ERROR (and stays there, except that we may still send an error)."""
    conn = Connection(Role.DIALER, share_id)
    for incoming, event in steps:
        kind = type(event)
        if incoming:
            if conn.their_state is State.CLOSED and kind is ev.ConnectionClosed:
                continue  # EOF can only happen once
            before = conn.their_state
            conn.receive_data(b"" if kind is ev.ConnectionClosed else codec.encode(event))  # type: ignore[arg-type]
            try:
                result = conn.next_event()
            except ProtocolError as err:
                assert isinstance(err, RemoteProtocolError)
                assert conn.their_state is State.ERROR
                break
            if before is State.CLOSED:
                assert conn.their_state is State.CLOSED
            else:
                assert result == event
                assert conn.their_state is TRANSITIONS[before][kind]
            if kind is ev.ConnectionClosed:
                break
        else:
            before = conn.our_state
            try:
                conn.send(event)
            except ProtocolError as err:
                assert isinstance(err, LocalProtocolError)
                assert conn.our_state is State.ERROR
                continue
            assert conn.our_state is TRANSITIONS[before][kind]
