"""Who may connect and how fast we dial: the limits that keep one host from locking us up.

A node that accepts anyone can be filled by one host (many connections that handshake and stay
silent, or never finish the handshake), and a node that dials every address PEX offers can be
made to port-scan a third party. These are the pure parts of the answer (time passed in):
counting connections per IP address [SEC-6], choosing the peer to replace when full [SEC-8],
and pacing outgoing connection attempts globally and per target host [SEC-9].
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["DialPacer", "HostCounts", "host_key", "pick_eviction"]


def host_key(host: str) -> str:
    """The address a limit applies to: one IP, whatever its spelling (v4-mapped v6 included)."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host.lower()  # a name (bootstrap given by the user): counted as written
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address)


@dataclass(slots=True)
class HostCounts:
    """Open connections per IP address (both directions, handshaking or not) [SEC-6]."""

    _counts: dict[str, int] = field(default_factory=dict)

    def count(self, host: str) -> int:
        return self._counts.get(host_key(host), 0)

    def add(self, host: str) -> None:
        key = host_key(host)
        self._counts[key] = self._counts.get(key, 0) + 1

    def remove(self, host: str) -> None:
        key = host_key(host)
        left = self._counts.get(key, 0) - 1
        if left > 0:
            self._counts[key] = left
        else:
            self._counts.pop(key, None)


def pick_eviction(
    candidates: Iterable[tuple[int, float, float]], now: float, idle: float
) -> int | None:
    """The connection to replace when full [SEC-8]: of (conn_id, last_data, opened_at), the one
    longest without piece data either way, if that is at least `idle` seconds (ties: the one
    connected longest). None: every peer is useful, the newcomer is refused instead."""
    best: tuple[float, float, int] | None = None
    for conn_id, last_data, opened_at in candidates:
        if now - last_data < idle:
            continue
        key = (last_data, opened_at, conn_id)
        if best is None or key < best:
            best = key
    return None if best is None else best[2]


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


@dataclass(slots=True)
class DialPacer:
    """Token buckets for outgoing connection attempts: all targets, and each target IP [SEC-9].

    Bounded memory: per-host buckets that are full again carry no information and are dropped.
    """

    rate: float
    burst: int
    host_rate: float
    host_burst: int
    _all: _Bucket | None = None
    _hosts: dict[str, _Bucket] = field(default_factory=dict)

    def _level(self, bucket: _Bucket | None, rate: float, burst: int, now: float) -> float:
        if bucket is None:
            return float(burst)
        return min(float(burst), bucket.tokens + (now - bucket.at) * rate)

    def next_allowed(self, host: str, now: float) -> float:
        """The earliest time an attempt to `host` may start (now, if it may start now)."""
        wait_all = (1.0 - self._level(self._all, self.rate, self.burst, now)) / self.rate
        bucket = self._hosts.get(host_key(host))
        level = self._level(bucket, self.host_rate, self.host_burst, now)
        wait_host = (1.0 - level) / self.host_rate
        return now + max(0.0, wait_all, wait_host)

    def take(self, host: str, now: float) -> None:
        """Record an attempt to `host` at `now` (call only when `next_allowed` says now)."""
        level = self._level(self._all, self.rate, self.burst, now)
        self._all = _Bucket(level - 1.0, now)
        key = host_key(host)
        level = self._level(self._hosts.get(key), self.host_rate, self.host_burst, now)
        self._hosts[key] = _Bucket(level - 1.0, now)
        if len(self._hosts) > 256:  # forget hosts whose bucket has refilled
            full = [
                k
                for k, b in self._hosts.items()
                if self._level(b, self.host_rate, self.host_burst, now) >= self.host_burst
            ]
            for k in full:
                del self._hosts[k]
