"""Who may download from us: BEP 3 choking (tit-for-tat plus an optimistic unchoke).

Every rechoke interval the `slots` best interested peers are unchoked: a leecher ranks peers by
how fast they upload to it (reciprocation), a seeder by how fast it uploads to them (spread the
file fastest). One more interested peer is unchoked optimistically, rotated every optimistic
interval, so newcomers with nothing to offer yet can bootstrap. Between rechokes a new peer is
unchoked at once while a slot is free, so transfers start without waiting up to 10 s.

A leecher breaks ties between equal rates (most peers send it nothing at any one moment) by
debt: bytes it sent the peer minus bytes the peer sent it, smallest first, as libtorrent does.
Without it the swarm simulator's free riders (#19), which only take, were as likely as any
contributor to fill a leecher's spare regular slots; with it they sink with every block they
get, and are left to the optimistic unchoke once enough others are interested. A node with no
upload slot at all makes no optimistic unchoke either: it does not upload.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["ChokeCandidate", "Choker"]


@dataclass(frozen=True, slots=True)
class ChokeCandidate:
    """One connected peer as the choker sees it."""

    key: int
    interested: bool
    download_rate: float  # bytes/s it sends us
    upload_rate: float  # bytes/s we send it
    debt: int = 0  # bytes we sent it minus bytes it sent us, on this connection


class Choker:
    """Decides the unchoked set; the swarm turns differences into choke/unchoke messages."""

    def __init__(self, slots: int, rng: random.Random | None = None) -> None:
        self.slots = slots
        self._rng = rng if rng is not None else random.Random()
        self.optimistic: int | None = None

    def rechoke(
        self, candidates: Sequence[ChokeCandidate], *, seeding: bool, rotate_optimistic: bool
    ) -> set[int]:
        """The keys to have unchoked from now on (everyone else gets choked)."""
        interested = [c for c in candidates if c.interested]
        self._rng.shuffle(interested)  # random order among equal rates
        if seeding:
            interested.sort(key=lambda c: c.upload_rate, reverse=True)
        else:
            interested.sort(key=lambda c: (-c.download_rate, c.debt))
        chosen = {c.key for c in interested[: self.slots]}
        rest = [c.key for c in interested[self.slots :]]
        if self.slots == 0:
            rest = []  # a node with no upload slot uploads nothing: no optimistic unchoke either
        if self.optimistic not in rest or rotate_optimistic:
            self.optimistic = self._rng.choice(rest) if rest else None
        if self.optimistic is not None:
            chosen.add(self.optimistic)
        return chosen

    def may_unchoke_new(self, unchoked_count: int) -> bool:
        """Between rechokes: a new peer gets a regular slot at once while one is free."""
        return unchoked_count < self.slots

    def forget(self, key: int) -> None:
        if self.optimistic == key:
            self.optimistic = None
