"""Which blocks to request from which peer: availability, rarest-first, pipelining, end-game.

Sans-IO and hot-path conscious: the swarm calls in once per block, so every per-block operation
is O(1) amortised. Pieces nobody has requested yet live in availability buckets (one list per
non-seed availability count, random order inside a bucket, positions indexed so a piece moves
between buckets in O(1)); seeds are counted once rather than per piece, so a seed connecting or
leaving costs O(1) and rarest-first for a seed is "the first piece of the lowest bucket".

Ties between equally rare pieces are broken at random within a window that starts at the lowest
piece neither received nor requested [BEH-4]: `window` pieces with one peer, growing with the
square of the peer count (k downloaders each keep requests in flight while all of them advance
the same front, so collisions at a shared seeder grow with k x k). Nearly in file order when
few peers are connected, so the node can hash the whole file while it downloads; nearly uniform
in a swarm, so downloaders hold different pieces to trade. Measured: with a fixed window a capped
seeder sent the demo's file 1.6 times instead of 1.3; with no window, 1 -> 4 on loopback took
15.2 s instead of 11.3 s (the whole-file hash could not overlap the download).

One exception to rarest-first, asking a non-seed: when every connected non-seed has the window's
start, it goes first. Such a piece has no trade value (nobody around needs it from us) and would
otherwise wait until nothing rarer is left, holding the whole-file hash and drop-behind at it
for most of the download. Measured on loopback 1 -> 4: 382 -> 436 MB/s, leecher CPU -11 %;
neutral in bandwidth-limited in-process swarms (4 and 8 downloaders, 2.71-3.38 s either way).

Piece life cycle: OPEN (in a bucket) -> ACTIVE (some blocks requested or received) -> DONE (every
block received, waiting for the hash) -> HAVE; a failed hash puts a DONE piece back to OPEN.
"""

from __future__ import annotations

import random
from array import array
from collections.abc import Iterable, Iterator

from .constants import MAX_BLOCK_LENGTH, MAX_PEER_REQUESTS

__all__ = ["Block", "Picker", "expand_bits", "pack_bits"]

Block = tuple[int, int, int]
"""A request triple: (piece index, offset, length)."""

_OPEN, _ACTIVE, _DONE, _HAVE = 0, 1, 2, 3
TIE_BREAK_WINDOW = 128
"""Pieces, from the lowest unrequested one, among which equally rare pieces are chosen when one
peer is connected; times the square of the peer count with more [BEH-4]."""
_PROBES = 4  # random tries in the window before scanning it
ENDGAME_COPIES = 2
"""Peers a block is requested from at once in the end-game. Unbounded, every unchoking peer
asked for every last block, and an uploader writes what it accepts at once, so a cancel came
too late: the swarm simulator (#19) saw the last blocks reach one downloader up to 19 times
and a third of all bytes received wasted in a 20-peer flash crowd."""
_MAX_MARK = 254  # availabilities up to this are searched by byte in the window

_BIT_TABLE = [bytes((b >> (7 - i)) & 1 for i in range(8)) for b in range(256)]


def expand_bits(packed: bytes | bytearray, count: int) -> bytearray:
    """Wire bitfield (piece 0 = high bit of byte 0) -> one 0/1 byte per piece, for O(1) lookups."""
    table = _BIT_TABLE
    out = bytearray(b"".join([table[b] for b in packed]))
    del out[count:]
    return out


