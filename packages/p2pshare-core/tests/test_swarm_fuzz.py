"""Hostile input is normal input [SEC-3]: whatever a peer sends, the swarm never raises; a
violation ends in an error frame and a Close, and everything the swarm sends stays legal."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from p2pshare_core import codec
from p2pshare_core import events as ev
from p2pshare_core.actions import Close, Send, SendBlock
from p2pshare_core.config import SwarmConfig
from p2pshare_core.errors import LocalProtocolError, ProtocolError
from swarm_harness import Driver, Remote, make_share

K = 16384
META, DATA = make_share(5 * K + 7, K)  # 6 pieces
US = b"\x80" * 20

index = st.integers(0, 7)
offset = st.sampled_from([0, 1, K - 1, K])
length = st.sampled_from([1, 7, K, K + 1])
entries = st.lists(
    st.builds(
        ev.PeerEntry,
        peer_id=st.sampled_from([b"\x01" * 20, US, b"\xfe" * 20]),
        host=st.sampled_from(["10.0.0.1", "::1", "0.0.0.0"]),
        port=st.sampled_from([0, 1, 6881]),
    ),
    max_size=3,
)
events = st.one_of(
    st.builds(ev.Have, index=index),
    st.builds(ev.Request, index=index, offset=offset, length=length),
    st.builds(ev.Reject, index=index, offset=offset, length=length),
    st.builds(ev.Cancel, index=index, offset=offset, length=length),
    st.builds(
        ev.Piece, index=index, offset=offset, data=st.sampled_from([b"x", bytes(K), bytes(7)])
    ),
    st.sampled_from(
        [ev.Choke(), ev.Unchoke(), ev.Interested(), ev.NotInterested(), ev.KeepAlive()]
    ),
    st.builds(ev.Peers, entries=entries.map(tuple)),
    st.builds(ev.MetainfoRequest, chunk=st.integers(0, 2)),
    st.builds(ev.MetainfoReject, chunk=st.integers(0, 2)),
    st.builds(
        ev.MetainfoData,
        chunk=st.integers(0, 1),
        total_size=st.integers(0, 300),
        data=st.binary(max_size=300),
    ),
    st.builds(ev.Bitfield, bits=st.binary(max_size=2)),
    st.builds(ev.Error, code=st.integers(0, 20), reason=st.just("x")),
)
steps = st.lists(
    st.tuples(st.one_of(events, st.binary(max_size=12)), st.floats(0.0, 40.0), st.booleans()),
    max_size=25,
)
roles = st.sampled_from(["seeder", "leecher", "fetcher"])


def _driver(role: str, limited: bool) -> Driver:
    cfg = SwarmConfig(max_upload_rate=K if limited else None)
    if role == "seeder":
        return Driver(meta=META, data=DATA, config=cfg, peer_id=US)
    if role == "leecher":
        return Driver(meta=META, have={1, 3}, config=cfg, peer_id=US)
    return Driver(meta=None, share_id=META.share_id, config=cfg, peer_id=US)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(role=roles, limited=st.booleans(), have=st.sets(st.integers(0, 5)), script=steps)
def test_any_peer_input_is_survivable(
    role: str, limited: bool, have: set[int], script: list[tuple[object, float, bool]]
) -> None:
    d = _driver(role, limited)
    d.data = DATA
    remote = Remote(d, 1, peer_id=b"\x01" * 20, swarm_dialed=role == "fetcher")
    remote.join(META, have=have, listen_port=6881)
    for item, dt, raw in script:
        if 1 in d.closed:
            break
        if isinstance(item, bytes):
            data = item
            remote.parse = False
        elif raw:
            data = codec.encode(item)  # type: ignore[arg-type]  # bypass the remote's rules
            remote.parse = False
        else:
            try:
                data = remote.conn.send(item)  # type: ignore[arg-type]  # a legal peer
            except LocalProtocolError:
                continue
        d.swarm.data_received(1, data, d.now)  # must never raise
        try:
            d.pump()  # while the remote is legal, its Connection checks all our output
        except ProtocolError as err:
            raise AssertionError(f"swarm sent something illegal: {err}") from err
        d.advance(d.now + dt)
    d.advance(d.now + 200.0)  # every timer eventually fires; nothing left hanging
    closes = [a for a in d.actions if isinstance(a, Close)]
    assert len(closes) <= 1
    assert 1 in d.closed or d.swarm.stats(d.now).connected_peers == 0 or not closes
    while (action := d.swarm.next_action()) is not None:
        assert not isinstance(action, Send | SendBlock)
