"""Swarm against scripted peers: handshakes, serving, timers, errors, bans, PEX, metainfo."""

from __future__ import annotations

import hashlib

import pytest
from p2pshare_core import codec
from p2pshare_core import events as ev
from p2pshare_core.actions import (
    Dial,
    DownloadComplete,
    FileCorrupt,
    MetainfoReady,
    PeerBanned,
    PeerConnected,
    PeerDisconnected,
    PieceFailed,
    PieceVerified,
    StoreBlock,
    VerifyFile,
    VerifyPiece,
)
from p2pshare_core.bitfield import Bitfield as PieceSet
from p2pshare_core.config import SwarmConfig
from p2pshare_core.constants import PEX_MIN_INTERVAL
from p2pshare_core.errors import ErrorCode
from p2pshare_core.metainfo import Metainfo
from p2pshare_core.swarm import Swarm
from swarm_harness import Driver, Remote, make_share

K = 16384
META, DATA = make_share(4 * K - 100, K)  # 4 pieces, the last one short
BIG, BIG_DATA = make_share(64 * K, K)
US = b"\x80" * 20
LOW = b"\x10" * 20
HIGH = b"\xf0" * 20
QUIET = SwarmConfig(rechoke_interval=100.0, optimistic_interval=300.0)


def _codes(remote: Remote) -> list[int]:
    return [e.code for e in remote.take(ev.Error)]  # type: ignore[attr-defined]


def _closed(driver: Driver, conn_id: int) -> ErrorCode:
    return driver.closed[conn_id].code


# --- construction ----------------------------------------------------------------------------
def test_constructor_checks() -> None:
    with pytest.raises(ValueError):
        Swarm(
            peer_id=US, listen_port=1, share_id=b"x" * 32, metainfo=META, have=None,
            config=SwarmConfig(), now=0.0,
        )  # fmt: skip
    with pytest.raises(ValueError):
        Swarm(
            peer_id=US, listen_port=1, share_id=None, metainfo=None,
            have=PieceSet(4), config=SwarmConfig(), now=0.0,
        )  # fmt: skip
    with pytest.raises(ValueError):
        Swarm(
            peer_id=US, listen_port=1, share_id=None, metainfo=META,
            have=PieceSet(5), config=SwarmConfig(), now=0.0,
        )  # fmt: skip
    with pytest.raises(ValueError):
        SwarmConfig(min_pipeline_depth=10, initial_pipeline_depth=5)
    with pytest.raises(ValueError):
        SwarmConfig(block_size=0)
    with pytest.raises(ValueError):
        SwarmConfig(max_upload_rate=0)
    with pytest.raises(ValueError):
        SwarmConfig(upload_burst=-1.0)
    with pytest.raises(ValueError):
        SwarmConfig(max_connections=0)


# --- handshakes and timers ---------------------------------------------------------------------
def test_acceptor_speaks_first_and_timers_are_exact() -> None:
    d = Driver(meta=META, data=DATA, config=QUIET)
    assert d.swarm.get_timer() == 100.0  # only the rechoke
    r = Remote(d, 1, peer_id=LOW)
    hs, bf = r.take()
    assert isinstance(hs, ev.Handshake) and hs.peer_id == US and hs.listen_port == 7000
    assert isinstance(bf, ev.Bitfield) and bf.bits == PieceSet.full(4).to_bytes()
    assert d.swarm.get_timer() == 10.0  # handshake timeout
    d.now = 1.0
    r.join(META)
    assert [type(e) for e in r.take()] == [ev.Unchoke]  # a free slot: unchoked at once
    assert isinstance(d.actions[-1], PeerConnected)
    assert d.swarm.get_timer() == 31.0  # keepalive: 30 s after our last frame
    d.advance(31.0)
    assert [type(e) for e in r.take()] == [ev.KeepAlive]
    assert d.swarm.get_timer() == 61.0
    d.now = 50.0
    r.send(ev.KeepAlive())
    d.advance(120.9)
    assert 1 not in d.closed
    # the rechoke at 100 s choked the uninterested peer (a frame sent): keepalive due at 130
    assert d.swarm.get_timer() == 130.0
    d.advance(169.9)
    assert d.swarm.get_timer() == 170.0  # idle timeout: 120 s after the last frame from them
    d.advance(170.0)
    assert _closed(d, 1) is ErrorCode.TIMEOUT
    assert ErrorCode.TIMEOUT in _codes(r)
    assert isinstance(d.actions[-1], PeerDisconnected)


def test_handshake_timeout() -> None:
    d = Driver(meta=META, data=DATA, config=QUIET)
    r = Remote(d, 1, peer_id=LOW)
    d.advance(9.99)
    assert not d.closed
    d.advance(10.0)
    assert _closed(d, 1) is ErrorCode.TIMEOUT
    assert _codes(r) == [ErrorCode.TIMEOUT]


def test_dialer_without_summary_waits_and_copies_it() -> None:
    d = Driver(meta=None, share_id=None)
    d.swarm.add_bootstrap("10.0.0.9", 5555, 0.0)
    assert d.pump() == [Dial("10.0.0.9", 5555)]
    r = Remote(d, 1, peer_id=HIGH, swarm_dialed=True)
    assert r.take() == []  # waits for the acceptor's handshake
    r.join(META, have={0, 1, 2, 3}, listen_port=5555)
    r.send(ev.Unchoke())
    got = r.take()
    hs = got[0]
    assert isinstance(hs, ev.Handshake) and hs.summary == META.summary
    assert hs.share_id == META.share_id and hs.peer_id == US
    assert isinstance(got[1], ev.Bitfield) and got[1].bits == b"\x00"
    kinds = [type(e) for e in got[2:]]
    assert ev.Interested in kinds and ev.MetainfoRequest in kinds
    # serve the metainfo; the swarm verifies it against the share ID and starts downloading
    blob = META.encode()
    r.send(ev.MetainfoData(chunk=0, total_size=len(blob), data=blob))
    assert any(isinstance(a, MetainfoReady) and a.metainfo == META for a in d.actions)
    requests = r.take(ev.Request)
    assert len(requests) == 4
    assert d.swarm.stats(0.0).metainfo_known


