"""Super-seeding [SEED]: the policy alone, one super-seeding swarm against scripted peers, and a
whole in-memory swarm whose seeder's first copy is made of distinct pieces."""

from __future__ import annotations

import random
from collections import Counter

from p2pshare_core import events as ev
from p2pshare_core.actions import SendBlock
from p2pshare_core.config import SwarmConfig
from p2pshare_core.superseed import OFFERS, SuperSeeder
from swarm_harness import Driver, Network, Remote, make_share

K = 16384
META, DATA = make_share(8 * K - 100, K)  # 8 pieces, the last one short
SUPER = SwarmConfig(super_seeding=True, rechoke_interval=100.0, optimistic_interval=300.0)
LOW, MID, HIGH = b"\x10" * 20, b"\x40" * 20, b"\xf0" * 20


def _seeder(pieces: int = 6) -> SuperSeeder:
    return SuperSeeder(pieces, [K] * pieces, random.Random(1))


def test_offers_are_distinct_until_the_pool_is_empty() -> None:
    s = _seeder()
    for conn in (1, 2, 3, 4):
        s.add_peer(conn)
    first, second, third = s.offer(1), s.offer(2), s.offer(3)
    assert len(first) == len(second) == len(third) == OFFERS
    assert len(set(first + second + third)) == 6  # every piece offered once
    assert s.offer(4) == [] and s.offer(1) == []  # empty pool; 1 already holds OFFERS
    assert all(s.announced(1, i) for i in first) and not s.announced(2, first[0])


