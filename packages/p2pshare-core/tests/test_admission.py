"""Admission and dial limits against one hostile host [SEC-6 .. SEC-11], on a manual clock."""

from __future__ import annotations

from p2pshare_core import codec
from p2pshare_core import events as ev
from p2pshare_core.actions import Dial, PeerBanned
from p2pshare_core.admission import DialPacer, HostCounts, host_key, pick_eviction
from p2pshare_core.config import SwarmConfig
from p2pshare_core.errors import ErrorCode
from swarm_harness import Driver, Remote, make_share

K = 16384
META, DATA = make_share(4 * K - 100, K)
US = b"\x80" * 20


def _pid(n: int) -> bytes:
    return bytes([0x10]) + n.to_bytes(19, "big")


def test_host_key_and_counts() -> None:
    assert host_key("::ffff:10.0.0.1") == "10.0.0.1"
    assert host_key("fe80::1%eth0") == "fe80::1"
    assert host_key("Example.ORG") == "example.org"
    counts = HostCounts()
    counts.add("10.0.0.1")
    counts.add("::ffff:10.0.0.1")
    assert counts.count("10.0.0.1") == 2
    counts.remove("10.0.0.1")
    counts.remove("10.0.0.1")
    counts.remove("10.0.0.1")  # (never below zero)
    assert counts.count("10.0.0.1") == 0


def test_pick_eviction_longest_without_data() -> None:
    assert pick_eviction([(1, 5.0, 0.0), (2, 3.0, 1.0), (3, 3.0, 0.5)], 20.0, 10.0) == 3
    assert pick_eviction([(1, 15.0, 0.0)], 20.0, 10.0) is None  # busy: nobody to replace
    assert pick_eviction([], 20.0, 10.0) is None


def test_dial_pacer_global_and_per_host() -> None:
    pacer = DialPacer(rate=5.0, burst=10, host_rate=2.0, host_burst=4)
    for _ in range(4):
        assert pacer.next_allowed("10.0.0.1", 0.0) == 0.0
        pacer.take("10.0.0.1", 0.0)
    assert pacer.next_allowed("10.0.0.1", 0.0) == 0.5  # one host: 2/s after a burst of 4
    for n in range(6):
        pacer.take(f"10.0.1.{n}", 0.0)
    assert pacer.next_allowed("10.0.2.1", 0.0) == 0.2  # everyone: 5/s after a burst of 10


def test_one_host_cannot_take_every_slot() -> None:
    """[SEC-6] Inbound connections from one IP above the per-host limit are refused at once
    (TOO_MANY_CONNECTIONS as the first frame); other hosts still get in; a closed connection
    stops counting at once."""
    d = Driver(meta=META, data=DATA, config=SwarmConfig(max_connections_per_host=3))
    remotes = [Remote(d, n, peer_id=_pid(n), host="10.6.6.6") for n in range(1, 5)]
    for r in remotes[:3]:
        r.join(META)
    assert d.closed[4].code is ErrorCode.TOO_MANY_CONNECTIONS
    assert [e.code for e in remotes[3].take(ev.Error)] == [ErrorCode.TOO_MANY_CONNECTIONS]  # type: ignore[attr-defined]
    Remote(d, 5, peer_id=_pid(5), host="10.0.0.5").join(META)
    assert 5 not in d.closed
    d.swarm.connection_lost(1, 0.0)
    d.pump()
    Remote(d, 6, peer_id=_pid(6), host="10.6.6.6").join(META)
    assert 6 not in d.closed


