"""PeerBook: dial rule, limits, backoff, bans; PEX entry building and pacing."""

from __future__ import annotations

from p2pshare_core.config import SwarmConfig
from p2pshare_core.events import PeerEntry
from p2pshare_core.peerbook import PeerBook, PexPacer, build_pex_entries

MID = b"\x80" * 20
LOW = b"\x10" * 20
HIGH = b"\xf0" * 20


def _entry(n: int, pid: bytes | None = None, port: int = 6881) -> PeerEntry:
    pid = pid if pid is not None else bytes([0]) + n.to_bytes(19, "big")
    return PeerEntry(peer_id=pid, host=f"10.0.{n // 250}.{n % 250 + 1}", port=port)


def test_bootstrap_dialed_at_once_and_once() -> None:
    book = PeerBook(MID)
    book.add_bootstrap("10.0.0.1", 1, 5.0)
    assert book.next_deadline() == 5.0
    assert book.take_dials(4.9, 10, need=True) == []
    assert book.take_dials(5.0, 10, need=True) == [("10.0.0.1", 1)]
    assert book.take_dials(6.0, 10, need=True) == []
    assert book.next_deadline() is None
    known = book.get("10.0.0.1", 1)
    assert known is not None and known.dialing and known.bootstrap


def test_pex_dial_rule_only_higher_id_dials() -> None:
    book = PeerBook(MID)
    added = book.add_pex(
        HIGH,
        [_entry(1, LOW), _entry(2, HIGH), _entry(3, MID), _entry(4, LOW[:19] + b"\x11", port=0)],
        0.0,
    )
    assert added == 1  # only LOW: we are higher; HIGH dials us; MID is us; port 0 unreachable
    assert book.take_dials(0.0, 10, need=True) == [("10.0.0.2", 6881)]
    assert book.add_pex(HIGH, [_entry(1, LOW)], 0.0) == 0  # known already


def test_limits_per_source_and_total() -> None:
    cfg = SwarmConfig(max_peers_per_source=3, max_known_peers=5)
    book = PeerBook(HIGH, cfg)
    assert book.add_pex(b"a" * 20, [_entry(i) for i in range(10)], 0.0) == 3
    assert book.add_pex(b"b" * 20, [_entry(i) for i in range(10, 20)], 0.0) == 2
    assert len(book) == 5
    book.remember("10.9.9.9", 9, LOW, 0.0)  # full: not remembered
    assert book.get("10.9.9.9", 9) is None


def _failures(book: PeerBook, host: str, port: int, rounds: int = 20) -> list[float]:
    """Fail every attempt to (host, port); the delays between attempts, until it gives up."""
    now, delays = 0.0, []
    for _ in range(rounds):
        assert book.take_dials(now, 1, need=True) == [(host, port)]
        book.dial_failed(host, port, now)
        nxt = book.next_deadline()
        if nxt is None:
            break
        delays.append(nxt - now)
        now = nxt
    return delays


def test_backoff_doubles_to_the_cap_and_gives_up() -> None:
    """A PEX-learned peer: 1, 2, 4 ... 60 s, and no more after reconnect_tries [BEH-10]."""
    cfg = SwarmConfig(reconnect_tries=9, reconnect_max=60.0)
    book = PeerBook(MID, cfg)
    book.add_pex(HIGH, [_entry(1, LOW)], 0.0)
    assert _failures(book, "10.0.0.2", 6881) == [1, 2, 4, 8, 16, 32, 60, 60]


def test_default_gives_up_after_eight_tries() -> None:
    book = PeerBook(MID)
    book.add_pex(HIGH, [_entry(1, LOW)], 0.0)
    assert len(_failures(book, "10.0.0.2", 6881)) + 1 == 8
    book.dial_failed("10.5.5.5", 5, 0.0)  # unknown address: ignored


def test_bootstrap_is_retried_until_the_node_gives_up() -> None:
    """A user-given address keeps its capped backoff forever: the node's give-up decides
    [BEH-14] (a seeder that is restarting, or not up yet, is found when it comes back)."""
    book = PeerBook(MID)
    book.add_bootstrap("10.0.0.1", 1, 0.0)
    assert _failures(book, "10.0.0.1", 1) == [1, 2, 4, 8, 16, 32] + [60] * 14


