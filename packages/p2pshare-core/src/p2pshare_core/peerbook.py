"""Known peers and dial decisions: bootstrap + PEX, the anti-collision rule, backoff, bans, PEX.

Why a dial rule: two peers that learn of each other by PEX would otherwise dial each other at the
same moment and end up with a duplicate pair; so only the higher peer ID dials a PEX-learned
peer (bootstrap addresses come from the user, who expects them dialed regardless). Entries are
bounded per source and in total so a hostile PEX sender cannot grow our memory. Reconnection
backs off exponentially (1, 2, 4 ... 60 s, a bounded number of tries) so a dead peer costs
almost nothing; an address the user gave keeps being retried (the node decides when to give up).
Protocol violations add their own backoff, 2^v seconds, that a successful handshake does not
reset [SEC-10], and every attempt waits for the dial pacer [SEC-9], so neither a misbehaving peer
nor a PEX list of one host's ports makes us dial fast.
"""

from __future__ import annotations

import functools
import heapq
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

from .admission import DialPacer
from .config import SwarmConfig
from .events import PeerEntry, ip_literal

__all__ = ["KnownPeer", "PeerBook", "PexPacer", "build_pex_entries"]

Address = tuple[str, int]
_BOOTSTRAP_SOURCE = b"bootstrap"


@dataclass(slots=True)
class KnownPeer:
    """A dialable address and what we know about it."""

    host: str
    port: int
    peer_id: bytes | None
    bootstrap: bool
    source: bytes  # who told us (a peer ID, or b"bootstrap")
    tries: int = 0  # failed attempts since the last successful connection
    next_attempt: float | None = None  # None: not scheduled
    dialing: bool = False
    connected: bool = False
    violations: int = 0  # connections to it that ended in a protocol violation [SEC-10]
    not_before: float = 0.0  # no attempt before this time (violation backoff)


