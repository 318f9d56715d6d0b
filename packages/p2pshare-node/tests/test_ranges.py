"""Piece ranges in the resume state: compact, round-trip exactly, reject what is out of range."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from p2pshare_node.ranges import format_ranges, parse_ranges


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