def pack_bits(flags: bytes | bytearray) -> bytes:
    """One 0/1 byte per piece -> wire bitfield; inverse of `expand_bits`."""
    out = bytearray((len(flags) + 7) // 8)
    for i, flag in enumerate(flags):
        if flag:
            out[i >> 3] |= 0x80 >> (i & 7)
    return bytes(out)


class _Progress:
    """Block bookkeeping of one ACTIVE piece."""

    __slots__ = ("nblocks", "pending", "received", "requested")

    def __init__(self, offsets: list[int]) -> None:
        self.nblocks = len(offsets)
        self.pending = offsets[::-1]  # a stack: pop() yields the lowest offset first
        self.requested: dict[int, list[int]] = {}  # offset -> peers it is requested from
        self.received: set[int] = set()


class _PeerView:
    """What the picker knows about one peer."""

    __slots__ = ("bits", "count", "excluded", "inflight", "key", "outstanding", "wanted")

    def __init__(self, key: int) -> None:
        self.key = key
        self.bits: bytearray | None = None  # None: the peer has every piece (a seed)
        self.count = 0  # pieces it has (maintained while not a seed)
        self.wanted = 0  # pieces it has that we lack (maintained while not a seed)
        self.inflight: dict[Block, float] = {}  # requests counting toward the pipeline -> sent at
        self.outstanding: set[Block] = set()  # every request still awaiting its one reply
        self.excluded: dict[int, float] = {}  # piece -> do not request it from this peer until


class Picker:
    """Piece availability and request scheduling for one share.

    Peers are identified by an int key (the swarm uses connection ids).
    """

    def __init__(
        self,
        *,
        file_size: int,
        piece_size: int,
        have: bytes | bytearray | None = None,
        rng: random.Random | None = None,
        block_size: int = MAX_BLOCK_LENGTH,
        random_first: int = 4,
        window: int = TIE_BREAK_WINDOW,
    ) -> None:
        """`have` is a wire bitfield of the pieces we already hold (None: none)."""
        if not 1 <= block_size <= MAX_BLOCK_LENGTH:
            raise ValueError(f"block_size must be 1..{MAX_BLOCK_LENGTH}")
        if window < 1:
            raise ValueError("window must be >= 1")
        self.file_size = file_size
        self.piece_size = piece_size
        self.piece_count = n = -(-file_size // piece_size)
        self.block_size = min(block_size, piece_size)
        self.random_first = random_first
        self.window = window
        self._rng = rng if rng is not None else random.Random()
        self._have = expand_bits(have, n) if have is not None else bytearray(n)
        self.have_count = self._have.count(1)
        self._state = bytearray(_HAVE if h else _OPEN for h in self._have)
        # Per-piece numbers are machine-int arrays, not lists of int objects: 4 bytes a piece
        # instead of ~36, so a node's memory barely grows with the file (8 GiB = 131 072 pieces).
        self._avail = array("i", [0]) * n  # non-seed peers having each piece
        self._seeds = 0
        self._slot = array("i", [-1]) * n  # index inside its bucket, -1 when not OPEN
        opened = array("i", _ones(self._have, 0))  # the pieces we lack
        self._rng.shuffle(opened)
        for pos, index in enumerate(opened):
            self._slot[index] = pos
        # availability + 1 of each OPEN piece (0: not OPEN), one byte a piece, so the window
        # is searched for a given rarity with bytearray.find at C speed [BEH-4]
        self._open_mark = bytearray(1 if not h else 0 for h in self._have)
        self._buckets: list[array[int]] = [opened]  # availability -> OPEN pieces
        self._low = 0  # no piece below this index is OPEN
        self.open_count = len(opened)
        self._progress: dict[int, _Progress] = {}
        self._partials: dict[int, None] = {}  # ACTIVE pieces with unrequested blocks (ordered)
        self._peers: dict[int, _PeerView] = {}

    # --- geometry ---------------------------------------------------------------------------
    def piece_length(self, index: int) -> int:
        return min(self.piece_size, self.file_size - index * self.piece_size)

    def blocks(self, index: int) -> list[Block]:
        """Every block of piece `index`, in offset order."""
        length = self.piece_length(index)
        step = self.block_size
        return [(index, off, min(step, length - off)) for off in range(0, length, step)]

    # --- our pieces -----------------------------------------------------------------------------
    def has(self, index: int) -> bool:
        return bool(self._have[index])

    @property
    def complete(self) -> bool:
        return self.have_count == self.piece_count

    @property
    def in_endgame(self) -> bool:
        """Every missing block is requested (or received): duplicates are now allowed."""
        return self.open_count == 0 and not self._partials and not self.complete

    def have_bits(self) -> bytes:
        """Our pieces as a wire bitfield."""
        return pack_bits(self._have)

    def is_done(self, index: int) -> bool:
        """Every block of `index` arrived and it awaits its hash check."""
        return self._state[index] == _DONE

    def piece_verified(self, index: int) -> None:
        """The hash of a DONE piece matched: we have it now."""
        if self._state[index] != _DONE:
            raise ValueError(f"piece {index} is not waiting for verification")
        self._state[index] = _HAVE
        self._have[index] = 1
        self.have_count += 1
        for view in self._peers.values():
            if view.bits is not None and view.bits[index]:
                view.wanted -= 1

    def piece_failed(self, index: int, exclude: Iterable[int], now: float, until: float) -> None:
        """The hash of a DONE piece did not match: fetch it again, avoiding `exclude` peers."""
        if self._state[index] != _DONE:
            raise ValueError(f"piece {index} is not waiting for verification")
        self._open(index)
        for key in exclude:
            view = self._peers.get(key)
            if view is not None:
                view.excluded[index] = until

    # --- peers ----------------------------------------------------------------------------------
    def add_peer(self, key: int, bitfield: bytes) -> None:
        """A peer's wire bitfield arrived."""
        if key in self._peers:
            raise ValueError(f"peer {key!r} already added")
        view = _PeerView(key)
        self._peers[key] = view
        bits = expand_bits(bitfield, self.piece_count)
        count = bits.count(1)
        if count == self.piece_count:
            self._seeds += 1
            return
        view.bits = bits
        view.count = count
        have = self._have
        wanted = 0
        for index in _ones(bits):
            self._inc(index)
            if not have[index]:
                wanted += 1
        view.wanted = wanted

    def peer_have(self, key: int, index: int) -> None:
        """The peer announced piece `index`."""
        view = self._peers[key]
        bits = view.bits
        if bits is None or bits[index]:
            return
        bits[index] = 1
        view.count += 1
        if not self._have[index]:
            view.wanted += 1
        self._inc(index)
        if view.count == self.piece_count:  # became a seed: count it once, not per piece
            for i in range(self.piece_count):
                self._dec(i)
            view.bits = None
            self._seeds += 1

    def remove_peer(self, key: int) -> None:
        """The peer is gone: forget its pieces and put its requested blocks back."""
        view = self._peers.pop(key, None)
        if view is None:
            return
        self._release_all(view)
        if view.bits is None:
            self._seeds -= 1
        else:
            for index in _ones(view.bits):
                self._dec(index)

    def peer_has(self, key: int, index: int) -> bool:
        bits = self._peers[key].bits
        return bits is None or bool(bits[index])

    def peer_is_seed(self, key: int) -> bool:
        return self._peers[key].bits is None

    def interesting(self, key: int) -> bool:
        """The peer has a piece we lack (so we should be interested)."""
        view = self._peers[key]
        if view.bits is None:
            return self.have_count < self.piece_count
        return view.wanted > 0

    def availability(self, index: int) -> int:
        return self._avail[index] + self._seeds

    def next_exclusion_end(self, now: float) -> float | None:
        """The earliest time after `now` at which a piece excluded at some peer (rejected by
        it, or failed with its data) may be asked of that peer again (None: no such piece)."""
        earliest: float | None = None
        for view in self._peers.values():
            if not view.excluded:
                continue
            # (ended exclusions are dropped here too: they are only otherwise dropped when
            # that piece is considered for that peer again)
            view.excluded = {i: u for i, u in view.excluded.items() if u > now}
            for until in view.excluded.values():
                if earliest is None or until < earliest:
                    earliest = until
        return earliest

    # --- requests -------------------------------------------------------------------------------
    def inflight(self, key: int) -> int:
        """Requests to this peer that count toward its pipeline."""
        return len(self._peers[key].inflight)

    def oldest_request(self, key: int) -> float | None:
        """When the oldest in-flight request to this peer was sent (None: nothing in flight)."""
        return next(iter(self._peers[key].inflight.values()), None)

    def pick(self, key: int, count: int, now: float, run: int = 1) -> list[Block]:
        """Choose up to `count` blocks to request from peer `key` now, and record them.

        `run` > 1: each newly chosen piece brings the other pieces of its aligned extent of
        `run` pieces that the peer has and nobody is fetching, so the caller can ask for them
        as spans (extension SPAN, spec 5.2). Only the first piece is chosen by rarity; the
        others ride along, which costs rarest-first little (neighbours are about as rare in a
        young swarm) and saves a request, a reply header and a disk read per piece.
        """
        view = self._peers[key]
        count = min(count, MAX_PEER_REQUESTS - len(view.outstanding))
        out: list[Block] = []
        if count <= 0:
            return out
        for index in list(self._partials):
            if self._may_request(view, index, now):
                self._take(view, index, count, out, now)
                if len(out) >= count:
                    return out
        while len(out) < count:
            chosen = self._choose_open(view, now)
            if chosen is None:
                break
            self._activate(chosen)
            self._take(view, chosen, count, out, now)
            if run > 1:
                self._extend_run(view, chosen, run, count, out, now)
        if len(out) < count and self.in_endgame:
            self._endgame(view, count, out, now)
        return out

    def block_received(self, key: int, block: Block) -> tuple[bool, list[tuple[int, Block]]]:
        """A block answering our request arrived from `key`.

        Returns (useful, cancels): whether the data should be stored, and the duplicate requests
        (end-game, or re-requests after a timeout) to cancel at other peers.
        """
        view = self._peers[key]
        view.outstanding.discard(block)
        view.inflight.pop(block, None)
        index, offset, _ = block
        state = self._state[index]
        if state == _OPEN:  # its request had been given up on, but the data is still welcome
            self._activate(index)
        elif state != _ACTIVE:
            return False, []
        prog = self._progress[index]
        if offset in prog.received:
            return False, []
        prog.received.add(offset)
        cancels: list[tuple[int, Block]] = []
        requesters = prog.requested.pop(offset, None)
        if requesters is None:
            prog.pending.remove(offset)
            if not prog.pending:
                self._partials.pop(index, None)
        else:
            for other in requesters:
                if other != key:
                    other_view = self._peers[other]
                    del other_view.inflight[block]
                    cancels.append((other, block))
        if len(prog.received) == prog.nblocks:
            self._state[index] = _DONE
            del self._progress[index]
            self._partials.pop(index, None)
        return True, cancels

    def block_rejected(self, key: int, block: Block, now: float, until: float) -> None:
        """The peer will not serve `block`: request it elsewhere; leave that piece alone there
        until `until`. A reject of a request we no longer count on (we cancelled it, or gave up
        on it) is only its one reply [MSG-13]: it says nothing about the peer, and excluding it
        there would keep an honest peer from the piece when the copy we kept fails its hash."""
        view = self._peers[key]
        view.outstanding.discard(block)
        if block in view.inflight:
            self._release(view, block)
            if until > now:
                view.excluded[block[0]] = until

    def release_all(self, key: int) -> list[Block]:
        """Stop counting on the peer's in-flight requests (they timed out, BEH-8).

        They stay outstanding at the connection (a reply still comes), so they are never
        re-requested from this peer until answered.
        """
        return self._release_all(self._peers[key])

    # --- internals ------------------------------------------------------------------------------
    def _release_all(self, view: _PeerView) -> list[Block]:
        released = list(view.inflight)
        for block in released:
            self._release(view, block)
        return released

    def _release(self, view: _PeerView, block: Block) -> None:
        # A block in flight always belongs to an ACTIVE piece and lists this peer as requester:
        # arrival of a copy elsewhere removes it from `inflight` (the cancel case).
        del view.inflight[block]
        index, offset, _ = block
        prog = self._progress[index]
        requesters = prog.requested[offset]
        requesters.remove(view.key)
        if requesters:
            return
        del prog.requested[offset]
        prog.pending.append(offset)
        if not prog.requested and not prog.received:
            del self._progress[index]
            self._partials.pop(index, None)
            self._open(index)
        else:
            self._partials[index] = None

    def _may_request(self, view: _PeerView, index: int, now: float) -> bool:
        bits = view.bits
        if bits is not None and not bits[index]:
            return False
        if view.excluded:
            until = view.excluded.get(index)
            if until is not None:
                if now < until:
                    return False
                del view.excluded[index]
        return True

    def _choose_open(self, view: _PeerView, now: float) -> int | None:
        """An OPEN piece the peer has: random while we have few pieces, else rarest first."""
        if self.open_count == 0:
            return None
        slot = self._slot
        if self.have_count < self.random_first:
            rng = self._rng
            for _ in range(16):
                index = rng.randrange(self.piece_count)
                if slot[index] >= 0 and self._may_request(view, index, now):
                    return index
        if view.bits is not None:
            # From a non-seed, the window's start first if every connected non-seed has it
            # [BEH-4]: nobody around needs it from us, so taking it now costs no trade, and the
            # verified prefix (so the whole-file hash, and drop-behind) keeps moving.
            low = self._lowest_open()
            everyone = len(self._peers) - self._seeds
            if self._avail[low] == everyone and self._may_request(view, low, now):
                return low
        buckets = self._buckets
        start = 0 if view.bits is None else 1  # a non-seed only has pieces others can count
        for level in range(start, len(buckets)):
            bucket = buckets[level]
            if not bucket:
                continue
            near = self._choose_in_window(view, level, now)
            if near is not None:
                return near
            for index in bucket:  # none of this rarity near the front: any of them
                if self._may_request(view, index, now):
                    return index
        return None

    def _lowest_open(self) -> int:
        """The window's start: the lowest OPEN piece (some piece is OPEN: callers check)."""
        slot, low = self._slot, self._low
        while slot[low] < 0:
            low += 1
        self._low = low
        return low

    def _choose_in_window(self, view: _PeerView, level: int, now: float) -> int | None:
        """A random OPEN piece of availability `level` the peer has, in the window [BEH-4].

        A few random probes first (a uniform choice while such pieces are dense, the usual case),
        then one scan of the window from a random point.
        """
        slot, avail, rng = self._slot, self._avail, self._rng
        low = self._lowest_open()
        peers = max(1, len(self._peers))
        end = min(low + self.window * peers * peers, self.piece_count)
        for _ in range(_PROBES):
            index: int = rng.randrange(low, end)
            if slot[index] >= 0 and avail[index] == level and self._may_request(view, index, now):
                return index
        start = rng.randrange(low, end)
        mark = level + 1
        if mark > _MAX_MARK:  # (more peers than a byte counts: look at every piece)
            scan: list[int] = [*range(start, end), *range(low, start)]
            for candidate in scan:
                if (
                    slot[candidate] >= 0
                    and avail[candidate] == level
                    and self._may_request(view, candidate, now)
                ):
                    return candidate
            return None
        find = self._open_mark.find
        for first, stop in ((start, end), (low, start)):  # from a random point, wrapping round
            candidate = find(mark, first, stop)
            while candidate >= 0:
                if self._may_request(view, candidate, now):
                    return candidate
                candidate = find(mark, candidate + 1, stop)
        return None

    def _take(self, view: _PeerView, index: int, count: int, out: list[Block], now: float) -> None:
        prog = self._progress[index]
        pending = prog.pending
        skipped: list[int] = []
        key = view.key
        length = self.piece_length(index)
        step = self.block_size
        while pending and len(out) < count:
            offset = pending.pop()
            block = (index, offset, min(step, length - offset))
            if block in view.outstanding:  # still awaiting an old reply there: not again
                skipped.append(offset)
                continue
            prog.requested[offset] = [key]
            view.inflight[block] = now
            view.outstanding.add(block)
            out.append(block)
        if skipped:
            pending.extend(reversed(skipped))
        if pending:
            self._partials[index] = None
        else:
            self._partials.pop(index, None)

    def _extend_run(
        self, view: _PeerView, first: int, run: int, count: int, out: list[Block], now: float
    ) -> None:
        """Take the other OPEN single-block pieces of `first`'s aligned extent of `run`
        pieces that the peer has [SPAN]: random starting points then fill whole extents
        instead of leaving runs cut short by earlier picks (libtorrent's "piece extent
        affinity" does the same for disk locality)."""
        if self.piece_size > self.block_size:
            return  # pieces of several blocks never make spans
        slot = self._slot
        start = first - first % run
        for index in range(start, min(start + run, self.piece_count)):
            if len(out) >= count:
                return
            if index != first and slot[index] >= 0 and self._may_request(view, index, now):
                self._activate(index)
                self._take(view, index, count, out, now)

    def _endgame(self, view: _PeerView, count: int, out: list[Block], now: float) -> None:
        key = view.key
        for index, prog in self._progress.items():
            if not prog.requested or not self._may_request(view, index, now):
                continue
            length = self.piece_length(index)
            for offset, requesters in prog.requested.items():
                if key in requesters or len(requesters) >= ENDGAME_COPIES:
                    continue
                block = (index, offset, min(self.block_size, length - offset))
                if block in view.outstanding:
                    continue
                requesters.append(key)
                view.inflight[block] = now
                view.outstanding.add(block)
                out.append(block)
                if len(out) >= count:
                    return

    def _activate(self, index: int) -> None:
        """OPEN -> ACTIVE: leave the buckets, start block bookkeeping."""
        self._unbucket(index)
        self._state[index] = _ACTIVE
        length = self.piece_length(index)
        self._progress[index] = _Progress(list(range(0, length, self.block_size)))
        self._partials[index] = None

    def _open(self, index: int) -> None:
        """-> OPEN: back into the bucket of its availability."""
        self._state[index] = _OPEN
        self._bucket(index, self._avail[index])
        if index < self._low:
            self._low = index

    def _bucket(self, index: int, level: int) -> None:
        buckets = self._buckets
        while len(buckets) <= level:
            buckets.append(array("i"))
        bucket = buckets[level]
        bucket.append(index)
        pos = self._rng.randrange(len(bucket))  # random position: random tie-break
        other = bucket[pos]
        bucket[pos], bucket[-1] = index, other
        self._slot[other] = len(bucket) - 1
        self._slot[index] = pos
        self._open_mark[index] = min(level + 1, _MAX_MARK + 1)
        self.open_count += 1

    def _unbucket(self, index: int) -> None:
        bucket = self._buckets[self._avail[index]]
        pos = self._slot[index]
        last = bucket.pop()
        if last != index:
            bucket[pos] = last
            self._slot[last] = pos
        self._slot[index] = -1
        self._open_mark[index] = 0
        self.open_count -= 1

    def _inc(self, index: int) -> None:
        if self._slot[index] >= 0:
            self._unbucket(index)
            self._avail[index] += 1
            self._bucket(index, self._avail[index])
        else:
            self._avail[index] += 1

    def _dec(self, index: int) -> None:
        if self._slot[index] >= 0:
            self._unbucket(index)
            self._avail[index] -= 1
            self._bucket(index, self._avail[index])
        else:
            self._avail[index] -= 1


def _ones(flags: bytearray, value: int = 1) -> Iterator[int]:
    """Indices of the `value` bytes, found with bytearray.find (C speed), not a Python loop."""
    find = flags.find
    index = find(value)
    while index >= 0:
        yield index
        index = find(value, index + 1)
