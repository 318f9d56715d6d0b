"""Picker: availability, random-first then rarest-first, pipelining bookkeeping, end-game."""

from __future__ import annotations

import random
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from p2pshare_core.constants import MAX_BLOCK_LENGTH, MAX_PEER_REQUESTS
from p2pshare_core.picker import Picker, expand_bits, pack_bits

K = 16384


def _bits(n: int, have: set[int]) -> bytes:
    return pack_bits(bytes(1 if i in have else 0 for i in range(n)))


def _picker(pieces: int = 8, piece_size: int = K, last: int | None = None, **kw: object) -> Picker:
    size = pieces * piece_size if last is None else (pieces - 1) * piece_size + last
    return Picker(file_size=size, piece_size=piece_size, rng=random.Random(1), **kw)  # type: ignore[arg-type]


@given(st.lists(st.booleans(), max_size=40))
def test_bits_round_trip(flags: list[bool]) -> None:
    raw = bytes(flags)
    assert expand_bits(pack_bits(raw), len(raw)) == bytearray(raw)


def test_geometry_whole_pieces_and_blocks() -> None:
    small = _picker(3, K, last=100)
    assert small.block_size == K
    assert small.blocks(2) == [(2, 0, 100)]
    big = _picker(2, 1 << 20, last=(1 << 20) - 5)
    assert big.block_size == MAX_BLOCK_LENGTH
    assert big.blocks(1)[-1] == (1, 3 * MAX_BLOCK_LENGTH, MAX_BLOCK_LENGTH - 5)
    assert len(big.blocks(0)) == 4
    with pytest.raises(ValueError):
        _picker(block_size=0)


def test_never_requests_what_the_peer_lacks_or_we_have() -> None:
    p = Picker(file_size=8 * K, piece_size=K, have=_bits(8, {0, 1}), rng=random.Random(3))
    p.add_peer(1, _bits(8, {1, 2, 3}))
    got = p.pick(1, 10, 0.0)
    assert sorted(b[0] for b in got) == [2, 3]
    assert p.inflight(1) == 2 and p.oldest_request(1) == 0.0
    assert p.pick(1, 10, 0.0) == []


def test_rarest_first_after_random_start() -> None:
    p = _picker(6, random_first=0)
    p.add_peer(1, _bits(6, set(range(6))))  # a seed: counted once
    assert p.peer_is_seed(1)
    p.add_peer(2, _bits(6, {0, 1, 2, 3}))
    p.add_peer(3, _bits(6, {0, 1, 2}))
    assert [p.availability(i) for i in range(6)] == [3, 3, 3, 2, 1, 1]
    first = p.pick(1, 2, 0.0)
    assert {b[0] for b in first} == {4, 5}  # the rarest
    assert p.pick(1, 1, 0.0)[0][0] == 3
    p.remove_peer(3)
    p.remove_peer(1)
    p.remove_peer(99)  # unknown: ignored
    assert [p.availability(i) for i in range(6)] == [1, 1, 1, 1, 0, 0]


def test_random_first_picks_spread() -> None:
    picks = set()
    for seed in range(20):
        p = Picker(file_size=64 * K, piece_size=K, rng=random.Random(seed))
        p.add_peer(1, _bits(64, set(range(64))))
        picks.add(p.pick(1, 1, 0.0)[0][0])
    assert len(picks) > 5


def test_tie_break_is_random() -> None:
    firsts = set()
    for seed in range(20):
        p = Picker(file_size=32 * K, piece_size=K, rng=random.Random(seed), random_first=0)
        p.add_peer(1, _bits(32, set(range(32))))
        firsts.add(p.pick(1, 1, 0.0)[0][0])
    assert len(firsts) > 5


def test_partial_pieces_are_finished_first() -> None:
    p = _picker(2, 1 << 20, random_first=0)
    p.add_peer(1, _bits(2, {0, 1}))
    p.add_peer(2, _bits(2, {0, 1}))
    a = p.pick(1, 1, 0.0)
    b = p.pick(2, 2, 0.0)
    assert a[0][0] == b[0][0] == b[1][0]  # peer 2 continues the started piece
    assert {x[1] for x in a + b} == {0, MAX_BLOCK_LENGTH, 2 * MAX_BLOCK_LENGTH}