def test_violations_back_off_exponentially_and_survive_handshakes() -> None:
    """A peer dropped for breaking the protocol is not redialled every second: 2, 4, 8 ... s
    after each violation, although each connection handshook fine [SEC-10]."""
    book = PeerBook(MID)
    book.add_bootstrap("10.0.0.1", 1, 0.0)
    now, gaps = 0.0, []
    for _ in range(5):
        assert book.take_dials(now, 1, need=True) == [("10.0.0.1", 1)]
        book.connected("10.0.0.1", 1, LOW)
        book.disconnected("10.0.0.1", 1, LOW, now, retry=True, violation=True)
        nxt = book.next_deadline()
        assert nxt is not None
        gaps.append(nxt - now)
        now = nxt
    assert gaps == [2, 4, 8, 16, 32]
    assert book.take_dials(now, 1, need=True) == [("10.0.0.1", 1)]
    book.disconnected("10.0.0.1", 1, None, now, retry=False, violation=True)
    book.add_bootstrap("10.0.0.1", 1, now)  # named again by the user: still not before
    assert book.next_deadline() == now + 64


def test_reconnect_only_while_needed_unless_bootstrap() -> None:
    book = PeerBook(MID)
    book.add_pex(HIGH, [_entry(1, LOW)], 0.0)
    book.add_bootstrap("10.0.0.9", 9, 0.0)
    assert len(book.take_dials(0.0, 10, need=True)) == 2
    book.connected("10.0.0.2", 6881, LOW)
    book.connected("10.0.0.9", 9, HIGH)
    assert book.is_connected(LOW) and book.is_connected(HIGH)
    book.disconnected("10.0.0.2", 6881, LOW, 10.0, retry=True)
    book.disconnected("10.0.0.9", 9, HIGH, 10.0, retry=True)
    assert not book.is_connected(LOW)
    assert book.next_deadline() == 11.0
    # we finished downloading: only the bootstrap peer is redialed
    assert book.take_dials(11.0, 10, need=False) == [("10.0.0.9", 9)]


def test_disconnect_without_retry_and_lower_ids_are_not_redialed() -> None:
    book = PeerBook(MID)
    book.remember("10.0.0.5", 5, HIGH, 0.0)  # it dialed us; higher id: it redials, not us
    book.connected("10.0.0.5", 5, HIGH)
    book.disconnected("10.0.0.5", 5, HIGH, 1.0, retry=True)
    assert book.next_deadline() is None
    book.remember("10.0.0.6", 6, LOW, 0.0)
    book.connected("10.0.0.6", 6, LOW)
    book.disconnected("10.0.0.6", 6, LOW, 1.0, retry=False)
    assert book.next_deadline() is None
    book.disconnected("10.0.0.7", 0, None, 1.0, retry=True)  # no address: nothing to do


def test_connected_counts_connections_and_skips_dials() -> None:
    book = PeerBook(MID)
    book.add_pex(HIGH, [_entry(1, LOW)], 0.0)
    book.connected("10.1.1.1", 0, LOW)  # it dialed us from elsewhere first
    book.connected("10.1.1.2", 0, LOW)
    assert book.take_dials(0.0, 10, need=True) == []  # already connected: skipped
    book.disconnected("10.1.1.1", 0, LOW, 1.0, retry=False)
    assert book.is_connected(LOW)
    book.disconnected("10.1.1.2", 0, LOW, 1.0, retry=False)
    assert not book.is_connected(LOW)


def test_bootstrap_again_revives_and_learns_id() -> None:
    book = PeerBook(MID)
    book.add_bootstrap("10.0.0.1", 1, 0.0)
    book.take_dials(0.0, 1, need=True)
    book.add_bootstrap("10.0.0.1", 1, 1.0)  # still dialing: not scheduled twice
    assert book.next_deadline() is None
    book.dial_failed("10.0.0.1", 1, 1.0)
    book.add_bootstrap("10.0.0.1", 1, 1.5)
    assert book.next_deadline() == 1.5
    book.add_pex(HIGH, [_entry(0, LOW)], 2.0)
    assert book.get("10.0.0.1", 1) is not None
    # a pex peer given again as bootstrap becomes a bootstrap peer
    book.add_pex(HIGH, [PeerEntry(peer_id=LOW, host="10.3.3.3", port=3)], 2.0)
    book.add_bootstrap("10.3.3.3", 3, 2.0)
    known = book.get("10.3.3.3", 3)
    assert known is not None and known.bootstrap
    book.disconnected("10.3.3.3", 3, LOW, 3.0, retry=False)
    assert known.peer_id == LOW