def test_acceptor_without_summary_refuses() -> None:
    d = Driver(meta=None, share_id=META.share_id)
    r = Remote(d, 1, peer_id=LOW)
    assert _closed(d, 1) is ErrorCode.SHUTDOWN
    assert _codes(r) == [ErrorCode.SHUTDOWN]


def test_waiting_dialer_rejects_a_different_share() -> None:
    d = Driver(meta=None, share_id=None)
    a = Remote(d, 1, peer_id=HIGH, swarm_dialed=True)
    b = Remote(d, 2, peer_id=LOW, swarm_dialed=True)
    a.join(META)
    other, _ = make_share(5 * K, K, seed=9)
    b.send(b.handshake(other))
    assert _closed(d, 2) is ErrorCode.SHARE_MISMATCH


def test_too_many_connections() -> None:
    """The limit counts peers whose handshake is complete [DUP-7, SEC-7]: the second is
    accepted, and refused once its handshake would take a slot a busy peer holds [SEC-8]."""
    d = Driver(meta=META, data=DATA, config=SwarmConfig(max_connections=1))
    Remote(d, 1, peer_id=LOW).join(META)
    r2 = Remote(d, 2, peer_id=HIGH, host="10.0.0.10")
    assert 2 not in d.closed
    r2.join(META)
    assert _closed(d, 2) is ErrorCode.TOO_MANY_CONNECTIONS
    assert _codes(r2) == [ErrorCode.TOO_MANY_CONNECTIONS]
    assert 1 not in d.closed


def test_self_connection_is_dropped_and_never_redialed() -> None:
    d = Driver(meta=META, data=DATA)
    d.swarm.add_bootstrap("127.0.0.1", 7000, 0.0)
    assert d.pump() == [Dial("127.0.0.1", 7000)]
    r = Remote(d, 1, peer_id=US, swarm_dialed=True, host="127.0.0.1", port=7000)
    r.send(r.handshake(META))
    assert _closed(d, 1) is ErrorCode.SELF_CONNECTION
    d.advance(1000.0)
    assert not [a for a in d.actions if isinstance(a, Dial)][1:]


@pytest.mark.parametrize(
    ("theirs", "first_outbound", "closed_conn"),
    [
        (LOW, False, 1),  # we are higher: keep the one we dialed (the second)
        (LOW, True, 2),
        (HIGH, False, 2),  # they are higher: keep the one they dialed
        (HIGH, True, 1),
    ],
)
def test_duplicate_connection_keeps_the_higher_ids_dial(
    theirs: bytes, first_outbound: bool, closed_conn: int
) -> None:
    d = Driver(meta=META, data=DATA)
    a = Remote(d, 1, peer_id=theirs, swarm_dialed=first_outbound)
    a.join(META)
    b = Remote(d, 2, peer_id=theirs, swarm_dialed=not first_outbound, port=5556)
    b.join(META)
    assert list(d.closed) == [closed_conn]
    assert _closed(d, closed_conn) is ErrorCode.DUPLICATE_CONNECTION
    assert d.swarm.stats(0.0).connected_peers == 1


def test_duplicate_dialed_twice_by_us_closes_the_later() -> None:
    d = Driver(meta=META, data=DATA)
    Remote(d, 1, peer_id=LOW, swarm_dialed=True).join(META)
    Remote(d, 2, peer_id=LOW, swarm_dialed=True, port=5556).join(META)
    assert list(d.closed) == [2]
    assert _closed(d, 2) is ErrorCode.DUPLICATE_CONNECTION


def test_duplicate_dialed_twice_by_them_is_theirs_to_close() -> None:
    d = Driver(meta=META, data=DATA)
    a = Remote(d, 1, peer_id=LOW)
    a.join(META, listen_port=6000)
    b = Remote(d, 2, peer_id=LOW, port=5556)
    b.join(META, listen_port=6000)
    assert d.closed == {}  # [DUP-5] the dialer closes the later one, not us
    assert d.swarm.stats(0.0).connected_peers == 2
    a.send(ev.Error(code=ErrorCode.DUPLICATE_CONNECTION, reason="dup"))  # it closes the older
    c = Remote(d, 3, peer_id=LOW, port=5557)
    c.join(META, listen_port=6000)
    assert d.closed.keys() == {1}  # b now stands for LOW; c is again theirs to close
    b.send_raw(b"")
    c.send_raw(b"")
    assert d.swarm.stats(0.0).connected_peers == 0


# --- protocol errors and closes ---------------------------------------------------------------
def test_protocol_error_sends_error_frame_then_closes() -> None:
    d = Driver(meta=META, data=DATA)
    r = Remote(d, 1, peer_id=LOW)
    r.join(META)
    r.take()
    r.send_raw(codec.encode(ev.Have(index=99)))
    assert _closed(d, 1) is ErrorCode.OUT_OF_RANGE
    (err,) = r.take(ev.Error)
    assert err.code == ErrorCode.OUT_OF_RANGE and "MSG-1" in err.reason  # type: ignore[attr-defined]
    r.send_raw(b"\x00\x00\x00\x00")  # late bytes on a closed connection: ignored
    d.swarm.connection_lost(1, 0.0)  # the node reports the transport gone: harmless