def test_endgame_duplicates_and_cancels() -> None:
    p = _picker(2)
    p.add_peer(1, _bits(2, {0, 1}))
    p.add_peer(2, _bits(2, {0, 1}))
    reqs = p.pick(1, 10, 0.0)
    assert len(reqs) == 2 and p.in_endgame
    dups = p.pick(2, 10, 0.0)
    assert sorted(dups) == sorted(reqs)
    assert p.pick(2, 10, 0.0) == []  # never the same block twice to one peer
    useful, cancels = p.block_received(2, dups[0])
    assert useful and cancels == [(1, dups[0])]
    assert p.inflight(1) == 1  # the cancelled one no longer counts
    useful, cancels = p.block_received(1, dups[0])  # the crossing reply: not useful
    assert not useful and cancels == []
    assert p.is_done(dups[0][0])


def test_the_reject_that_answers_our_cancel_excludes_nothing() -> None:
    """[MSG-13] A throttled uploader answers our end-game cancel with a reject. That reject
    says nothing about the peer: when the copy we kept fails its hash (a corrupt peer sent it),
    the honest peer must be asked again at once, not after reject_backoff. Before, it was
    excluded for 10 s, and a download whose only honest peer it was sat idle that long."""
    p = _picker(1)
    p.add_peer(1, _bits(1, {0}))  # the corrupt one
    p.add_peer(2, _bits(1, {0}))  # the honest one
    (blk,) = p.pick(1, 1, 0.0)
    assert p.pick(2, 1, 0.0) == [blk]  # end-game duplicate
    useful, cancels = p.block_received(1, blk)
    assert useful and cancels == [(2, blk)]
    p.block_rejected(2, blk, 0.1, 10.1)  # the answer to that cancel
    p.piece_failed(0, [1], 0.2, 10.2)  # peer 1's copy was corrupt
    assert p.pick(2, 1, 0.3) == [blk]
    assert p.next_exclusion_end(0.3) == 10.2  # only the corrupt peer's exclusion


def test_no_endgame_while_blocks_are_unrequested() -> None:
    p = _picker(3)
    p.add_peer(1, _bits(3, {0, 1, 2}))
    p.add_peer(2, _bits(3, {0}))
    p.pick(1, 2, 0.0)
    assert not p.in_endgame
    # peer 2 has only piece 0; if peer 1 took it, peer 2 gets nothing (no duplicates yet)
    got = p.pick(2, 5, 0.0)
    assert all(b[0] == 0 for b in got)


def test_release_and_outstanding_rules() -> None:
    p = _picker(3)
    p.add_peer(1, _bits(3, {0, 1, 2}))
    reqs = p.pick(1, 3, 0.0)
    assert p.release_all(1) == reqs  # choked: back to the pool
    assert p.inflight(1) == 0
    # the old requests are still outstanding at that connection: never re-sent there
    assert p.pick(1, 3, 1.0) == []
    p.add_peer(2, _bits(3, {0, 1, 2}))
    again = p.pick(2, 3, 1.0)
    assert sorted(again) == sorted(reqs)
    # a late reply from peer 1 is still welcome, and cancels peer 2's copy
    useful, cancels = p.block_received(1, reqs[0])
    assert useful and cancels == [(2, reqs[0])]


def test_releasing_one_endgame_copy_keeps_the_other() -> None:
    p = _picker(1)
    p.add_peer(1, _bits(1, {0}))
    p.add_peer(2, _bits(1, {0}))
    (blk,) = p.pick(1, 1, 0.0)
    assert p.pick(2, 1, 0.0) == [blk]  # end-game duplicate
    assert p.release_all(1) == [blk]
    assert p.pick(1, 1, 0.0) == []  # still requested from 2 (and outstanding at 1)
    assert p.block_received(2, blk) == (True, [])


