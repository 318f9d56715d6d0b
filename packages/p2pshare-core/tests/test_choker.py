"""Choker: BEP 3 tit-for-tat slots plus one rotating optimistic unchoke."""

from __future__ import annotations

import random

from p2pshare_core.choker import ChokeCandidate, Choker


def _cands(rates: list[tuple[float, float]], interested: bool = True) -> list[ChokeCandidate]:
    return [ChokeCandidate(i, interested, down, up) for i, (down, up) in enumerate(rates)]


def test_leecher_ranks_by_download_rate() -> None:
    choker = Choker(2, random.Random(1))
    cands = _cands([(10, 0), (50, 0), (30, 0), (5, 0)])
    chosen = choker.rechoke(cands, seeding=False, rotate_optimistic=True)
    assert {1, 2} <= chosen
    assert len(chosen) == 3  # two regular slots + one optimistic from the rest
    assert choker.optimistic in {0, 3}
    assert choker.optimistic in chosen


def test_seeder_ranks_by_upload_rate() -> None:
    choker = Choker(1, random.Random(1))
    cands = _cands([(100, 1), (0, 9), (50, 2)])
    chosen = choker.rechoke(cands, seeding=True, rotate_optimistic=False)
    assert 1 in chosen


def test_uninterested_peers_get_nothing() -> None:
    choker = Choker(4, random.Random(1))
    chosen = choker.rechoke(_cands([(1, 1), (2, 2)], False), seeding=False, rotate_optimistic=True)
    assert chosen == set()
    assert choker.optimistic is None


def test_optimistic_kept_until_rotation() -> None:
    choker = Choker(1, random.Random(7))
    cands = _cands([(100, 0), (1, 0), (1, 0), (1, 0), (1, 0)])
    choker.rechoke(cands, seeding=False, rotate_optimistic=True)
    first = choker.optimistic
    assert first in {1, 2, 3, 4}
    for _ in range(5):
        assert first in choker.rechoke(cands, seeding=False, rotate_optimistic=False)
    seen = set()
    for _ in range(40):
        choker.rechoke(cands, seeding=False, rotate_optimistic=True)
        seen.add(choker.optimistic)
    assert len(seen) > 1  # rotation really rotates


def test_optimistic_replaced_when_it_becomes_regular_or_leaves() -> None:
    choker = Choker(1, random.Random(3))
    cands = _cands([(100, 0), (1, 0), (1, 0)])
    choker.rechoke(cands, seeding=False, rotate_optimistic=True)
    opt = choker.optimistic
    assert opt is not None
    # the optimistic peer becomes the best uploader: it takes the regular slot
    boosted = [
        ChokeCandidate(c.key, True, 1000 if c.key == opt else c.download_rate, 0) for c in cands
    ]
    chosen = choker.rechoke(boosted, seeding=False, rotate_optimistic=False)
    assert opt in chosen and choker.optimistic != opt
    replacement = choker.optimistic
    assert replacement is not None
    choker.forget(replacement)
    assert choker.optimistic is None
    choker.forget(12345)  # unknown: harmless


def test_new_peers_take_free_slots() -> None:
    choker = Choker(2)
    assert choker.may_unchoke_new(0)
    assert choker.may_unchoke_new(1)
    assert not choker.may_unchoke_new(2)


def test_leecher_prefers_peers_that_gave_back_among_equal_rates() -> None:
    """Among peers sending us nothing right now (the usual case for most), the regular slots go
    first to those that took the least from us net of what they gave: a free rider, which
    only takes, sinks with every block it gets (libtorrent breaks ties the same way)."""
    choker = Choker(2, random.Random(1))
    cands = [
        ChokeCandidate(0, True, 0.0, 0.0, debt=3_000_000),  # took 3 MB, gave nothing
        ChokeCandidate(1, True, 0.0, 0.0, debt=-500_000),  # gave more than it took
        ChokeCandidate(2, True, 0.0, 0.0, debt=0),  # new
        ChokeCandidate(3, True, 10.0, 0.0, debt=9_000_000),  # uploads to us now: rate first
    ]
    for _ in range(20):
        chosen = choker.rechoke(cands, seeding=False, rotate_optimistic=True)
        assert {3, 1} <= chosen and choker.optimistic in {0, 2}


def test_no_upload_slot_means_no_optimistic_unchoke() -> None:
    """upload_slots = 0 is a node that uploads nothing: one optimistic slot would still let a
    peer queue requests at it that are never served (the simulator's free riders, #19)."""
    choker = Choker(0, random.Random(1))
    assert choker.rechoke(_cands([(5, 5), (1, 1)]), seeding=False, rotate_optimistic=True) == set()
    assert choker.optimistic is None