def test_peer_error_and_eof_close_quietly() -> None:
    d = Driver(meta=META, data=DATA)
    a = Remote(d, 1, peer_id=LOW)
    a.join(META)
    a.send(ev.Error(code=ErrorCode.SHUTDOWN, reason="bye"))
    assert _closed(d, 1) is ErrorCode.SHUTDOWN
    b = Remote(d, 2, peer_id=b"\x11" * 20)
    b.join(META)
    b.send_raw(codec.encode(ev.Error(code=999, reason="odd")))  # unknown codes are accepted
    assert _closed(d, 2) is ErrorCode.SHUTDOWN
    c = Remote(d, 3, peer_id=b"\x12" * 20)
    c.join(META)
    c.take()
    c.send_raw(b"")
    assert _closed(d, 3) is ErrorCode.SHUTDOWN
    assert c.take(ev.Error) == []  # no error frame in reply to a normal close
    Remote(d, 4, peer_id=b"\x13" * 20)
    d.swarm.connection_lost(4, 0.0)
    assert isinstance(d.pump()[-1], PeerDisconnected)
    Remote(d, 5, peer_id=LOW)
    with pytest.raises(ValueError):
        d.swarm.connection_opened(5, "10.0.0.5", 1, False, 0.0)  # conn ids are unique


# --- serving -----------------------------------------------------------------------------------
def test_serves_requests_and_rejects_what_it_cannot() -> None:
    d = Driver(meta=META, have={0}, config=QUIET)
    r = Remote(d, 1, peer_id=LOW)
    r.join(META, have={1, 2, 3})
    assert [type(e) for e in r.take()][-2:] == [ev.Unchoke, ev.Interested]
    r.send(ev.Interested())
    d.data = DATA  # the "disk" holds piece 0
    r.send(ev.Request(index=0, offset=0, length=K), ev.Request(index=1, offset=0, length=K))
    (piece,) = r.take(ev.Piece)
    assert piece.data == DATA[:K]  # type: ignore[attr-defined]
    assert [e.index for e in r.take(ev.Reject)] == [1]  # type: ignore[attr-defined]
    st = d.swarm.stats(0.0)
    assert st.bytes_to == {LOW: K} and st.peers[0].bytes_up == K


def test_requests_while_choked_are_rejected() -> None:
    d = Driver(meta=META, data=DATA, config=SwarmConfig(upload_slots=0))
    r = Remote(d, 1, peer_id=LOW)
    r.join(META)
    r.send(ev.Interested(), ev.Request(index=0, offset=0, length=K))
    assert len(r.take(ev.Reject)) == 1 and r.take(ev.Piece) == []
    d.advance(3 * d.swarm.config.rechoke_interval)  # rechokes: no slot, no optimistic one either
    assert r.take(ev.Unchoke) == []


def test_upload_rate_limit_delays_blocks() -> None:
    cfg = SwarmConfig(max_upload_rate=K, upload_burst=1.0, rechoke_interval=100.0)
    d = Driver(meta=META, data=DATA, config=cfg)
    r = Remote(d, 1, peer_id=LOW)
    r.join(META)
    r.take()
    r.send(*(ev.Request(index=i, offset=0, length=META.summary.piece_length(i)) for i in range(4)))
    assert [p.index for p in r.take(ev.Piece)] == [0, 1]  # type: ignore[attr-defined]
    assert d.swarm.get_timer() == 1.0  # the bucket owes one block: refilled after 1 s
    d.advance(1.0)
    assert [p.index for p in r.take(ev.Piece)] == [2]  # type: ignore[attr-defined]
    assert d.swarm.get_timer() == 2.0
    r.send(ev.Cancel(index=3, offset=0, length=K - 100))
    assert [x.index for x in r.take(ev.Reject)] == [3]  # type: ignore[attr-defined]
    r.send(ev.Cancel(index=0, offset=0, length=K))  # already answered: nothing happens
    assert r.take() == []


def test_upload_rate_limit_holds_over_the_long_run() -> None:
    """The bucket's burst is short, so even a transfer of a few seconds keeps to the limit."""
    rate = 4 * K  # bytes/s: BIG (64 blocks) takes 16 s
    cfg = SwarmConfig(max_upload_rate=rate, rechoke_interval=100.0)
    d = Driver(meta=BIG, data=BIG_DATA, config=cfg)
    r = Remote(d, 1, peer_id=LOW)
    r.join(BIG)
    r.take()
    r.send(*(ev.Request(index=i, offset=0, length=K) for i in range(BIG.piece_count)))
    sent = len(r.take(ev.Piece)) * K
    burst = rate * cfg.upload_burst + K  # the bucket, plus one block of debt
    assert sent <= burst
    now = 0.0
    while sent < BIG.file_size and now < 100.0:
        now = round(now + 0.05, 2)
        d.advance(now)
        sent += len(r.take(ev.Piece)) * K
        assert sent <= rate * now + burst  # never ahead of the limit by more than the burst
    assert sent == BIG.file_size
    # the whole file took within 3 % of file_size / rate
    assert BIG.file_size / rate * 0.97 <= now <= BIG.file_size / rate * 1.03


def test_choking_rejects_queued_requests() -> None:
    cfg = SwarmConfig(max_upload_rate=1000, upload_slots=1, rechoke_interval=10.0)
    d = Driver(meta=META, data=DATA, config=cfg)
    a = Remote(d, 1, peer_id=LOW)
    a.join(META)
    a.take()
    a.send(*(ev.Request(index=i, offset=0, length=K) for i in range(3)))
    assert len(a.take(ev.Piece)) == 1  # then the bucket is 15 s in debt
    # a is not interested, so the rechoke at 10 s chokes it; its queued requests get rejects
    d.advance(10.0)
    got = a.take()
    assert [type(e) for e in got] == [ev.Choke, ev.Reject, ev.Reject]
    assert [e.index for e in got[1:]] == [1, 2]  # type: ignore[attr-defined]


def test_rechoke_keeps_slots_plus_one_optimistic() -> None:
    d = Driver(meta=META, data=DATA, config=SwarmConfig(upload_slots=1))
    remotes = [Remote(d, i, peer_id=bytes([i]) * 20) for i in range(1, 5)]
    for r in remotes:
        r.join(META)
        r.send(ev.Interested())
    d.advance(10.0)
    unchoked = [r for r in remotes if not r.conn.peer_choking]
    assert len(unchoked) == 2
    d.advance(40.0)
    assert len([r for r in remotes if not r.conn.peer_choking]) == 2