def test_endgame_skips_blocks_still_outstanding_at_the_peer() -> None:
    p = _picker(2)
    p.add_peer(1, _bits(2, {0, 1}))
    p.add_peer(2, _bits(2, {0, 1}))
    first = p.pick(1, 2, 0.0)
    p.release_all(1)  # choked: the requests still await their replies at peer 1
    assert sorted(p.pick(2, 2, 0.0)) == sorted(first)
    assert p.in_endgame
    assert p.pick(1, 5, 0.0) == []  # duplicates, but not of its own unanswered requests


def test_late_reply_for_a_reopened_piece_is_accepted() -> None:
    p = _picker(2)
    p.add_peer(1, _bits(2, {0, 1}))
    (req,) = p.pick(1, 1, 0.0)
    p.release_all(1)
    useful, cancels = p.block_received(1, req)  # piece was OPEN again: reactivated
    assert useful and cancels == [] and p.is_done(req[0])


def test_late_reply_for_a_pending_block_of_an_active_piece() -> None:
    p = _picker(1, 1 << 20)
    p.add_peer(1, _bits(1, {0}))
    p.add_peer(2, _bits(1, {0}))
    a = p.pick(1, 1, 0.0)
    b = p.pick(2, 1, 0.0)
    p.release_all(1)  # a[0] back to pending; the piece stays ACTIVE (b is in flight)
    useful, _ = p.block_received(1, a[0])
    assert useful
    rest = p.pick(2, 10, 0.0)
    assert a[0] not in rest and len(rest) == 2  # the late block is not requested again
    for blk in [*b, *rest]:
        assert p.block_received(2, blk)[0]
    assert p.is_done(0)


def test_reject_excludes_the_piece_for_a_while() -> None:
    p = _picker(2, random_first=0)
    p.add_peer(1, _bits(2, {0, 1}))
    (req,) = p.pick(1, 1, 0.0)
    p.block_rejected(1, req, 0.0, until=5.0)
    nxt = p.pick(1, 5, 1.0)
    assert [b[0] for b in nxt] == [1 - req[0]]
    assert p.pick(1, 5, 5.0) == [req]  # exclusion over
    p.block_rejected(1, (9, 0, 1), 6.0, until=6.0)  # unknown block, no exclusion: harmless


def test_verified_and_failed_pieces() -> None:
    p = _picker(2)
    p.add_peer(1, _bits(2, {0, 1}))
    p.add_peer(2, _bits(2, {1}))
    assert p.interesting(1) and p.interesting(2)
    with pytest.raises(ValueError):
        p.piece_verified(0)  # not DONE yet
    for blk in p.pick(1, 2, 0.0):
        assert p.block_received(1, blk)[0]
    p.piece_verified(0)
    assert p.has(0) and not p.has(1)
    p.piece_failed(1, [1, 42], 0.0, until=10.0)  # 42: unknown peer, ignored
    assert p.pick(1, 5, 1.0) == []  # peer 1 sent the bad copy: excluded for now
    (again,) = p.pick(2, 5, 1.0)
    p.block_received(2, again)
    p.piece_verified(1)
    assert p.complete and not p.in_endgame
    assert not p.interesting(1) and not p.interesting(2)
    with pytest.raises(ValueError):
        p.piece_failed(1, [], 0.0, 0.0)
    assert p.have_bits() == b"\xc0"


def test_duplicate_block_and_have_are_ignored() -> None:
    p = _picker(2, 1 << 20)
    p.add_peer(1, _bits(2, {0}))
    with pytest.raises(ValueError):
        p.add_peer(1, _bits(2, {0}))
    p.peer_have(1, 0)  # already known
    reqs = p.pick(1, 2, 0.0)
    assert p.block_received(1, reqs[0])[0]
    assert p.block_received(1, reqs[0]) == (False, [])
    p.peer_have(1, 1)  # now a seed
    assert p.peer_is_seed(1) and p.peer_has(1, 1)
    p.peer_have(1, 1)  # seeds ignore haves


