"""Piece ranges in the resume state: compact, round-trip exactly, reject what is out of range."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from p2pshare_node.ranges import PieceFlags, format_ranges, parse_ranges


def test_runs_are_collapsed() -> None:
    assert format_ranges([17, *range(16)]) == "0-15,17"
    assert format_ranges([]) == ""
    assert format_ranges([3]) == "3"


@given(st.sets(st.integers(min_value=0, max_value=500)))
def test_round_trip(indices: set[int]) -> None:
    assert parse_ranges(format_ranges(indices), 501) == indices


@pytest.mark.parametrize("text", ["0-", "-3", "a", "5-2", "0-10", "1,,2", "3-4-5", " 1x"])
def test_rejects_garbage_and_out_of_range(text: str) -> None:
    with pytest.raises(ValueError):
        parse_ranges(text, 10)


def test_piece_flags_behave_like_a_set_of_indices() -> None:
    flags = PieceFlags([5, 1, 5])
    assert len(flags) == 2 and list(flags) == [1, 5]
    assert 5 in flags and 0 not in flags and 99 not in flags and -1 not in flags
    assert "5" not in flags
    flags.add(0)
    flags.add(200)
    assert list(flags) == [0, 1, 5, 200] and len(flags) == 4
    assert format_ranges(flags) == "0-1,5,200"
    with pytest.raises(ValueError):
        flags.add(-1)
    full = PieceFlags.full(3)
    assert list(full) == [0, 1, 2] and len(full) == 3
    starts = (0, 1, 2, 5, 6, 199, 200, 201, 500)
    expected = (2, 2, 2, 6, 6, 199, 201, 201, 500)  # (flags are 0, 1, 5, 200)
    assert tuple(flags.first_missing(i) for i in starts) == expected
    assert full.first_missing() == 3 and PieceFlags().first_missing(7) == 7
    assert list(PieceFlags.full(0)) == []


def test_piece_flags_snapshot_and_ranges() -> None:
    flags = PieceFlags([3, 4, 9])
    snapshot = flags.copy()
    flags.add(5)
    assert list(snapshot) == [3, 4, 9] and len(snapshot) == 3
    assert format_ranges(flags) == "3-5,9" == format_ranges({9, 5, 4, 3})
