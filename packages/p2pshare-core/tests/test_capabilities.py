"""Capability bits (spec 5.1, EXT): offers, unknown bits, what is in force."""

from __future__ import annotations

import pytest
from conn_helpers import SHARE_ID, handshake
from hypothesis import given
from hypothesis import strategies as st
from p2pshare_core.capabilities import IMPLEMENTED, Capability, check_offer, in_force
from p2pshare_core.connection import Connection, Role, State


def test_only_implemented_bits_may_be_offered() -> None:
    check_offer(int(IMPLEMENTED))
    for bad in (0x02, 0x40, 0x80, 0x100, -1):
        with pytest.raises(ValueError):
            check_offer(bad)


@given(st.integers(0, 255), st.integers(0, 255))
def test_in_force_is_both_offers_and_known(ours: int, theirs: int) -> None:
    force = in_force(ours, theirs)
    assert int(force) & ~(ours & theirs) == 0
    assert int(force) & ~int(IMPLEMENTED) == 0
    assert Capability.EXTENDED not in force


def test_unknown_bits_from_a_peer_are_ignored_and_remembered() -> None:
    """[EXT-2] A peer offering every bit: the handshake is accepted, nothing is in force."""
    conn = Connection(Role.DIALER, SHARE_ID)
    conn.send(handshake())
    conn.receive_data(conn_bytes := _frame(handshake(flags=0xFF)))
    assert conn_bytes and conn.next_event() is not None
    assert conn.their_state is State.BITFIELD
    assert conn.peer_capabilities == 0xFF and conn.our_capabilities == 0
    assert conn.capabilities_in_force == Capability(0)


def _frame(event: object) -> bytes:
    from p2pshare_core import codec

    return codec.encode(event)  # type: ignore[arg-type]