# --- downloading -------------------------------------------------------------------------------
def _serve(remote: Remote, data: bytes, bad: bool = False) -> int:
    """Answer every request the remote got; returns how many."""
    reqs = remote.take(ev.Request)
    for req in reqs:
        i, o, n = req.triple  # type: ignore[attr-defined]
        start = i * K + o
        chunk = data[start : start + n]
        if bad:
            chunk = bytes(b ^ 1 for b in chunk)
        remote.send(ev.Piece(index=i, offset=o, data=chunk))
    return len(reqs)


def _hash_all(d: Driver, disk: bytearray) -> None:
    """Act as the node's disk: store blocks and answer piece verifications."""
    assert d.meta is not None
    for _ in range(1000):
        pending = [a for a in d.actions if isinstance(a, StoreBlock | VerifyPiece | VerifyFile)]
        if not pending:
            return
        d.actions = [a for a in d.actions if a not in pending]
        for a in pending:
            if isinstance(a, StoreBlock):
                start = a.index * K + a.offset
                disk[start : start + len(a.data)] = a.data
            elif isinstance(a, VerifyPiece):
                start = a.index * K
                digest = hashlib.sha256(disk[start : start + K]).digest()
                d.swarm.piece_hashed(a.index, digest, d.now)
                d.pump()
            else:
                d.swarm.file_hashed(hashlib.sha1(disk).digest(), d.now)
                d.pump()


def test_download_from_one_peer_then_have_everywhere() -> None:
    d = Driver(meta=META)
    disk = bytearray(META.file_size)
    seed = Remote(d, 1, peer_id=HIGH)
    other = Remote(d, 2, peer_id=LOW)
    seed.join(META, have={0, 1, 2, 3})
    other.join(META)
    seed.send(ev.Unchoke())
    while _serve(seed, DATA):
        _hash_all(d, disk)
    _hash_all(d, disk)
    assert bytes(disk) == DATA
    assert any(isinstance(a, DownloadComplete) for a in d.actions)
    assert d.swarm.complete
    assert sorted(h.index for h in other.take(ev.Have)) == [0, 1, 2, 3]  # type: ignore[attr-defined]
    assert [type(e) for e in seed.take() if isinstance(e, ev.NotInterested)]
    st = d.swarm.stats(1.0)
    assert st.have_count == 4 and st.bytes_verified == META.file_size and st.complete
    assert st.bytes_from == {HIGH: META.file_size}
    verified = [a for a in d.actions if isinstance(a, PieceVerified)]
    assert all(a.from_peers == (HIGH,) for a in verified)


def test_file_hash_mismatch_reports_corruption() -> None:
    lying = Metainfo(META.name, META.file_size, K, b"\x00" * 20, META.piece_hashes)
    d = Driver(meta=lying)
    disk = bytearray(META.file_size)
    seed = Remote(d, 1, peer_id=HIGH)
    seed.join(lying, have={0, 1, 2, 3})
    seed.send(ev.Unchoke())
    _serve(seed, DATA)
    _hash_all(d, disk)  # every piece is right, the whole-file SHA-1 is not
    assert d.actions[-1] == FileCorrupt()
    d.swarm.piece_hashed(0, b"x" * 32, 0.0)  # not waiting for it: ignored
    d.swarm.file_hashed(b"\x00" * 20, 0.0)  # no verification pending: ignored
    assert d.pump() == []
    assert not d.swarm.complete


def test_empty_file_completes_without_peers() -> None:
    meta = Metainfo("empty.bin", 0, K, hashlib.sha1(b"").digest(), ())
    d = Driver(meta=meta)
    assert d.actions == [VerifyFile()]
    d.swarm.file_hashed(hashlib.sha1(b"").digest(), 0.0)
    d.pump()
    assert d.actions[-1] == DownloadComplete()
    seeder = Driver(meta=meta, data=b"")
    assert seeder.actions == [] and seeder.swarm.complete


def test_bad_pieces_cost_parole_then_a_ban() -> None:
    d = Driver(meta=BIG, config=SwarmConfig(random_first_pieces=0))
    disk = bytearray(BIG.file_size)
    liar = Remote(d, 1, peer_id=HIGH, host="10.0.0.66")
    liar.join(BIG, have=set(range(64)), listen_port=6066)
    liar.send(ev.Unchoke())
    for _ in range(10):
        reqs = liar.take(ev.Request)
        if 1 in d.closed or not reqs:
            break
        for req in reqs[:4]:
            i, o, n = req.triple  # type: ignore[attr-defined]
            liar.send(ev.Piece(index=i, offset=o, data=bytes(n)))
        _hash_all(d, disk)
        liar.inbox = [e for e in liar.inbox if not isinstance(e, ev.Request)] + reqs[4:]
    failed = [a for a in d.actions if isinstance(a, PieceFailed)]
    assert len(failed) == 4 and all(a.peers == (HIGH,) for a in failed)
    assert d.swarm.parole(HIGH) == -8
    assert PeerBanned(HIGH, "10.0.0.66") in d.actions
    assert _closed(d, 1) is ErrorCode.BANNED
    assert ErrorCode.BANNED in _codes(liar)
    again = Remote(d, 2, peer_id=HIGH, host="10.0.0.66")
    again.join(BIG)
    assert _closed(d, 2) is ErrorCode.BANNED


def test_pipeline_is_topped_up_in_batches() -> None:
    """[BEH-1] one request message per depth/4 answered blocks, not one per block."""
    d = Driver(meta=BIG, config=QUIET)
    seed = Remote(d, 1, peer_id=HIGH)
    seed.join(BIG, have=set(range(64)))
    seed.send(ev.Unchoke())
    reqs = seed.take(ev.Request)
    assert len(reqs) == 16  # the initial depth, in one message
    for n, req in enumerate(reqs[:8], start=1):
        i, o, length = req.triple  # type: ignore[attr-defined]
        before = len(d.actions)
        seed.send(ev.Piece(index=i, offset=o, data=BIG_DATA[i * K : i * K + length]))
        assert len(d.actions) > before  # (stored and verified as usual)
        got = seed.take(ev.Request)
        # 16 // 4 = 4: nothing after blocks 1-3, then 4 requests at once; again at block 8
        assert len(got) == (4 if n % 4 == 0 else 0), (n, len(got))