def test_ban_and_self_are_never_dialed() -> None:
    book = PeerBook(MID)
    book.add_pex(HIGH, [_entry(1, LOW), _entry(2, b"\x20" * 20)], 0.0)
    book.ban(LOW, "10.0.0.2", 6881)
    assert book.is_banned(LOW)
    book.add_pex(HIGH, [_entry(1, LOW)], 0.0)  # banned: not re-learned
    book.mark_self("10.0.0.3", 6881)
    book.add_pex(b"x" * 20, [_entry(2, b"\x21" * 20)], 0.0)  # our own address: ignored
    assert book.take_dials(0.0, 10, need=True) == []
    book.add_bootstrap("10.4.4.4", 4, 0.0)
    book.ban(b"\x30" * 20, "10.4.4.4", 4)  # banned by address (bootstrap entry)
    book.ban(b"\x31" * 20, "", 0)  # unknown peer, no address
    assert book.take_dials(0.0, 10, need=True) == []
    book.add_bootstrap("10.4.4.4", 4, 1.0)  # the user gives a banned address again: ignored
    book.add_bootstrap("10.0.0.3", 6881, 1.0)  # ...or our own address
    book.add_pex(HIGH, [PeerEntry(peer_id=b"\x40" * 20, host="10.4.4.4", port=4)], 1.0)
    assert book.next_deadline() is None


def test_build_pex_entries_excludes_recipient_and_unreachable() -> None:
    entries = [_entry(i) for i in range(60)] + [_entry(99, port=0)]
    entries.insert(1, entries[1])  # the same peer twice (a duplicate connection)
    recipient = entries[0].peer_id
    built = build_pex_entries(entries, recipient, 50)
    assert len(built) == 50
    assert recipient not in {e.peer_id for e in built}
    assert all(e.port for e in built)


def test_pex_pacer() -> None:
    pacer = PexPacer(5.0)
    assert pacer.due(1.0) == 1.0
    assert not pacer.should_send((), 1.0)  # first message only with entries
    one = (_entry(1),)
    assert pacer.should_send(one, 1.0)
    assert pacer.due(2.0) == 6.0
    two = (*one, _entry(2))
    assert not pacer.should_send(two, 5.9)  # too soon
    assert not pacer.should_send(one, 6.0)  # unchanged
    assert pacer.should_send(two, 6.0)
    assert pacer.should_send((), 11.0)  # a change to empty is still news


def test_rescheduling_leaves_a_stale_heap_entry_behind() -> None:
    book = PeerBook(MID)
    book.add_bootstrap("10.0.0.1", 1, 0.0)
    assert book.take_dials(0.0, 1, need=True)
    book.dial_failed("10.0.0.1", 1, 0.0)  # retry at 1.0
    book.add_bootstrap("10.0.0.1", 1, 0.5)  # the user insists: now
    assert book.take_dials(0.5, 1, need=True) == [("10.0.0.1", 1)]
    assert book.next_deadline() is None  # the 1.0 entry is stale


def test_pex_never_dials_unspecified_multicast_or_broadcast() -> None:
    book = PeerBook(MID)
    hosts = ["0.0.0.0", "::", "224.0.0.1", "ff02::1", "255.255.255.255", "10.0.0.1", "::1"]
    entries = [
        PeerEntry(peer_id=LOW[:19] + bytes([i]), host=h, port=1) for i, h in enumerate(hosts)
    ]
    assert book.add_pex(HIGH, entries, 0.0) == 2
    assert sorted(book.take_dials(0.0, 10, need=True)) == [("10.0.0.1", 1), ("::1", 1)]


def test_build_pex_entries_keeps_loopback_to_loopback() -> None:
    """[PEX-13] 127.0.0.1 means "the recipient itself" to another machine: never sent there."""
    local = PeerEntry(peer_id=b"\x01" * 20, host="127.0.0.1", port=7000)
    mapped = PeerEntry(peer_id=b"\x02" * 20, host="::ffff:127.0.0.2", port=7000)
    six = PeerEntry(peer_id=b"\x03" * 20, host="::1", port=7000)
    lan = PeerEntry(peer_id=b"\x04" * 20, host="192.0.2.9", port=7000)
    everyone = [local, mapped, six, lan]
    assert build_pex_entries(everyone, None, 50, "192.0.2.7") == (lan,)
    assert build_pex_entries(everyone, None, 50, "2001:db8::7") == (lan,)
    assert build_pex_entries(everyone, None, 50, "seeder.example") == (lan,)  # a dialed name
    assert len(build_pex_entries(everyone, None, 50, "127.0.0.1")) == 4
    assert len(build_pex_entries(everyone, None, 50, "::1")) == 4
    assert len(build_pex_entries(everyone, None, 50, "")) == 4  # unknown: as before
    assert len(build_pex_entries(everyone, None, 50, "::ffff:127.0.0.1")) == 4