def test_half_open_flood_gives_way_to_new_connections() -> None:
    """[SEC-7] Connections that have not completed their handshake take no peer slot; when
    MAX_HANDSHAKING wait, the oldest makes room, so a flood cannot starve an honest peer;
    each still has the handshake deadline."""
    cfg = SwarmConfig(max_handshaking=4, max_connections=2, max_connections_per_host=100)
    d = Driver(meta=META, data=DATA, config=cfg)
    for n in range(1, 11):  # a flood of half-open connections, never a handshake
        Remote(d, n, peer_id=_pid(n), host="10.6.6.6")
    assert sorted(d.closed) == list(range(1, 7))  # the six oldest made room
    assert {c.code for c in d.closed.values()} == {ErrorCode.TOO_MANY_CONNECTIONS}
    honest = Remote(d, 11, peer_id=_pid(11), host="10.0.0.1")
    honest.join(META)
    assert 11 not in d.closed
    d.advance(cfg.handshake_timeout + 0.1)
    assert {n for n, c in d.closed.items() if c.code is ErrorCode.TIMEOUT} == {8, 9, 10}


def test_idle_peer_is_replaced_by_a_newcomer() -> None:
    """[SEC-8] Full: a newcomer replaces the peer longest without piece data, once that is
    EVICT_IDLE or more; while everyone is busy, the newcomer is refused instead."""
    cfg = SwarmConfig(max_connections=2, evict_idle=10.0)
    d = Driver(meta=META, data=DATA, config=cfg)
    Remote(d, 1, peer_id=_pid(1), host="10.0.0.1").join(META)
    Remote(d, 2, peer_id=_pid(2), host="10.0.0.2").join(META)
    d.advance(5.0)
    Remote(d, 3, peer_id=_pid(3), host="10.0.0.3").join(META)
    assert d.closed[3].code is ErrorCode.TOO_MANY_CONNECTIONS  # nobody idle long enough
    d.advance(12.0)
    busy = d.remotes[1]
    busy.send(ev.Interested())
    d.advance(20.0)  # (the rechoke unchokes it)
    busy.send(ev.Request(index=0, offset=0, length=K))  # peer 1 gets data at 20 s
    assert busy.take(ev.Piece)
    newcomer = Remote(d, 4, peer_id=_pid(4), host="10.0.0.4")
    newcomer.join(META)
    assert 4 not in d.closed
    assert d.closed[2].code is ErrorCode.TOO_MANY_CONNECTIONS  # idle since its handshake
    assert 1 not in d.closed


def test_pex_list_of_one_hosts_ports_is_dialled_slowly() -> None:
    """[SEC-9] A PEX list naming 50 ports of one host is not a port scan: after a burst of
    HOST_DIAL_BURST, at most HOST_DIAL_RATE attempts per second."""
    d = Driver(meta=META, data=DATA)
    a = Remote(d, 1, peer_id=b"\x01" * 20, host="10.0.0.1")
    a.join(META)
    victim = [ev.PeerEntry(peer_id=_pid(n), host="192.0.2.7", port=1000 + n) for n in range(50)]
    a.send(ev.Peers(entries=tuple(victim)))
    d.advance(10.0)
    dials = [x for x in d.actions if isinstance(x, Dial)]
    assert 4 <= len(dials) <= 4 + 2 * 10 + 1, len(dials)


def test_ban_is_reported_once_and_the_peer_never_redialled() -> None:
    """[SEC-11] One ban, one event; neither its address nor its id is dialled again."""
    big, _ = make_share(64 * K, K)
    d = Driver(meta=big, config=SwarmConfig(rechoke_interval=100.0, optimistic_interval=300.0))
    d.swarm.add_bootstrap("10.0.0.66", 7, 0.0)
    d.pump()
    liar = Remote(d, 1, peer_id=b"\xf0" * 20, host="10.0.0.66", port=7, swarm_dialed=True)
    liar.join(big, have=set(range(64)), listen_port=7)
    liar.send(ev.Unchoke())
    for req in liar.take(ev.Request):
        i, o, n = req.triple  # type: ignore[attr-defined]
        liar.send(ev.Piece(index=i, offset=o, data=bytes(n)))
    for action in list(d.actions):
        if type(action).__name__ == "VerifyPiece":
            d.swarm.piece_hashed(action.index, b"\x00" * 32, d.now)  # type: ignore[attr-defined]
            d.pump()
    bans = [a for a in d.actions if isinstance(a, PeerBanned)]
    assert bans == [PeerBanned(b"\xf0" * 20, "10.0.0.66")]
    before = len([a for a in d.actions if isinstance(a, Dial)])
    d.swarm.add_bootstrap("10.0.0.66", 7, d.now)
    d.advance(d.now + 3600.0)
    assert len([a for a in d.actions if isinstance(a, Dial)]) == before


