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