def test_outstanding_cap() -> None:
    p = _picker(2, 1 << 20, block_size=K)
    p.add_peer(1, _bits(2, {0, 1}))
    assert len(p.pick(1, 10_000, 0.0)) == min(128, MAX_PEER_REQUESTS)


class PickerMachine(RuleBasedStateMachine):
    """Random interleavings of everything the swarm does; invariants checked after each step."""

    @initialize(
        pieces=st.integers(1, 12),
        big=st.booleans(),
        have=st.sets(st.integers(0, 11)),
        seed=st.integers(0, 1000),
    )
    def setup(self, pieces: int, big: bool, have: set[int], seed: int) -> None:
        self.n = pieces
        piece_size = 1 << 19 if big else K
        self.ours = {i for i in have if i < pieces}
        self.p = Picker(
            file_size=pieces * piece_size - 7,
            piece_size=piece_size,
            have=_bits(pieces, self.ours),
            rng=random.Random(seed),
            random_first=2,
        )
        self.peers: dict[int, set[int]] = {}
        self.outstanding: dict[int, set[tuple[int, int, int]]] = {}
        self.received: set[tuple[int, int, int]] = set()
        self.next_key = 0
        self.now = 0.0

    @rule(bits=st.sets(st.integers(0, 11)))
    def add_peer(self, bits: set[int]) -> None:
        bits = {i for i in bits if i < self.n}
        self.next_key += 1
        self.p.add_peer(self.next_key, _bits(self.n, bits))
        self.peers[self.next_key] = set(bits)
        self.outstanding[self.next_key] = set()

    @precondition(lambda self: self.peers)
    @rule(data=st.data())
    def remove_peer(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.peers)))
        self.p.remove_peer(key)
        del self.peers[key]
        del self.outstanding[key]

    @precondition(lambda self: self.peers)
    @rule(data=st.data(), index=st.integers(0, 11))
    def have(self, data: st.DataObject, index: int) -> None:
        key = data.draw(st.sampled_from(sorted(self.peers)))
        index %= self.n
        self.p.peer_have(key, index)
        self.peers[key].add(index)

    @precondition(lambda self: self.peers)
    @rule(data=st.data(), count=st.integers(0, 20))
    def pick(self, data: st.DataObject, count: int) -> None:
        key = data.draw(st.sampled_from(sorted(self.peers)))
        got = self.p.pick(key, count, self.now)
        endgame = self.p.in_endgame  # duplicates only once every missing block is requested
        assert len(got) <= count
        for blk in got:
            assert blk[0] in self.peers[key], "requested a piece the peer lacks"
            assert blk[0] not in self.ours, "requested a piece we have"
            assert blk not in self.outstanding[key], "same block twice to one peer"
            assert blk not in self.received
            if not endgame:
                for other, blocks in self.outstanding.items():
                    if other != key and blk in blocks:
                        # only a re-request of a block given up on elsewhere is allowed
                        assert blk not in self._counted(other)
            self.outstanding[key].add(blk)

    def _counted(self, key: int) -> set[tuple[int, int, int]]:
        view = self.p._peers[key]
        return set(view.inflight)

    @precondition(lambda self: any(self.outstanding.values()))
    @rule(data=st.data(), action=st.sampled_from(["piece", "reject", "choke"]))
    def reply(self, data: st.DataObject, action: str) -> None:
        key = data.draw(st.sampled_from(sorted(k for k, v in self.outstanding.items() if v)))
        blk = data.draw(st.sampled_from(sorted(self.outstanding[key])))
        if action == "piece":
            self.outstanding[key].discard(blk)
            useful, cancels = self.p.block_received(key, blk)
            assert useful == (blk not in self.received and blk[0] not in self.ours)
            if useful:
                self.received.add(blk)
            for other, cblk in cancels:
                assert other != key and cblk == blk
        elif action == "reject":
            self.outstanding[key].discard(blk)
            self.p.block_rejected(key, blk, self.now, self.now + 1.0)
        else:
            self.p.release_all(key)
        self.now += 0.5

    @rule(good=st.booleans())
    def verify(self, good: bool) -> None:
        done = [i for i in range(self.n) if self.p.is_done(i)]
        if not done:
            return
        index = done[0]
        if good:
            self.p.piece_verified(index)
            self.ours.add(index)
        else:
            self.p.piece_failed(index, list(self.peers)[:1], self.now, self.now + 1.0)
            self.received = {b for b in self.received if b[0] != index}

    @invariant()
    def availability_consistent(self) -> None:
        if not hasattr(self, "p"):
            return
        for i in range(self.n):
            assert self.p.availability(i) == sum(i in bits for bits in self.peers.values())
        assert self.p.have_count == len(self.ours)
        for key, bits in self.peers.items():
            assert self.p.interesting(key) == bool(bits - self.ours)
            assert self.p.inflight(key) <= len(self.outstanding[key])
        buckets = self.p._buckets
        assert sum(len(b) for b in buckets) == self.p.open_count
        for level, bucket in enumerate(buckets):
            for pos, index in enumerate(bucket):
                assert self.p._slot[index] == pos and self.p._avail[index] == level


PickerMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
TestPickerMachine = PickerMachine.TestCase


def test_ties_are_broken_in_a_window_at_the_lowest_missing_piece() -> None:
    """[BEH-4] random among equally rare pieces, but only near the first unrequested piece."""
    n, window = 1000, 16
    firsts = set()
    for seed in range(10):
        p = Picker(
            file_size=n * K, piece_size=K, rng=random.Random(seed), random_first=0, window=window
        )
        p.add_peer(1, _bits(n, set(range(n))))
        picked = [b[0] for b in p.pick(1, 8, 0.0)]
        firsts.add(picked[0])
        assert picked[0] < window
        assert max(picked) < window + 8  # each pick moves the window by at most one piece
        for i in picked:
            p.block_received(1, (i, 0, K))
            p.piece_verified(i)
        more = [b[0] for b in p.pick(1, 40, 0.0)]
        assert len(set(more)) == 40
        assert max(more) < window + 48  # the window slides as the front fills
    assert len(firsts) > 5  # still random inside the window


def test_window_grows_with_the_square_of_the_peer_count() -> None:
    """[BEH-4] downloaders sharing one seeder must not all ask it for the same few pieces."""
    n, window = 4000, 16
    p = Picker(file_size=n * K, piece_size=K, rng=random.Random(7), random_first=0, window=window)
    for key in range(1, 5):
        p.add_peer(key, _bits(n, set(range(n))))
    picked = [b[0] for b in p.pick(1, 64, 0.0)]
    assert window * 4 < max(picked) < window * 16 + 64  # 4 peers: 16 windows, not 1 or 4
    for key in range(2, 5):
        p.remove_peer(key)  # one peer left: back to one window at the front
    assert all(b[0] < window + 64 + 64 for b in p.pick(1, 64, 0.0))


def test_rarity_beats_the_window() -> None:
    n = 300
    p = Picker(file_size=n * K, piece_size=K, rng=random.Random(2), random_first=0, window=8)
    p.add_peer(1, _bits(n, set(range(n))))
    p.add_peer(2, _bits(n, set(range(n - 1))))  # everything but the last piece twice
    assert p.pick(1, 1, 0.0)[0][0] == n - 1  # the rarest, far outside the window
    # equally rare pieces outside the window only: still found
    q = Picker(file_size=n * K, piece_size=K, rng=random.Random(3), random_first=0, window=8)
    q.add_peer(1, _bits(n, set(range(n))))
    q.add_peer(2, _bits(n, set(range(10))))  # pieces 10.. are the rarest
    assert q.pick(1, 1, 0.0)[0][0] >= 10
    with pytest.raises(ValueError, match="window"):
        Picker(file_size=K, piece_size=K, window=0)


