"""Extension SPAN (spec 5.2) in whole swarms on a simulated clock: used where both offer it,
never where one does not, and every piece still verified on its own."""

from __future__ import annotations

import pytest
from p2pshare_core.actions import SendBlock, StoreBlock
from p2pshare_core.capabilities import Capability
from p2pshare_core.config import SwarmConfig
from p2pshare_core.constants import MAX_SPAN_LENGTH
from swarm_harness import Network, Node, make_share

SPAN = int(Capability.SPAN)
K64 = 64 * 1024


def _disk(node: Node) -> bytes:
    assert node.disk is not None
    return bytes(node.disk)


def _sends(node: Node) -> list[SendBlock]:
    return [a for a in node.actions if isinstance(a, SendBlock)]


@pytest.mark.parametrize(
    ("seed_caps", "leech_caps", "spans"),
    [(SPAN, SPAN, True), (SPAN, 0, False), (0, SPAN, False), (0, 0, False)],
    ids=["both", "seeder-only", "leecher-only", "neither"],
)
def test_spans_only_where_both_offer_them(seed_caps: int, leech_caps: int, spans: bool) -> None:
    """[EXT-3, SPAN-1] the same download, byte-identical, whichever side lacks the bit."""
    meta, data = make_share(3 * 1024 * 1024 + 5000, K64, seed=3)  # last piece short
    net = Network(seed=2, bandwidth=50e6, latency=0.002)
    seed = net.add_node(
        "seed", metainfo=meta, data=data, config=SwarmConfig(capabilities=seed_caps)
    )
    leech = net.add_node("leech", metainfo=meta, config=SwarmConfig(capabilities=leech_caps))
    net.bootstrap(leech, seed)
    assert net.run(net.all_complete, max_time=60)
    assert _disk(leech) == data
    sent = _sends(seed)
    span_sends = [a for a in sent if a.span]
    if spans:
        # nearly everything went out as spans of up to MAX_SPAN_LENGTH, the short piece too
        assert sum(a.length for a in span_sends) >= meta.file_size * 0.8
        assert max(a.length for a in span_sends) <= MAX_SPAN_LENGTH
        assert any(a.index + a.span == meta.piece_count for a in span_sends) or any(
            a.index == meta.piece_count - 1 for a in sent
        )
        assert len(sent) < meta.piece_count / 3
    else:
        assert not span_sends and len(sent) == meta.piece_count
    assert sum(a.length for a in sent) == meta.file_size  # nothing fetched twice


def test_a_span_is_stored_piece_by_piece_without_copies() -> None:
    """[SPAN-8] each piece of a span is its own StoreBlock (a view into the frame) and hash."""
    meta, data = make_share(16 * K64, K64, seed=4)
    net = Network(seed=4)
    seed = net.add_node("seed", metainfo=meta, data=data)
    leech = net.add_node("leech", metainfo=meta)
    net.bootstrap(leech, seed)
    assert net.run(net.all_complete, max_time=30)
    stores = [a for a in leech.actions if isinstance(a, StoreBlock)]
    assert sorted(a.index for a in stores) == list(range(meta.piece_count))
    assert all(a.offset == 0 and len(a.data) == K64 for a in stores)
    assert any(isinstance(a.data, memoryview) for a in stores)
    assert _sends(seed) and all(a.span >= 2 for a in _sends(seed))


def test_a_mixed_swarm_trades_through_both_kinds_of_connection() -> None:
    """Four downloaders, two of them plain version 1: everyone completes, and spans flow only
    between the two that offer the bit (and from the seeder to them)."""
    meta, data = make_share(4 * 1024 * 1024, 16 * 1024, seed=6)
    net = Network(seed=6, bandwidth=4e6, latency=0.005)
    seed = net.add_node("seed", metainfo=meta, data=data)
    plain = SwarmConfig(capabilities=0)
    leechers = [
        net.add_node(f"leech{i}", metainfo=meta, config=plain if i % 2 else SwarmConfig())
        for i in range(4)
    ]
    for leech in leechers:
        net.bootstrap(leech, seed)
    assert net.run(net.all_complete, max_time=120)
    for leech in leechers:
        assert _disk(leech) == data
    for i, leech in enumerate(leechers):
        if i % 2:
            assert not any(a.span for a in _sends(leech))
    assert any(a.span for a in _sends(seed))


def test_spans_behind_an_upload_limit_and_a_choke_are_rejected_whole() -> None:
    """[SPAN-5, SPAN-6] a capped seeder queues spans; those still queued when it chokes the
    requester get one span_reject each, and the download still completes elsewhere."""
    meta, data = make_share(2 * 1024 * 1024, 16 * 1024, seed=7)
    net = Network(seed=7, bandwidth=20e6, latency=0.002)
    capped = SwarmConfig(max_upload_rate=200_000, upload_slots=1, rechoke_interval=2.0)
    slow = net.add_node("slow", metainfo=meta, data=data, config=capped)
    fast = net.add_node("fast", metainfo=meta, data=data)
    leech = net.add_node("leech", metainfo=meta)
    other = net.add_node("other", metainfo=meta)
    for node in (leech, other):
        net.bootstrap(node, slow)
    net.run(lambda: net.now > 3.0, max_time=3.5)
    for node in (leech, other):
        net.bootstrap(node, fast)
    assert net.run(net.all_complete, max_time=120)
    assert _disk(leech) == data and _disk(other) == data
    assert any(a.span for a in _sends(slow))


@pytest.mark.parametrize("capabilities", [0, SPAN], ids=["v1", "span"])
def test_a_capped_seeder_serves_many_queued_peers_in_turn(capabilities: int) -> None:
    """Replies of several connections wait in one upload queue; draining it serves each
    connection's own requests (the queue is shared, the replies are not)."""
    meta, data = make_share(512 * 1024, 16 * 1024, seed=8)
    net = Network(seed=8, bandwidth=50e6, latency=0.002)
    capped = SwarmConfig(max_upload_rate=300_000, upload_slots=4, capabilities=capabilities)
    seed = net.add_node("seed", metainfo=meta, data=data, config=capped)
    leechers = [
        net.add_node(f"l{i}", metainfo=meta, config=SwarmConfig(capabilities=capabilities))
        for i in range(4)
    ]
    for leech in leechers:
        net.bootstrap(leech, seed)
    assert net.run(net.all_complete, max_time=60)
    assert all(_disk(leech) == data for leech in leechers)
    served = {a.conn_id for a in _sends(seed)}
    assert len(served) >= 2