# --- one liar does not end a download [BEH-16] -------------------------------------------------
def _liar_first(d: Driver) -> tuple[Remote, Remote]:
    """Two bootstrap peers; the liar's handshake (right share ID, wrong name) arrives first,
    so the honest peer's true handshake looks like the mismatch."""
    d.swarm.add_bootstrap("10.0.0.66", 1, 0.0)
    d.swarm.add_bootstrap("10.0.0.2", 2, 0.0)
    d.pump()
    liar = Remote(d, 1, peer_id=b"\x66" * 20, host="10.0.0.66", port=1, swarm_dialed=True)
    liar.send(liar.handshake(META, name="lies.bin"), ev.Bitfield(bits=b"\xf0"))
    honest = Remote(d, 2, peer_id=b"\x22" * 20, host="10.0.0.2", port=2, swarm_dialed=True)
    honest.parse = False  # (it would refuse the swarm's handshake, which carries the lie)
    honest.send_raw(codec.encode(honest.handshake(META)))
    assert d.closed[2].code is ErrorCode.SHARE_MISMATCH
    return liar, honest


def _redialled(d: Driver, host: str, until: float) -> bool:
    before = sum(1 for a in d.actions if isinstance(a, Dial) and a.host == host)
    d.advance(until)
    return sum(1 for a in d.actions if isinstance(a, Dial) and a.host == host) > before


def test_honest_peer_refused_for_a_liars_summary_is_redialled_after_the_truth() -> None:
    """The liar serves the true metainfo: it contradicts the liar's handshake [META-8], the
    summary is corrected, and the honest peer (dropped while the lie stood) is dialled again."""
    d = Driver(meta=None, share_id=META.share_id)
    liar, _ = _liar_first(d)
    blob = META.encode()
    liar.send(ev.MetainfoData(chunk=0, total_size=len(blob), data=blob))
    assert d.closed[1].code is ErrorCode.SHARE_MISMATCH
    assert d.swarm.summary == META.summary
    assert _redialled(d, "10.0.0.2", 10.0)


def test_honest_peer_refused_for_a_liars_summary_is_redialled_after_bad_metainfo() -> None:
    """The liar serves a metainfo that does not hash to the share ID [META-14]: nobody vouches
    for its summary any more, so it is forgotten and the honest peer dialled again."""
    d = Driver(meta=None, share_id=META.share_id)
    liar, _ = _liar_first(d)
    size = liar.handshake(META, name="lies.bin").summary.metainfo_size
    liar.send(ev.MetainfoData(chunk=0, total_size=size, data=bytes(size)))
    assert d.closed[1].code is ErrorCode.BAD_METAINFO
    assert d.swarm.summary is None
    assert _redialled(d, "10.0.0.2", 10.0)


def test_silent_peers_holding_upload_slots_give_way_to_an_interested_one() -> None:
    """[BEH-17] New peers are unchoked while slots are free; peers that never say interested
    then hold every slot. A peer that is interested gets one at once (an idle holder is
    choked), not at the next rechoke."""
    cfg = SwarmConfig(upload_slots=2, rechoke_interval=100.0, optimistic_interval=300.0)
    d = Driver(meta=META, data=DATA, config=cfg)
    silent = [Remote(d, n, peer_id=_pid(n), host=f"10.0.0.{n}") for n in (1, 2)]
    for r in silent:
        r.join(META)
    assert all(r.take(ev.Unchoke) for r in silent)  # both slots taken by peers wanting nothing
    keen = Remote(d, 3, peer_id=_pid(3), host="10.0.0.3")
    keen.join(META)
    assert not keen.take(ev.Unchoke)
    keen.send(ev.Interested())
    assert keen.take(ev.Unchoke)
    assert sum(len(r.take(ev.Choke)) for r in silent) == 1