def test_a_written_offer_makes_room_and_a_seen_piece_leaves_the_pool() -> None:
    s = _seeder()
    s.add_peer(1)
    a, b = s.offer(1)
    assert not s.sent(1, a, K // 2)  # half of it: still on offer
    assert s.sent(1, a, K // 2)  # written in full: room for another
    assert not s.sent(1, a, K)  # (not on offer any more)
    assert not s.sent(9, a, K)  # (an unknown connection)
    (c,) = s.offer(1)
    assert c not in (a, b)
    assert s.peer_has(c) == 1  # seen elsewhere: its holder may get another
    assert s.peer_has(c) is None  # (once)
    assert len(s.offer(1)) == 1
    others = [i for i in range(6) if not s.announced(1, i)]
    for index in others:  # seen in the swarm before they were offered: skipped
        s.peer_has(index)
    assert s.offer(1) == []
    assert not s.done
    for index in range(6):
        s.peer_has(index)
    assert s.done


def test_choked_and_lost_peers_give_their_pieces_back() -> None:
    s = _seeder(4)
    for conn in (1, 2):
        s.add_peer(conn)
    a, b = s.offer(1)
    assert s.sent(1, a, K)  # a: written, not yet seen; b: offered
    s.choked(1)  # b goes back to the pool; a is on its way
    c, d = s.offer(2)
    assert b in (c, d)
    s.forget(2)  # neither written: both back
    s.forget(1)  # a was written but never announced: that copy is lost, back too
    s.add_peer(3)
    got = s.offer(3)
    assert len(got) == OFFERS and set(got) <= {a, b, c, d}
    s.choked(3)  # back to the pool, though announced to 3
    s.add_peer(4)
    assert sorted(s.offer(4)) == sorted(got)  # offered again first
    rest = s.offer(3)
    assert len(rest) == OFFERS and not set(rest) & set(got)
    s.choked(3)
    assert s.offer(3) == []  # offered again, but 3 heard of them already: no new have
    assert all(s.announced(3, i) for i in rest)


def test_swarm_announces_nothing_then_offers_and_serves_only_those() -> None:
    """[SEED-1] empty bitfield, offers as have once unchoked; [SEED-2] a request for a piece
    not announced to the requester is rejected; an offer written in full brings the next."""
    d = Driver(meta=META, data=DATA, config=SUPER)
    r = Remote(d, 1, peer_id=LOW)
    r.join(META)
    (bitfield,) = r.take(ev.Bitfield)
    assert not any(bitfield.bits)  # type: ignore[attr-defined]
    assert r.take(ev.Unchoke)
    offered = [h.index for h in r.take(ev.Have)]  # type: ignore[attr-defined]
    assert len(offered) == OFFERS
    hidden = next(i for i in range(META.piece_count) if i not in offered)
    r.send(ev.Interested(), ev.Request(index=hidden, offset=0, length=K))
    assert [e.index for e in r.take(ev.Reject)] == [hidden]  # type: ignore[attr-defined]
    length = META.summary.piece_length(offered[0])
    r.send(ev.Request(index=offered[0], offset=0, length=length))
    assert [p.index for p in r.take(ev.Piece)] == [offered[0]]  # type: ignore[attr-defined]
    (new,) = [h.index for h in r.take(ev.Have)]  # type: ignore[attr-defined]
    assert new not in offered
    other = Remote(d, 2, peer_id=MID)
    other.join(META, have={offered[1]})  # the other offer is in the swarm already
    assert len(r.take(ev.Have)) == 1  # so peer 1 gets another in its place


def test_swarm_ends_super_seeding_once_every_piece_is_in_the_swarm() -> None:
    """[SEED-4] then every peer hears of every piece, and newcomers get a full bitfield."""
    d = Driver(meta=META, data=DATA, config=SUPER)
    r = Remote(d, 1, peer_id=LOW)
    r.join(META)
    for index in range(META.piece_count - 1):
        r.send(ev.Have(index=index))
    announced = {h.index for h in r.take(ev.Have)}  # type: ignore[attr-defined]
    assert len(announced) < META.piece_count
    r.send(ev.Have(index=META.piece_count - 1))  # the last piece reaches the swarm
    announced |= {h.index for h in r.take(ev.Have)}  # type: ignore[attr-defined]
    assert announced == set(range(META.piece_count))
    late = Remote(d, 2, peer_id=HIGH)
    late.join(META)
    (bitfield,) = late.take(ev.Bitfield)
    assert all(bitfield.bits[: META.piece_count // 8])  # type: ignore[attr-defined]
    late.send(ev.Interested(), ev.Request(index=3, offset=0, length=K))
    assert [p.index for p in late.take(ev.Piece)] == [3]  # type: ignore[attr-defined]


def test_choked_peer_offers_go_to_others_and_a_leaver_returns_its_copy() -> None:
    cfg = SwarmConfig(super_seeding=True, upload_slots=1, rechoke_interval=100.0)
    d = Driver(meta=META, data=DATA, config=cfg)
    first = Remote(d, 1, peer_id=LOW)
    first.join(META)
    first_offers = [h.index for h in first.take(ev.Have)]  # type: ignore[attr-defined]
    second = Remote(d, 2, peer_id=MID)
    second.join(META)
    assert second.take(ev.Have) == []  # no slot: no offer
    second.send(ev.Interested())  # [BEH-17] first is not interested: its slot goes to second
    assert first.take(ev.Choke)
    assert {h.index for h in second.take(ev.Have)} == set(first_offers)  # type: ignore[attr-defined]
    d.swarm.connection_lost(2, d.now)
    d.pump()
    third = Remote(d, 3, peer_id=HIGH)
    third.join(META)
    assert {h.index for h in third.take(ev.Have)} == set(first_offers)  # type: ignore[attr-defined]


def test_a_super_seeder_sends_each_piece_once_until_the_swarm_holds_a_copy() -> None:
    """The failure the simulator found (#19): a seeder that uploads one copy and leaves left
    the swarm without some pieces, because several downloaders fetched the same ones from it.
    Super-seeding makes its first uploads a full copy of distinct pieces, and everyone
    completes from that alone."""
    meta, data = make_share(24 * K, K)
    for super_seeding, distinct in ((False, False), (True, True)):
        net = Network(seed=3)
        config = SwarmConfig(super_seeding=super_seeding)
        seed = net.add_node("seed", metainfo=meta, data=data, config=config)
        sent: list[int] = []
        execute = net._execute

        def spy(
            node: object, action: object, seed: object = seed, sent: list[int] = sent, run=execute
        ) -> None:
            if node is seed and isinstance(action, SendBlock):
                sent.append(action.index)
            run(node, action)

        net._execute = spy  # type: ignore[method-assign]
        leechers = [net.add_node(f"leech{i}", metainfo=meta) for i in range(5)]
        for node in leechers:
            net.bootstrap(node, seed)
        assert net.run(net.all_complete, max_time=60)
        first_copy = sent[: meta.piece_count]
        assert (len(set(first_copy)) == meta.piece_count) is distinct, Counter(first_copy)
