"""Super-seeding [SEED]: an initial seeder's first copy of the file is made of distinct pieces.

A seeder that announces every piece is asked for whatever its downloaders pick, and at the start
of a swarm they pick blind: nobody has anything yet, so rarest-first cannot tell pieces apart
and several downloaders fetch the same pieces from the seeder at once. The swarm simulator (#19)
measured it: a seeder that left after uploading one copy (50 downloaders, 64 pieces) had sent
only 30 distinct pieces, and the swarm could never complete.

BitTorrent's answer is super-seeding (BEP 16): the seeder announces (bitfield, then have) only
the pieces it offers to each peer, so each downloader asks it for pieces nobody else is
fetching from it. This is that policy, sans-IO:

- a piece is in the *pool* until it is offered; *offered* to one unchoked peer, at most
  `OFFERS` at a time per peer [SEED-3]; *written* once every byte of it went to that peer; *seen*
  once a connected peer announces it (the copy is in the swarm).
- a peer gets a new offer as soon as one of its offers is written or seen, so its pipeline
  never runs dry while the pool has pieces.
- the offers of a peer that is choked or leaves go back to the pool unless written; the pieces
  written to a peer that leaves before announcing them go back too (that copy is lost).
- once every piece has been seen the first copy is in the swarm: super-seeding ends and the
  seeder announces everything, as any seeder does [SEED-4].

The swarm owns the connections; this object only answers "what to announce to whom" and "was
that announced to that peer" (a request for a piece not announced to the requester is
rejected [SEED-2]).
"""

from __future__ import annotations

import random

__all__ = ["OFFERS", "SuperSeeder"]

OFFERS = 2
"""Pieces offered to one peer at a time [SEED-3]: two, so that while one is on the wire the next
is already requested (one would leave the connection idle a round trip per piece)."""

_POOL, _OFFERED, _WRITTEN, _SEEN = 0, 1, 2, 3


class SuperSeeder:
    """The announcements of a super-seeding node for one share of `piece_count` pieces."""

    def __init__(self, piece_count: int, piece_length: list[int], rng: random.Random) -> None:
        self.piece_count = piece_count
        self._length = piece_length
        self._state = bytearray(piece_count)
        self._seen = 0
        pool = list(range(piece_count))
        rng.shuffle(pool)  # every pooled piece is unseen: nothing to rank them by but chance
        self._pool = pool  # a stack; pieces that left the pool are skipped when popped
        self._announced: dict[int, bytearray] = {}  # conn -> pieces announced to it
        self._offers: dict[int, dict[int, int]] = {}  # conn -> offered piece -> bytes written
        self._written: dict[int, set[int]] = {}  # conn -> pieces written to it, not yet seen
        self._holder: dict[int, int] = {}  # offered or written piece -> its conn

    @property
    def done(self) -> bool:
        """Every piece is in the swarm: announce everything from now on [SEED-4]."""
        return self._seen == self.piece_count

    def announced(self, conn: int, index: int) -> bool:
        """Was piece `index` announced to this peer (so must be served, MSG-20)?"""
        bits = self._announced.get(conn)
        return bits is not None and bool(bits[index])

    def add_peer(self, conn: int) -> None:
        """A connection starts: nothing announced to it yet (its bitfield is empty) [SEED-1]."""
        self._announced.setdefault(conn, bytearray(self.piece_count))
        self._offers.setdefault(conn, {})
        self._written.setdefault(conn, set())

    def peer_has(self, index: int) -> int | None:
        """A connected peer announced piece `index`: that copy is in the swarm. Returns the
        peer it was offered to, which may now get another offer (None: nobody)."""
        if self._state[index] == _SEEN:
            return None
        self._state[index] = _SEEN
        self._seen += 1
        holder = self._holder.pop(index, None)
        if holder is not None:
            self._offers[holder].pop(index, None)
            self._written[holder].discard(index)
        return holder

    def offer(self, conn: int) -> list[int]:
        """Pieces to announce to this (unchoked) peer now, taking its offers up to OFFERS."""
        offers = self._offers[conn]
        bits = self._announced[conn]
        out: list[int] = []
        pool, state = self._pool, self._state
        while len(offers) < OFFERS and pool:
            index = pool.pop()
            if state[index] != _POOL:
                continue  # seen since it was pooled
            if bits[index]:  # announced to it before (an offer it was choked with): serve it
                pass
            else:
                bits[index] = 1
                out.append(index)
            state[index] = _OFFERED
            offers[index] = 0
            self._holder[index] = conn
        return out

    def sent(self, conn: int, index: int, length: int) -> bool:
        """`length` bytes of piece `index` went to this peer; True when an offer was written
        in full (the peer may then get a new one)."""
        offers = self._offers.get(conn)
        if offers is None or index not in offers:
            return False
        done = offers[index] + length
        if done < self._length[index]:
            offers[index] = done
            return False
        del offers[index]
        self._state[index] = _WRITTEN
        self._written[conn].add(index)
        return True

    def choked(self, conn: int) -> None:
        """We choked the peer: what it was offered and has not received goes back to the pool."""
        for index in self._offers.get(conn, {}):
            self._repool(index)
        if conn in self._offers:
            self._offers[conn] = {}

    def forget(self, conn: int) -> None:
        """The connection closed: its unwritten offers and its unannounced copies are lost."""
        self.choked(conn)
        for index in self._written.pop(conn, set()):
            self._repool(index)
        self._offers.pop(conn, None)
        self._announced.pop(conn, None)

    def _repool(self, index: int) -> None:
        self._holder.pop(index, None)
        if self._state[index] != _SEEN:
            self._state[index] = _POOL
            self._pool.append(index)  # (on top: offered again first)