def test_pipeline_bounds_count_blocks_of_64_kib() -> None:
    """[BEH-1] found by the simulator (#19): with whole 256 KiB pieces as blocks, a start of 16
    and a floor of 4 blocks queued seconds of data at a slow uploader. The bounds count blocks
    of 64 KiB: 256 KiB blocks start at 4 and go down to 1 (64 KiB blocks and smaller: 16, 4)."""
    piece = 256 * 1024
    meta, _ = make_share(20 * piece, piece)
    d = Driver(meta=meta, config=QUIET)
    seed = Remote(d, 1, peer_id=HIGH)
    seed.join(meta, have=set(range(20)))
    seed.send(ev.Unchoke())
    assert len(seed.take(ev.Request)) == 4
    d.advance(d.swarm.config.request_timeout)  # unanswered: snubbed, down to the floor
    assert d.swarm._peers[1].depth == 1


def test_request_timeout_rerequests_elsewhere() -> None:
    d = Driver(meta=BIG, config=QUIET)
    disk = bytearray(BIG.file_size)
    slow = Remote(d, 1, peer_id=HIGH)
    slow.join(BIG, have=set(range(64)))
    slow.send(ev.Unchoke())
    stuck = {r.triple for r in slow.take(ev.Request)}  # type: ignore[attr-defined]
    assert len(stuck) == 16  # the initial pipeline depth
    assert d.swarm.get_timer() == 30.0  # request timeout of the oldest request
    d.now = 5.0
    assert not d.swarm.stats(5.0).peers[0].snubbed
    fast = Remote(d, 2, peer_id=LOW)
    fast.join(BIG, have=set(range(64)))
    fast.send(ev.Unchoke())
    d.advance(30.0)
    assert [p.snubbed for p in d.swarm.stats(30.0).peers] == [True, False]
    served: set[tuple[int, int, int]] = set()
    for _ in range(100):
        reqs = fast.take(ev.Request)
        if not reqs:
            break
        served |= {r.triple for r in reqs}  # type: ignore[attr-defined]
        fast.inbox.extend(reqs)
        _serve(fast, BIG_DATA)
        _hash_all(d, disk)
    assert stuck <= served  # everything the slow peer sat on came from the fast one
    assert d.swarm.complete
    # the slow peer's requests were never sent twice to it; its late reply is just ignored
    assert not {r.triple for r in slow.take(ev.Request)} & stuck  # type: ignore[attr-defined]
    i, o, n = sorted(stuck)[0]
    slow.send(ev.Piece(index=i, offset=o, data=BIG_DATA[i * K : i * K + n]))
    assert 1 not in d.closed


def _two_seeds() -> tuple[Driver, Remote, Remote]:
    d = Driver(meta=BIG, config=QUIET)
    a = Remote(d, 1, peer_id=HIGH)
    b = Remote(d, 2, peer_id=LOW)
    a.join(BIG, have=set(range(64)))
    b.join(BIG, have=set(range(64)))
    return d, a, b


def test_choke_and_reject_put_blocks_back() -> None:
    d, a, b = _two_seeds()
    a.send(ev.Unchoke())
    b.send(ev.Unchoke())
    ra = {r.triple for r in a.take(ev.Request)}  # type: ignore[attr-defined]
    rb = {r.triple for r in b.inbox if isinstance(r, ev.Request)}
    assert ra and rb and not ra & rb
    first = sorted(ra)[0]
    a.send(ev.Reject(index=first[0], offset=first[1], length=first[2]))
    assert d.swarm.get_timer() == 10.0  # the rejected piece may be asked of a again then
    a.send(ev.Choke())  # its other requests still get their one reply each [MSG-4]
    _serve(b, BIG_DATA)
    again = {r.triple for r in b.inbox if isinstance(r, ev.Request)}
    assert again and not again & (ra - {first})  # not asked twice while a may still send them
    assert not b.take(ev.Reject)
    second = sorted(ra)[1]
    a.send(ev.Reject(index=second[0], offset=second[1], length=second[2]))  # [MSG-16]
    asked: set[tuple[int, int, int]] = set()
    while second not in asked:  # now it is b's to send
        assert _serve(b, BIG_DATA)
        asked |= {r.triple for r in b.inbox if isinstance(r, ev.Request)}
    d.advance(10.0)  # the reject exclusion ends: a refill pass runs


def test_every_reject_exclusion_ends_in_a_refill() -> None:
    """Found by a stalled CI run: rejects at t=0 armed one refill at t=10; rejects at t=1 found
    it armed and added none; the refill at t=10 could ask for nothing (those pieces were still
    excluded until t=11), and the download stalled with its only seeder unchoking it."""
    d = Driver(meta=META, config=QUIET)
    a = Remote(d, 1, peer_id=HIGH)
    a.join(META, have=set(range(4)))
    a.send(ev.Unchoke())
    asked = [r.triple for r in a.take(ev.Request)]  # type: ignore[attr-defined]
    assert len(asked) == 4  # every piece: nothing else to ask for while they are excluded
    a.send(ev.Reject(index=asked[0][0], offset=asked[0][1], length=asked[0][2]))
    d.advance(1.0)
    d.now = 1.0
    for index, offset, length in asked[1:]:
        a.send(ev.Reject(index=index, offset=offset, length=length))
    d.advance(10.5)  # the first exclusion ended: asked again for that piece only
    assert {r.triple for r in a.take(ev.Request)} == {asked[0]}  # type: ignore[attr-defined]
    d.advance(11.5)  # the others' exclusions ended too: asked again, with no other event
    again = {r.triple for r in a.take(ev.Request)}  # type: ignore[attr-defined]
    assert set(asked[1:]) <= again