@dataclass(slots=True)
class PeerBook:
    """The set of peers we may dial, and when."""

    our_id: bytes
    config: SwarmConfig = field(default_factory=SwarmConfig)
    _peers: dict[Address, KnownPeer] = field(default_factory=dict)
    _per_source: dict[bytes, int] = field(default_factory=dict)
    _connected_ids: dict[bytes, int] = field(default_factory=dict)  # peer_id -> connections
    _banned_ids: set[bytes] = field(default_factory=set)
    _banned_addrs: set[Address] = field(default_factory=set)
    _self_addrs: set[Address] = field(default_factory=set)
    _heap: list[tuple[float, int, Address]] = field(default_factory=list)
    _seq: int = 0

    # --- learning -------------------------------------------------------------------------------
    def add_bootstrap(self, host: str, port: int, now: float) -> None:
        """A user-given address: dialed now, whatever its peer ID turns out to be."""
        addr = (host, port)
        if addr in self._banned_addrs or addr in self._self_addrs:
            return
        known = self._peers.get(addr)
        if known is not None:
            known.bootstrap = True
            known.tries = 0
            if not known.connected and not known.dialing:
                self._schedule(known, max(now, known.not_before))
            return
        known = KnownPeer(host, port, None, True, _BOOTSTRAP_SOURCE)
        self._peers[addr] = known
        self._schedule(known, now)

    def add_pex(self, source: bytes, entries: Iterable[PeerEntry], now: float) -> int:
        """Peers learned from `source`'s peers message; returns how many were new."""
        added = 0
        limit_source = self.config.max_peers_per_source
        for entry in entries:
            if entry.peer_id == self.our_id or entry.port == 0:
                continue
            if entry.peer_id >= self.our_id:  # the other side dials [DUP-1]
                continue
            if not _dialable(entry.host):
                continue
            addr = (entry.host, entry.port)
            if (
                addr in self._peers
                or addr in self._self_addrs
                or addr in self._banned_addrs
                or self.is_banned(entry.peer_id)
            ):
                continue
            if self._per_source.get(source, 0) >= limit_source:
                break
            if len(self._peers) >= self.config.max_known_peers:
                break
            known = KnownPeer(entry.host, entry.port, entry.peer_id, False, source)
            self._peers[addr] = known
            self._per_source[source] = self._per_source.get(source, 0) + 1
            self._schedule(known, now)
            added += 1
        return added

    def __len__(self) -> int:
        return len(self._peers)

    def get(self, host: str, port: int) -> KnownPeer | None:
        return self._peers.get((host, port))

    # --- dialing --------------------------------------------------------------------------------
    def next_deadline(self) -> float | None:
        """When `take_dials` next has something to return (None: nothing scheduled)."""
        heap = self._heap
        while heap:
            when, _, addr = heap[0]
            known = self._peers.get(addr)
            if known is not None and known.next_attempt == when:
                return when
            heapq.heappop(heap)  # stale entry
        return None

    def take_dials(
        self, now: float, limit: int, need: bool, pacer: DialPacer | None = None
    ) -> list[Address]:
        """Addresses to dial now (at most `limit`); they are marked as being dialed.

        With a `pacer`, an address whose turn has come but whose attempt the pacer does not
        allow yet is rescheduled for when it does [SEC-9] (that is not a failed try).
        """
        out: list[Address] = []
        heap = self._heap
        later: list[KnownPeer] = []
        while heap and len(out) < limit:
            when, _, addr = heap[0]
            if when > now:
                break
            heapq.heappop(heap)
            known = self._peers.get(addr)
            if known is None or known.next_attempt != when:
                continue
            known.next_attempt = None
            if known.peer_id is not None and known.peer_id in self._connected_ids:
                continue  # already connected to it (at another address, or it dialed us)
            if known.tries and not (need or known.bootstrap):
                continue  # a retry we no longer need
            if pacer is not None:
                allowed = pacer.next_allowed(known.host, now)
                if allowed > now:
                    later.append(known)
                    known.next_attempt = allowed  # (pushed below, after the loop)
                    continue
                pacer.take(known.host, now)
            known.dialing = True
            out.append(addr)
        for known in later:
            assert known.next_attempt is not None
            self._schedule(known, known.next_attempt)
        return out

    def dial_failed(self, host: str, port: int, now: float) -> None:
        """The dial did not connect: back off, or give up after `reconnect_tries`."""
        known = self._peers.get((host, port))
        if known is None:
            return
        known.dialing = False
        self._retry_later(known, now)

    def connected(self, host: str, port: int, peer_id: bytes) -> None:
        """A handshake completed with `peer_id`, reachable at (host, port) (port 0: not at all)."""
        self._connected_ids[peer_id] = self._connected_ids.get(peer_id, 0) + 1
        known = self._peers.get((host, port)) if port else None
        if known is not None:
            known.peer_id = peer_id
            known.connected = True
            known.dialing = False
            known.tries = 0
            known.next_attempt = None

    def disconnected(
        self,
        host: str,
        port: int,
        peer_id: bytes | None,
        now: float,
        *,
        retry: bool,
        violation: bool = False,
    ) -> None:
        """A connection ended; with `retry`, schedule a reconnection (subject to the rules).

        `violation`: it ended because the peer broke the protocol: the next attempt waits
        2^v seconds (v counts this address's violations, capped) [SEC-10].
        """
        if peer_id is not None:
            left = self._connected_ids.get(peer_id, 0) - 1
            if left > 0:
                self._connected_ids[peer_id] = left
            else:
                self._connected_ids.pop(peer_id, None)
        known = self._peers.get((host, port)) if port else None
        if known is None:
            return
        known.connected = False
        known.dialing = False
        if violation:
            known.violations += 1
            delay = min(self.config.violation_backoff_max, 2.0**known.violations)
            known.not_before = now + delay
        if retry and (known.bootstrap or self.our_id > (known.peer_id or self.our_id)):
            self._retry_later(known, now)

    def remember(self, host: str, port: int, peer_id: bytes, now: float) -> None:
        """A peer that dialed us listens at (host, port): remember it so we can reconnect."""
        if (
            not port
            or (host, port) in self._peers
            or len(self._peers) >= self.config.max_known_peers
        ):
            return
        self._peers[(host, port)] = KnownPeer(host, port, peer_id, False, peer_id)

    def is_connected(self, peer_id: bytes) -> bool:
        return peer_id in self._connected_ids

    # --- bans and self ------------------------------------------------------------------------
    def ban(self, peer_id: bytes, host: str, port: int) -> None:
        """Never dial this peer again (nor accept it: see `is_banned`)."""
        self._banned_ids.add(peer_id)
        if port:
            self._banned_addrs.add((host, port))
        for addr, known in list(self._peers.items()):
            if known.peer_id == peer_id or addr == (host, port):
                self._forget(addr)

    def is_banned(self, peer_id: bytes) -> bool:
        return peer_id in self._banned_ids

    def mark_self(self, host: str, port: int) -> None:
        """(host, port) turned out to be ourselves: never dial it again."""
        self._self_addrs.add((host, port))
        self._forget((host, port))

    # --- internals ------------------------------------------------------------------------------
    def _forget(self, addr: Address) -> None:
        known = self._peers.pop(addr, None)
        if known is not None and not known.bootstrap:
            left = self._per_source.get(known.source, 1) - 1
            self._per_source[known.source] = left

    def _schedule(self, known: KnownPeer, when: float) -> None:
        known.next_attempt = when
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, (known.host, known.port)))

    def _retry_later(self, known: KnownPeer, now: float) -> None:
        known.tries += 1
        if known.tries >= self.config.reconnect_tries and not known.bootstrap:
            known.next_attempt = None  # given up; a new bootstrap/PEX mention does not revive it
            return
        # A user-given address is retried until the node gives up (BEH-14); capped backoff.
        exponent = min(known.tries - 1, 30)
        delay = min(self.config.reconnect_max, self.config.reconnect_base * 2**exponent)
        self._schedule(known, max(now + delay, known.not_before))


