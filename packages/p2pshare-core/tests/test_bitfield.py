"""Bitfield behaves like a set of indices with the wire bit order."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from p2pshare_core.bitfield import Bitfield


@settings(max_examples=100, deadline=None)
@given(
    st.integers(0, 70).flatmap(
        lambda n: st.tuples(st.just(n), st.sets(st.integers(0, max(n - 1, 0))))
    )
)
def test_bitfield_matches_a_set(case: tuple[int, set[int]]) -> None:
    count, members = case
    members = {m for m in members if m < count}
    field = Bitfield(count)
    for i in members:
        field.set(i)
        field.set(i)  # idempotent
    assert list(field) == sorted(members)
    assert field.count_set() == len(members)
    assert field.missing() == [i for i in range(count) if i not in members]
    assert field.complete() == (len(members) == count)
    parsed = Bitfield.from_bytes(count, field.to_bytes())
    assert parsed == field and parsed.count_set() == len(members)
    for i in members:
        field.clear(i)
        field.clear(i)
    assert field.count_set() == 0 and field == Bitfield(count)
    assert Bitfield.full(count).complete()
    assert (
        Bitfield.full(count).to_bytes()
        == Bitfield.from_bytes(count, Bitfield.full(count).to_bytes()).to_bytes()
    )


def test_wire_bit_order_and_errors() -> None:
    field = Bitfield(10)
    field.set(0)
    field.set(9)
    assert field.to_bytes() == b"\x80\x40"
    assert 9 in field and 1 not in field and 10 not in field and "x" not in field
    assert len(field) == field.count == 10
    assert repr(field) == "Bitfield(10, 2 set)"
    copy = field.copy()
    copy.clear(0)
    assert field.has(0) and not copy.has(0)
    assert Bitfield.full(10).to_bytes() == b"\xff\xc0"
    assert Bitfield.full(16).to_bytes() == b"\xff\xff"
    with pytest.raises(ValueError, match="spare bits"):
        Bitfield.from_bytes(10, b"\x00\x01")
    with pytest.raises(ValueError, match="bytes"):
        Bitfield.from_bytes(10, b"\x00")
    with pytest.raises(ValueError):
        Bitfield(-1)
    with pytest.raises(IndexError):
        field.has(10)
    assert field != "x"