def test_data_written_before_a_choke_is_not_fetched_twice() -> None:
    """What the simulator found (#19): an uploader writes every request it accepts at once, so
    after its choke the data of our requests is usually on its way. Re-requesting those blocks
    elsewhere at the choke fetched them twice; they are now re-requested only when rejected."""
    d, a, b = _two_seeds()
    a.send(ev.Unchoke())
    asked = [r.triple for r in a.take(ev.Request)]  # type: ignore[attr-defined]
    a.send(ev.Choke())
    b.send(ev.Unchoke())
    from_b = {r.triple for r in b.take(ev.Request)}  # type: ignore[attr-defined]
    assert from_b and not from_b & set(asked)
    for index, offset, length in asked:  # the data a wrote before choking arrives
        a.send(ev.Piece(index=index, offset=offset, data=BIG_DATA[index * K + offset :][:length]))
    stored = [x for x in d.actions if isinstance(x, StoreBlock)]
    assert len(stored) == len(asked)  # every block useful: none was asked of b as well


# --- PEX and dialing ---------------------------------------------------------------------------
def test_pex_first_message_at_once_then_paced() -> None:
    d = Driver(meta=META, data=DATA, config=QUIET)
    a = Remote(d, 1, peer_id=LOW, host="10.0.0.1")
    a.join(META, listen_port=6001)
    assert a.take(ev.Peers) == []  # nobody else to tell about
    b = Remote(d, 2, peer_id=b"\x11" * 20, host="10.0.0.2")
    b.join(META, listen_port=6002)
    (to_b,) = b.take(ev.Peers)
    assert [(e.host, e.port) for e in to_b.entries] == [("10.0.0.1", 6001)]  # type: ignore[attr-defined]
    (to_a,) = a.take(ev.Peers)
    assert [(e.host, e.port) for e in to_a.entries] == [("10.0.0.2", 6002)]  # type: ignore[attr-defined]
    d.now = 0.5
    c = Remote(d, 3, peer_id=b"\x12" * 20, host="10.0.0.3")
    c.join(META, listen_port=0)  # not listening: never advertised
    d.now = 1.0
    e = Remote(d, 4, peer_id=b"\x13" * 20, host="10.0.0.4")
    e.join(META, listen_port=6004)
    assert a.take(ev.Peers) == []  # changed, but the last one went out < PEX_MIN_INTERVAL ago
    assert PEX_MIN_INTERVAL == 2.0
    assert d.swarm.get_timer() == 2.0
    d.advance(2.0)
    (later,) = a.take(ev.Peers)
    assert {x.port for x in later.entries} == {6002, 6004}  # type: ignore[attr-defined]
    (first,) = c.take(ev.Peers)  # c's first message came right after its bitfield, at 0.5 s
    assert {x.port for x in first.entries} == {6001, 6002}  # type: ignore[attr-defined]
    assert d.swarm.get_timer() == 2.5  # e joined at 1 s: c hears of it 2 s after its first
    d.advance(2.5)
    (second,) = c.take(ev.Peers)
    assert {x.port for x in second.entries} == {6001, 6002, 6004}  # type: ignore[attr-defined]
    assert d.swarm.get_timer() == 31.0  # e's keepalive (last frame to it at 1 s); no PEX pending


def test_pex_received_dials_by_rule_and_limits_rate() -> None:
    d = Driver(meta=META, data=DATA)
    a = Remote(d, 1, peer_id=LOW)
    a.join(META)
    entries = (
        ev.PeerEntry(peer_id=b"\x20" * 20, host="10.1.0.1", port=1),  # lower: we dial
        ev.PeerEntry(peer_id=HIGH, host="10.1.0.2", port=2),  # higher: it dials us
        ev.PeerEntry(peer_id=US, host="10.1.0.3", port=3),  # ourselves
    )
    a.send(ev.Peers(entries=entries))
    assert [x for x in d.actions if isinstance(x, Dial)] == [Dial("10.1.0.1", 1)]
    d.now = 0.5  # < PEX_MIN_INTERVAL / 2 after the first
    a.send(ev.Peers(entries=()))
    assert _closed(d, 1) is ErrorCode.PEX_VIOLATION
    d.swarm.dial_failed("10.1.0.1", 1, 0.5)
    assert d.swarm.get_timer() == 1.5  # backoff: 1 s
    d.advance(1.5)
    assert [x for x in d.actions if isinstance(x, Dial)][-1] == Dial("10.1.0.1", 1)


def test_pex_spaced_messages_are_fine() -> None:
    d = Driver(meta=META, data=DATA)
    a = Remote(d, 1, peer_id=LOW)
    a.join(META)
    a.send(ev.Peers(entries=()))
    d.now = 2.5  # half the 5 s minimum is tolerated (network queueing) [PEX-9]
    a.send(ev.Peers(entries=()))
    assert not d.closed


def test_reconnects_to_a_lost_bootstrap_peer() -> None:
    d = Driver(meta=META)
    d.swarm.add_bootstrap("10.0.0.9", 5555, 0.0)
    d.pump()
    r = Remote(d, 1, peer_id=HIGH, swarm_dialed=True)
    r.join(META, have={0})
    d.now = 3.0
    d.swarm.connection_lost(1, 3.0)
    d.pump()
    assert d.swarm.get_timer() == 4.0
    d.advance(4.0)
    assert [x for x in d.actions if isinstance(x, Dial)] == [Dial("10.0.0.9", 5555)] * 2


def test_max_connections_limits_dials() -> None:
    d = Driver(meta=META, config=SwarmConfig(max_connections=1))
    d.swarm.add_bootstrap("10.0.0.1", 1, 0.0)
    d.swarm.add_bootstrap("10.0.0.2", 2, 0.0)
    assert [a for a in d.pump() if isinstance(a, Dial)] == [Dial("10.0.0.1", 1)]
    d.swarm.dial_failed("10.0.0.1", 1, 0.0)
    assert [a for a in d.pump() if isinstance(a, Dial)] == [Dial("10.0.0.2", 2)]


