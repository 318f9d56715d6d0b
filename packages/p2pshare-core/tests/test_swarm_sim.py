"""Whole swarms in memory (swarm_harness): several Swarms on a simulated clock and network."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from p2pshare_core.actions import Close, Dial, PeerBanned, PieceFailed
from p2pshare_core.capabilities import Capability
from p2pshare_core.config import SwarmConfig
from p2pshare_core.errors import ErrorCode
from swarm_harness import Network, Node, make_share

K = 16384


def _disk(node: Node) -> bytes:
    assert node.disk is not None
    return bytes(node.disk)


def test_one_seeder_one_leecher() -> None:
    meta, data = make_share(1024 * 1024 + 123, 64 * 1024)
    net = Network(seed=1)
    seed = net.add_node("seed", metainfo=meta, data=data)
    leech = net.add_node("leech", metainfo=meta)
    net.bootstrap(leech, seed)
    assert net.run(net.all_complete, max_time=60)
    assert _disk(leech) == data
    assert leech.completed_at is not None and leech.completed_at < 1.0
    stats = leech.swarm.stats(net.now)
    assert stats.complete and stats.bytes_verified == meta.file_size
    assert stats.bytes_from == {seed.peer_id: meta.file_size}  # no duplicates were downloaded
    assert seed.swarm.stats(net.now).bytes_to == {leech.peer_id: meta.file_size}


def test_downloaders_trade_when_the_file_is_larger_than_the_window() -> None:
    """[BEH-4] rarest-first keeps downloaders useful to each other past the front window.

    3072 pieces, 4 downloaders: the window (128 x 4 x 4 = 2048 pieces) is smaller than the file.
    From the seeder alone each would need 48 MiB / 8 MB/s = 6.3 s; trading, they finish in 2.3-2.7
    s. A rule that fetched the window's start first once the download ran a window past it (tried
    for the CPU-bound loopback case) made them fetch in file order from each other: 3.4 s here.
    """
    meta, data = make_share(3072 * K, K)
    net = Network(seed=1, bandwidth=8e6, latency=0.005)
    seed = net.add_node("seed", metainfo=meta, data=data)
    leechers = [net.add_node(f"leech{i}", metainfo=meta) for i in range(4)]
    for leech in leechers:
        net.bootstrap(leech, seed)
    assert net.run(net.all_complete, max_time=60)
    seeder_only = meta.file_size / 8e6
    for leech in leechers:
        assert _disk(leech) == data
        assert leech.completed_at is not None and leech.completed_at < seeder_only / 2


def test_big_pieces_are_fetched_in_blocks() -> None:
    meta, data = make_share(3 * 1024 * 1024 - 5, 1024 * 1024)
    net = Network(seed=2, bandwidth=50e6)
    seed = net.add_node("seed", metainfo=meta, data=data)
    leech = net.add_node("leech", metainfo=meta)
    net.bootstrap(leech, seed)
    assert net.run(net.all_complete, max_time=60)
    assert _disk(leech) == data


@pytest.mark.parametrize("seed", [3, 4])
def test_chain_bootstrap_becomes_a_mesh_via_pex(seed: int) -> None:
    meta, data = make_share(1024 * 1024, K, seed=seed)
    net = Network(seed=seed, bandwidth=2e6, latency=0.005)
    source = net.add_node(
        "seed", metainfo=meta, data=data, config=SwarmConfig(max_upload_rate=500_000)
    )
    leechers = [net.add_node(f"L{i}", metainfo=meta) for i in range(1, 6)]
    previous = source
    for node in leechers:
        net.bootstrap(node, previous)  # each knows only the one before it
        previous = node
    assert net.run(net.all_complete, max_time=600)
    for node in leechers:
        assert _disk(node) == data
    pairs = Counter(tuple(sorted(p)) for p in net.connections())
    assert all(count == 2 for count in pairs.values())  # both ends of one connection per pair
    assert len(pairs) == 15  # 6 nodes, fully meshed through PEX
    names = {n.peer_id: n.name for n in net.nodes.values()}
    from_leechers = 0
    for node in leechers:
        got = node.swarm.stats(net.now).bytes_from
        from_leechers += sum(v for k, v in got.items() if names[k] != "seed")
    assert from_leechers > 2 * meta.file_size  # most data flowed between leechers
    # duplicate connections were resolved by the rule, never by both sides closing both
    for node in net.nodes.values():
        dup = [a for a in node.actions if isinstance(a, Close)]
        assert all(a.code is ErrorCode.DUPLICATE_CONNECTION for a in dup)


@pytest.mark.parametrize("capabilities", [0, int(Capability.SPAN)], ids=["v1", "span"])
def test_corrupt_peer_is_banned_and_download_completes(capabilities: int) -> None:
    meta, data = make_share(1024 * 1024, K, seed=5)
    net = Network(seed=5, bandwidth=4e6, latency=0.002)
    config = SwarmConfig(capabilities=capabilities)
    good = net.add_node("good", metainfo=meta, data=data, config=config)
    bad = net.add_node("bad", metainfo=meta, data=data, corrupt=True, config=config)
    leech = net.add_node("leech", metainfo=meta, config=config)
    net.bootstrap(leech, good)
    net.bootstrap(leech, bad)
    assert net.run(net.all_complete, max_time=120)
    assert _disk(leech) == data
    failed = [a for a in leech.actions if isinstance(a, PieceFailed)]
    assert all(a.peers == (bad.peer_id,) for a in failed)
    assert leech.actions.count(PeerBanned(bad.peer_id, bad.host)) == 1
    if not capabilities:
        assert len(failed) == 4
        assert leech.swarm.parole(bad.peer_id) == -8
    else:
        # Spans already in flight when the ban falls still arrive (and fail): a few more
        # failures, never more than one pipeline's worth.
        assert 4 <= len(failed) <= SwarmConfig().max_pipeline_depth
    dials = [a for a in leech.actions if isinstance(a, Dial)]
    assert dials.count(Dial(bad.host, bad.port)) == 1  # never redialed after the ban


def test_leecher_without_metainfo_fetches_and_verifies_it() -> None:
    meta, data = make_share(200_000, K, seed=6, name="report.pdf")
    net = Network(seed=6)
    seed = net.add_node("seed", metainfo=meta, data=data)
    by_id = net.add_node("by-id", metainfo=None, share_id=meta.share_id)
    by_addr = net.add_node("by-addr", metainfo=None, share_id=None)  # `get HOST:PORT`
    net.bootstrap(by_id, seed)
    net.bootstrap(by_addr, seed)
    assert net.run(net.all_complete, max_time=60)
    for node in (by_id, by_addr):
        assert node.metainfo == meta and _disk(node) == data


def test_big_metainfo_comes_in_chunks_from_several_peers() -> None:
    meta, data = make_share(2100 * K, K, seed=7)  # 2100 hashes: a 67 KiB metainfo, 2 chunks
    net = Network(seed=7)
    seeds = [net.add_node(f"s{i}", metainfo=meta, data=data) for i in range(2)]
    fetcher = net.add_node("f", metainfo=None, share_id=meta.share_id)
    for s in seeds:
        net.bootstrap(fetcher, s)
    assert net.run(net.all_complete, max_time=120)
    assert _disk(fetcher) == data


def test_simulated_timers_fire_on_time() -> None:
    """An idle pair: keepalives every 30 s keep the connection open for an hour."""
    meta, data = make_share(10 * K, K)
    net = Network(seed=8)
    seed = net.add_node("seed", metainfo=meta, data=data)
    leech = net.add_node("leech", metainfo=meta)
    net.bootstrap(leech, seed)
    assert net.run(net.all_complete, max_time=60)
    start = net.events
    net.run(lambda: False, max_time=3600)
    assert net.now <= 3600
    assert len(net.connections()) == 2  # never idled out
    assert net.events - start < 3600  # timers, not busy polling


def test_empty_share_fetched_by_id() -> None:
    meta, data = make_share(0, K, seed=9, name="empty.txt")
    net = Network(seed=9)
    seed = net.add_node("seed", metainfo=meta, data=data)
    fetcher = net.add_node("f", metainfo=None, share_id=meta.share_id)
    net.bootstrap(fetcher, seed)
    assert net.run(net.all_complete, max_time=10)
    assert fetcher.metainfo == meta and fetcher.completed_at is not None


def test_swarm_survives_a_leecher_dying_mid_transfer() -> None:
    meta, data = make_share(1024 * 1024, K, seed=10)
    net = Network(seed=10, bandwidth=1e6, latency=0.005)
    source = net.add_node("seed", metainfo=meta, data=data)
    leechers = [net.add_node(f"L{i}", metainfo=meta) for i in range(4)]
    for node in leechers:
        net.bootstrap(node, source)
    net.run(lambda: net.now >= 0.3, max_time=600)
    assert not net.all_complete()
    net.kill(leechers[0])
    assert net.run(net.all_complete, max_time=600)
    for node in leechers[1:]:
        assert _disk(node) == data
    dead = (leechers[0].host, leechers[0].port)
    for node in leechers[1:]:
        peers = {(p.host, p.port) for p in node.swarm.stats(net.now).peers}
        assert dead not in peers
    # later: nobody keeps dialing the dead address (retries stop once nothing is needed)
    net.run(lambda: False, max_time=net.now + 300)
    late = [a for n in leechers[1:] for a in n.actions[-50:] if a == Dial(*dead)]
    assert len(late) <= 3 * 8


@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    leechers=st.integers(1, 5),
    pieces=st.integers(1, 40),
    piece_kib=st.sampled_from([16, 64, 512]),
    bandwidth=st.sampled_from([None, 5e6]),
    fetchers=st.integers(0, 2),
    corrupt=st.booleans(),
    data=st.data(),
)
def test_random_swarms_always_finish(
    seed: int,
    leechers: int,
    pieces: int,
    piece_kib: int,
    bandwidth: float | None,
    fetchers: int,
    corrupt: bool,
    data: st.DataObject,
) -> None:
    """Honest nodes bootstrapped along any tree, with or without a liar mixed in, all finish.

    (The tree is over honest nodes: a node whose only contact is a liar, and whose peer ID is
    the lowest, cannot dial the peers it hears of [DUP-1] once it bans the liar.)
    """
    piece_size = piece_kib * 1024
    size = pieces * piece_size - data.draw(st.integers(0, piece_size - 1))
    meta, content = make_share(size, piece_size, seed=seed)
    net = Network(seed=seed, bandwidth=bandwidth, latency=0.003)
    honest = [net.add_node("seed", metainfo=meta, data=content)]
    for i in range(leechers):
        honest.append(net.add_node(f"L{i}", metainfo=meta))
    for i in range(fetchers):
        honest.append(net.add_node(f"F{i}", metainfo=None, share_id=meta.share_id))
    for i, node in enumerate(honest[1:], start=1):
        net.bootstrap(node, honest[data.draw(st.integers(0, i - 1))])  # a random tree
    if corrupt:
        liar = net.add_node("liar", metainfo=meta, data=content, corrupt=True)
        net.bootstrap(liar, honest[0])
        for node in honest[1:]:
            if data.draw(st.booleans()):
                net.bootstrap(node, liar)
    assert net.run(lambda: all(n.swarm.complete for n in honest), max_time=900)
    for node in honest:
        assert _disk(node) == content
