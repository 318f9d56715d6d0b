"""`Swarm.get_timer()` is incremental (a heap of per-connection deadlines, recomputed only for
the connections something happened to): it must always equal the deadline computed from
scratch. The harness checks that after every call into every swarm (`checked_timer`); these
swarms make each term of the deadline the earliest one at some point, with spans and without,
with every connection slot taken, with a node dying mid-transfer and with a corrupt peer that
gets banned."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from p2pshare_core.actions import Send
from p2pshare_core.capabilities import Capability
from p2pshare_core.config import SwarmConfig
from swarm_harness import Driver, Network, Remote, checked_timer, make_share

K = 16 * 1024


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    leechers=st.integers(2, 4),
    pieces=st.integers(2, 24),
    span=st.booleans(),
    keepalive=st.sampled_from([0.05, 0.4, 30.0]),
    idle=st.sampled_from([0.3, 2.0, 120.0]),
    request_timeout=st.sampled_from([0.02, 0.2, 30.0]),
    pex_interval=st.sampled_from([0.01, 2.0]),
    kill_at=st.sampled_from([None, 0.02, 0.1]),
    corrupt=st.booleans(),
    slots=st.sampled_from([2, 3, 50]),
)
def test_incremental_timer_equals_the_full_computation(
    seed: int,
    leechers: int,
    pieces: int,
    span: bool,
    keepalive: float,
    idle: float,
    request_timeout: float,
    pex_interval: float,
    kill_at: float | None,
    corrupt: bool,
    slots: int,
) -> None:
    meta, content = make_share(pieces * K - 100, K, seed=seed)
    config = SwarmConfig(
        capabilities=int(Capability.SPAN) if span else 0,
        keepalive_interval=keepalive,
        idle_timeout=idle,
        request_timeout=request_timeout,
        pex_min_interval=pex_interval,
        rechoke_interval=0.05,
        optimistic_interval=0.15,
        max_connections=slots,  # (few: due addresses wait for a free slot)
    )
    net = Network(seed=seed, bandwidth=2e6, latency=0.002, keep_actions=False)
    seed_node = net.add_node("seed", metainfo=meta, data=content, config=config)
    nodes = [net.add_node(f"L{i}", metainfo=meta, config=config) for i in range(leechers)]
    fetcher = net.add_node("F", metainfo=None, share_id=meta.share_id, config=config)
    for node in [*nodes, fetcher]:
        net.bootstrap(node, seed_node)
    if corrupt:
        liar = net.add_node("liar", metainfo=meta, data=content, corrupt=True, config=config)
        for node in nodes:
            net.bootstrap(node, liar)
    if kill_at is not None:
        net.run(lambda: net.now >= kill_at, max_time=5)
        net.kill(nodes[0])
        nodes = nodes[1:]
    net.run(lambda: all(n.swarm.complete for n in [*nodes, fetcher]), max_time=5)
    for node in net.nodes.values():  # (the harness checked after every call; once more here)
        if not node.dead:
            checked_timer(node.swarm)


def test_a_silent_new_connection_is_timed_from_its_opening() -> None:
    """A dialer that knows no summary sends nothing until the acceptor's handshake [HS-12]: its
    new connection is in the timer without any send marking it, due at the handshake timeout."""
    meta, _ = make_share(4 * K, K)
    config = SwarmConfig(handshake_timeout=3.0, rechoke_interval=100.0)
    driver = Driver(meta=None, share_id=meta.share_id, config=config, now=5.0)
    Remote(driver, 1, peer_id=b"\x01" * 20, swarm_dialed=True)  # (pump checks the timer)
    assert not [a for a in driver.actions if isinstance(a, Send)]
    assert driver.swarm.get_timer() == 8.0
    driver.advance(8.0)  # no handshake in time [HS-18]
    assert 1 in driver.closed