# --- metainfo ----------------------------------------------------------------------------------
def test_serves_metainfo_chunks() -> None:
    d = Driver(meta=META, data=DATA)
    r = Remote(d, 1, peer_id=LOW)
    r.join(META)
    r.send(ev.MetainfoRequest(chunk=0), ev.MetainfoRequest(chunk=1))
    (data,) = r.take(ev.MetainfoData)
    assert data.data == META.encode() and data.total_size == len(META.encode())  # type: ignore[attr-defined]
    assert [x.chunk for x in r.take(ev.MetainfoReject)] == [1]  # type: ignore[attr-defined]


def test_fetcher_rejects_and_retries_elsewhere() -> None:
    d = Driver(meta=None, share_id=META.share_id)
    blob = META.encode()
    a = Remote(d, 1, peer_id=HIGH, swarm_dialed=True)
    a.join(META, have={0, 1, 2, 3})
    (req,) = a.take(ev.MetainfoRequest)
    b = Remote(d, 2, peer_id=b"\xe0" * 20, swarm_dialed=True)
    b.join(META)
    assert b.take(ev.MetainfoRequest) == []  # the only chunk is being fetched from a
    a.send(ev.MetainfoReject(chunk=0))
    (req_b,) = b.take(ev.MetainfoRequest)
    bad = bytearray(blob)
    bad[-1] ^= 0xFF
    b.send(ev.MetainfoData(chunk=0, total_size=len(blob), data=bytes(bad)))
    assert _closed(d, 2) is ErrorCode.BAD_METAINFO  # hash mismatch
    assert d.swarm.metainfo is None
    c = Remote(d, 3, peer_id=b"\xd0" * 20, swarm_dialed=True)
    c.join(META)
    (req_c,) = c.take(ev.MetainfoRequest)
    d.advance(30.0)  # c never answers: timed out, c is not asked again
    assert c.take(ev.MetainfoRequest) == []
    e = Remote(d, 4, peer_id=b"\xc0" * 20, swarm_dialed=True)
    e.join(META)
    e.take(ev.MetainfoRequest)
    e.send(ev.MetainfoData(chunk=0, total_size=len(blob), data=blob))
    assert d.swarm.metainfo == META
    c.send(ev.MetainfoData(chunk=0, total_size=len(blob), data=blob))  # late: ignored
    assert req.chunk == req_b.chunk == req_c.chunk == 0


def test_fetcher_learns_from_a_peer_that_drops() -> None:
    d = Driver(meta=None, share_id=META.share_id)
    a = Remote(d, 1, peer_id=HIGH, swarm_dialed=True)
    a.join(META)
    assert a.take(ev.MetainfoRequest)
    b = Remote(d, 2, peer_id=b"\xe0" * 20, swarm_dialed=True)
    b.join(META)
    d.swarm.connection_lost(1, 0.0)
    d.pump()
    assert b.take(ev.MetainfoRequest)  # a's chunk moved to b


# --- corner cases ------------------------------------------------------------------------------
def test_inbound_self_connection_and_unadvertisable_host() -> None:
    d = Driver(meta=META, data=DATA)
    me = Remote(d, 1, peer_id=US)
    me.join(META)
    assert _closed(d, 1) is ErrorCode.SELF_CONNECTION
    named = Remote(d, 2, peer_id=LOW, host="localhost")  # not an IP literal: never in PEX
    named.join(META, listen_port=6000)
    other = Remote(d, 3, peer_id=b"\x11" * 20, host="10.0.0.3")
    other.join(META, listen_port=6003)
    assert other.take(ev.Peers) == []


def test_interested_peer_gets_a_slot_freed_by_a_leaver() -> None:
    d = Driver(meta=META, data=DATA, config=SwarmConfig(upload_slots=1))
    a = Remote(d, 1, peer_id=LOW)
    a.join(META)
    b = Remote(d, 2, peer_id=b"\x11" * 20)
    b.join(META)
    assert not a.conn.peer_choking and b.conn.peer_choking
    d.swarm.connection_lost(1, 0.0)
    d.pump()
    b.send(ev.Interested())
    assert not b.conn.peer_choking  # unchoked at once, not at the next rechoke
    b.send(ev.NotInterested())


def test_late_timer_call_keeps_the_rechoke_grid() -> None:
    d = Driver(meta=META, data=DATA)
    assert d.swarm.get_timer() == 10.0
    d.swarm.handle_timer(35.0)  # called late (a busy event loop)
    assert d.swarm.get_timer() == 40.0


def test_queued_uploads_of_a_closed_connection_are_dropped() -> None:
    d = Driver(meta=META, data=DATA, config=SwarmConfig(max_upload_rate=1000))
    a = Remote(d, 1, peer_id=LOW)
    b = Remote(d, 2, peer_id=b"\x11" * 20)
    a.join(META)
    b.join(META)
    a.send(*(ev.Request(index=i, offset=0, length=K) for i in range(3)))
    b.send(ev.Interested(), ev.Request(index=0, offset=0, length=K))
    d.swarm.connection_lost(1, 0.0)
    d.pump()
    d.advance(40.0)
    assert len(b.take(ev.Piece)) == 1


def test_ban_of_a_peer_that_already_left() -> None:
    d = Driver(meta=BIG, config=QUIET)
    disk = bytearray(BIG.file_size)
    liar = Remote(d, 1, peer_id=HIGH, host="10.0.0.66")
    liar.join(BIG, have=set(range(64)))
    liar.send(ev.Unchoke())
    for req in liar.take(ev.Request)[:4]:
        i, o, n = req.triple  # type: ignore[attr-defined]
        liar.send(ev.Piece(index=i, offset=o, data=bytes(n)))
    d.swarm.connection_lost(1, 0.0)
    d.pump()
    _hash_all(d, disk)
    # reported once, with the address it had, although it contributed to 4 failed pieces
    assert [a for a in d.actions if isinstance(a, PeerBanned)] == [PeerBanned(HIGH, "10.0.0.66")]
    assert d.swarm.get_timer() == 30.0  # the failed pieces' exclusion ends: a refill pass