def test_the_window_start_goes_first_from_a_non_seed_when_every_non_seed_has_it() -> None:
    """[BEH-4] It has no trade value, and the verified prefix (the file hash) keeps moving."""
    p = _picker(6, random_first=0)
    p.add_peer(1, _bits(6, set(range(6))))  # a seed
    p.add_peer(2, _bits(6, {0, 1, 2, 4}))
    p.add_peer(3, _bits(6, {0, 3, 4}))
    assert [p.availability(i) for i in range(6)] == [3, 2, 2, 2, 3, 1]
    assert [b[0] for b in p.pick(2, 1, 0.0)] == [0]  # not the rarer 1 or 2
    assert p.pick(2, 1, 0.0)[0][0] in {1, 2}  # the start (1) is not everyone's: rarest first
    assert p.pick(1, 1, 0.0)[0][0] == 5  # from the seed: rarest first, always


def test_window_probes_fall_back_to_a_scan_and_reopened_pieces_count() -> None:
    n = 64
    p = Picker(file_size=n * K, piece_size=K, rng=random.Random(4), random_first=0, window=n)
    p.add_peer(1, _bits(n, set(range(n))))
    taken = [b[0] for b in p.pick(1, n - 1, 0.0)]
    assert len(set(taken)) == n - 1
    (last,) = p.pick(1, 1, 0.0)  # one OPEN piece left: the probes miss, the scan finds it
    assert {last[0], *taken} == set(range(n))
    p.release_all(1)  # everything OPEN again: the window moves back to the front
    p.add_peer(2, _bits(n, set(range(n))))
    assert {b[0] for b in p.pick(2, n, 0.0)} == set(range(n))


def _run_swarm_picks(seed: int, pieces: int, peers: int) -> list[object]:
    """A random run of peers, haves, picks, releases and arrivals; everything picked, in order."""
    ops = random.Random(seed)
    p = Picker(
        file_size=pieces * K, piece_size=K, rng=random.Random(seed), random_first=0, window=4
    )
    trace: list[object] = []
    for key in range(peers):
        p.add_peer(key, _bits(pieces, {i for i in range(pieces) if ops.random() < 0.5}))
    for _ in range(60):
        key = ops.randrange(peers)
        roll = ops.random()
        if roll < 0.3:
            p.peer_have(key, ops.randrange(pieces))
        elif roll < 0.8:
            picked = p.pick(key, ops.randrange(1, 4), 0.0)
            trace.append((key, picked))
            if picked and ops.random() < 0.5:
                p.block_received(key, picked[0])
        else:
            trace.append(("released", key, p.release_all(key)))
    return trace


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32), st.integers(2, 60), st.sampled_from([1, 3, 8, 300]))
def test_window_search_by_byte_picks_exactly_what_a_full_scan_picks(
    seed: int, pieces: int, peers: int
) -> None:
    """The byte marks are an index, not a policy: forcing the plain scan changes no pick.

    (300 peers also drive availabilities past what one byte counts, the plain scan itself.)
    """
    import p2pshare_core.picker as picker_module

    fast = _run_swarm_picks(seed, pieces, peers)
    with mock.patch.object(picker_module, "_MAX_MARK", -1):  # every search: the plain scan
        plain = _run_swarm_picks(seed, pieces, peers)
    assert fast == plain


def test_endgame_asks_at_most_two_peers_for_a_block() -> None:
    """Found by the swarm simulator (#19): an end-game that asks every peer for every last
    block gets each of them up to once per peer (a cancel comes after the uploader wrote it)."""
    p = _picker(1)
    for key in (1, 2, 3, 4):
        p.add_peer(key, _bits(1, {0}))
    (blk,) = p.pick(1, 1, 0.0)
    assert p.pick(2, 1, 0.0) == [blk]  # one duplicate
    assert p.pick(3, 1, 0.0) == [] and p.pick(4, 1, 0.0) == []  # no third copy
    assert p.release_all(2) == [blk]  # a copy's peer choked us: another peer may take it
    assert p.pick(3, 1, 0.0) == [blk]
