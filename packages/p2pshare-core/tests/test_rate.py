"""RateMeter: sliding-window bytes/s with the clock passed in."""

from __future__ import annotations

import pytest
from p2pshare_core.rate import RateMeter


def test_rate_over_elapsed_time_while_young() -> None:
    meter = RateMeter(0.0, window=5.0, resolution=0.25)
    meter.add(1000, 0.5)
    meter.add(1000, 1.0)
    assert meter.rate(2.0) == pytest.approx(1000.0)
    assert meter.total == 2000
    assert meter.elapsed(2.0) == 2.0


def test_old_bytes_leave_the_window() -> None:
    meter = RateMeter(0.0, window=2.0, resolution=0.5)
    meter.add(4000, 0.1)
    assert meter.rate(1.0) == pytest.approx(4000.0)
    meter.add(1000, 3.0)
    assert meter.rate(3.0) == pytest.approx(500.0)  # only the second add, over the 2 s window
    assert meter.rate(10.0) == 0.0
    assert meter.total == 5000


def test_same_bucket_accumulates() -> None:
    meter = RateMeter(0.0, window=1.0, resolution=0.5)
    meter.add(10, 0.1)
    meter.add(20, 0.2)
    assert meter.rate(0.4) == pytest.approx(30 / 0.5)  # span never below one bucket


@pytest.mark.parametrize(("window", "resolution"), [(0.0, 0.1), (1.0, 0.0), (1.0, 2.0)])
def test_bad_parameters(window: float, resolution: float) -> None:
    with pytest.raises(ValueError):
        RateMeter(0.0, window=window, resolution=resolution)