def test_metainfo_that_matches_the_id_but_not_the_handshake() -> None:
    # `get HOST:PORT`: the share ID comes from the handshake, so a peer can name any blob
    d = Driver(meta=None, share_id=None)
    twin = Metainfo("b.bin", META.file_size, K, META.file_sha1, META.piece_hashes)
    r = Remote(d, 1, peer_id=HIGH, swarm_dialed=True)
    hs = r.handshake(META, share_id=twin.share_id, name="a.bin")
    r.send(hs, ev.Bitfield(bits=b"\xf0"))
    blob = twin.encode()
    r.send(ev.MetainfoData(chunk=0, total_size=len(blob), data=blob))
    assert _closed(d, 1) is ErrorCode.SHARE_MISMATCH  # [META-8] the metainfo is the truth
    assert d.swarm.metainfo == twin and d.swarm.summary == twin.summary
    assert any(isinstance(a, MetainfoReady) for a in d.actions)


def test_metainfo_that_matches_the_id_but_does_not_parse() -> None:
    d = Driver(meta=None, share_id=None)
    size = META.summary.metainfo_size
    garbage = b"XXXX" + bytes(size - 4)
    import hashlib as _h

    r = Remote(d, 1, peer_id=HIGH, swarm_dialed=True)
    r.send(r.handshake(META, share_id=_h.sha256(garbage).digest()), ev.Bitfield(bits=b"\xf0"))
    r.send(ev.MetainfoData(chunk=0, total_size=size, data=garbage))
    assert _closed(d, 1) is ErrorCode.BAD_METAINFO


def test_late_metainfo_reject_after_timeout() -> None:
    d = Driver(meta=None, share_id=META.share_id, config=QUIET)
    a = Remote(d, 1, peer_id=HIGH, swarm_dialed=True)
    a.join(META)
    assert a.take(ev.MetainfoRequest)
    d.advance(30.0)
    a.send(ev.MetainfoReject(chunk=0))  # arrives after we gave up on it: nothing to re-queue
    assert 1 not in d.closed


def test_no_have_to_a_peer_that_announced_the_piece() -> None:
    """[MSG-2, MSG-22] every verified piece is announced to the peers that lack it, never to
    one that announced it (in its bitfield, or in a have that came later)."""
    d = Driver(meta=META)
    disk = bytearray(META.file_size)
    seed = Remote(d, 1, peer_id=HIGH)
    half = Remote(d, 2, peer_id=LOW)
    empty = Remote(d, 3, peer_id=b"\x02" * 20)
    seed.join(META, have={0, 1, 2, 3})
    half.join(META, have={0, 1})
    empty.join(META)
    half.send(ev.Have(index=2))
    seed.send(ev.Unchoke())
    while _serve(seed, DATA):
        _hash_all(d, disk)
    _hash_all(d, disk)
    assert d.swarm.complete
    assert not seed.take(ev.Have)
    assert [h.index for h in half.take(ev.Have)] == [3]  # type: ignore[attr-defined]
    assert sorted(h.index for h in empty.take(ev.Have)) == [0, 1, 2, 3]  # type: ignore[attr-defined]


def test_have_sent_to_a_peer_still_owing_its_bitfield() -> None:
    d = Driver(meta=META)
    disk = bytearray(META.file_size)
    seed = Remote(d, 1, peer_id=HIGH)
    seed.join(META, have={0, 1, 2, 3})
    seed.send(ev.Unchoke())
    slow = Remote(d, 2, peer_id=LOW)
    slow.send(slow.handshake(META))  # no bitfield yet
    _serve(seed, DATA)
    _hash_all(d, disk)
    assert len(slow.take(ev.Have)) == 4 and d.swarm.complete


def test_shutdown_closes_everyone_politely_and_stops_dialing() -> None:
    d = Driver(meta=META)
    d.swarm.add_bootstrap("10.0.0.9", 5555, 0.0)
    d.pump()
    a = Remote(d, 1, peer_id=HIGH, swarm_dialed=True)
    a.join(META, have={0})
    b = Remote(d, 2, peer_id=LOW)
    d.swarm.shutdown(1.0)
    d.pump()
    assert _codes(a) == [ErrorCode.SHUTDOWN] and _codes(b) == [ErrorCode.SHUTDOWN]
    assert d.closed.keys() == {1, 2}
    c = Remote(d, 3, peer_id=b"\x11" * 20)
    assert _closed(d, 3) is ErrorCode.SHUTDOWN
    d.advance(100.0)
    assert [x for x in d.actions if isinstance(x, Dial)] == [Dial("10.0.0.9", 5555)]
    assert _codes(c) == [ErrorCode.SHUTDOWN]


def test_a_full_peer_table_does_not_make_the_timer_spin() -> None:
    """Found by the swarm simulator (#19): with every peer slot taken (connections plus dials
    under way) and more addresses due in the peer book, `get_timer()` returned that past
    deadline again after every `handle_timer`, so a node would spin on its timer until a slot
    freed. The book only counts while there is room to dial; a freed slot dials at once."""
    d = Driver(meta=META, config=SwarmConfig(max_connections=2))
    for i in range(4):
        d.swarm.add_bootstrap(f"10.0.0.{i + 1}", 7000, d.now)
    assert [a.host for a in d.pump() if isinstance(a, Dial)] == ["10.0.0.1", "10.0.0.2"]
    timer = d.swarm.get_timer()
    assert timer is not None and timer > d.now
    d.swarm.dial_failed("10.0.0.1", 7000, d.now)
    assert [a.host for a in d.pump() if isinstance(a, Dial)] == ["10.0.0.3"]
    timer = d.swarm.get_timer()
    assert timer is not None and timer > d.now