@functools.lru_cache(maxsize=4096)  # (checked for every entry of every peers message)
def _dialable(host: str) -> bool:
    """Not an address that would make us flood a network [PEX-10]."""
    address = ip_literal(host)  # PeerEntry guarantees a literal
    if address.is_unspecified or address.is_multicast:
        return False
    return not (isinstance(address, ipaddress.IPv4Address) and address == _BROADCAST)


_BROADCAST = ipaddress.IPv4Address("255.255.255.255")


@functools.lru_cache(maxsize=4096)  # (checked for every entry of every peers message sent)
def _is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or an IPv4-mapped loopback; "" (unknown) counts as loopback."""
    if not host:
        return True
    try:
        address = ip_literal(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def build_pex_entries(
    connected: Iterable[PeerEntry], recipient: bytes | None, limit: int, recipient_host: str = ""
) -> tuple[PeerEntry, ...]:
    """The peers message for `recipient`: connected peers with a listen port, never itself
    [PEX-4], each peer once (even while a duplicate connection awaits its close), and no
    loopback address unless the recipient is on loopback too [PEX-13]: to another machine
    127.0.0.1 means itself."""
    out: list[PeerEntry] = []
    seen: set[bytes] = set()
    local_recipient = _is_loopback(recipient_host)
    for entry in connected:
        if entry.port == 0 or entry.peer_id == recipient or entry.peer_id in seen:
            continue
        if not local_recipient and _is_loopback(entry.host):
            continue
        seen.add(entry.peer_id)
        out.append(entry)
        if len(out) >= limit:
            break
    return tuple(out)


@dataclass(slots=True)
class PexPacer:
    """PEX pacing on one connection: first message at once, then >= `interval` apart, on change."""

    interval: float
    last_sent: float | None = None
    last_entries: frozenset[PeerEntry] | None = None

    def due(self, now: float) -> float:
        """Earliest time a (changed) message may be sent."""
        return now if self.last_sent is None else max(now, self.last_sent + self.interval)

    def should_send(self, entries: tuple[PeerEntry, ...], now: float) -> bool:
        """Whether to send `entries` now; records them as sent when true."""
        if self.due(now) > now:
            return False
        current = frozenset(entries)
        if self.last_entries is None:
            if not current:
                return False  # the first message is only sent when it has entries
        elif current == self.last_entries:
            return False
        self.last_sent = now
        self.last_entries = current
        return True
