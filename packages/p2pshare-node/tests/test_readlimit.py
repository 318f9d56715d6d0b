"""The download-rate token bucket: how long to stop reading."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from p2pshare_node.readlimit import BURST_SECONDS, ReadLimiter


def test_a_burst_goes_through_then_reading_pauses_for_the_debt() -> None:
    limiter = ReadLimiter(1000, now=0.0)
    assert limiter.spend(int(1000 * BURST_SECONDS), 0.0) == 0.0
    assert limiter.spend(1000, 0.0) == pytest.approx(1.0)  # 1000 bytes over: 1 s at 1000 B/s
    assert limiter.spend(0, 1.0) == 0.0  # repaid


@given(st.lists(st.tuples(st.integers(1, 1 << 20), st.floats(0, 2)), max_size=50))
def test_pausing_as_told_keeps_the_average_at_the_rate(reads: list[tuple[int, float]]) -> None:
    """Whatever arrives, a reader that pauses as told takes in at most rate x time + burst."""
    rate = 100_000
    limiter = ReadLimiter(rate, now=0.0)
    now = 0.0
    total = 0
    for size, gap in reads:
        now += gap
        total += size
        now += limiter.spend(size, now)
    assert total <= rate * now + rate * BURST_SECONDS + 1e-6 * total


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError):
        ReadLimiter(0, now=0.0)
