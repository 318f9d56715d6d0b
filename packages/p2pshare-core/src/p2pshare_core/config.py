"""Tunables of the swarm logic; defaults are the protocol's constants (CONTRACT / spec).

Kept in one frozen record so tests can shrink timers or slots without monkeypatching, and so a
node's configuration is visible in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

from .capabilities import IMPLEMENTED, check_offer
from .constants import (
    BAN_THRESHOLD,
    DIAL_BURST,
    DIAL_RATE,
    EVICT_IDLE,
    HANDSHAKE_TIMEOUT,
    HOST_DIAL_BURST,
    HOST_DIAL_RATE,
    IDLE_TIMEOUT,
    KEEPALIVE_INTERVAL,
    MAX_BLOCK_LENGTH,
    MAX_CONNECTIONS,
    MAX_CONNECTIONS_PER_HOST,
    MAX_HANDSHAKING,
    MAX_KNOWN_PEERS,
    MAX_KNOWN_PEERS_PER_SOURCE,
    MAX_PEX_ENTRIES,
    OPTIMISTIC_INTERVAL,
    PEX_MIN_INTERVAL,
    RECHOKE_INTERVAL,
    REQUEST_TIMEOUT,
    UPLOAD_SLOTS,
    VIOLATION_BACKOFF_MAX,
)

__all__ = ["SwarmConfig"]


@dataclass(frozen=True, slots=True)
class SwarmConfig:
    """Every knob of `Swarm`; the defaults follow the spec's SHOULDs."""

    upload_slots: int = UPLOAD_SLOTS
    # peers whose handshake is complete [DUP-7]; handshaking connections do not count [SEC-7]
    max_connections: int = MAX_CONNECTIONS
    max_connections_per_host: int = MAX_CONNECTIONS_PER_HOST  # [SEC-6]
    max_handshaking: int = MAX_HANDSHAKING  # inbound, handshake not complete [SEC-7]
    evict_idle: float = EVICT_IDLE  # [SEC-8] replace a peer idle this long for a newcomer
    # outgoing connection attempts (token buckets) [SEC-9]
    dial_rate: float = DIAL_RATE
    dial_burst: int = DIAL_BURST
    host_dial_rate: float = HOST_DIAL_RATE
    host_dial_burst: int = HOST_DIAL_BURST
    violation_backoff_max: float = VIOLATION_BACKOFF_MAX  # [SEC-10]
    # request pipelining: depth = clamp(rate * pipeline_seconds / block, min, max)
    min_pipeline_depth: int = 4
    max_pipeline_depth: int = 64
    initial_pipeline_depth: int = 16
    pipeline_seconds: float = 1.0
    block_size: int = MAX_BLOCK_LENGTH
    random_first_pieces: int = 4
    # super-seeding [SEED]: a node that starts with every piece announces only the pieces it
    # offers each peer, so its first copy of the file is made of distinct pieces (BEP 16)
    super_seeding: bool = False
    # upload limit in bytes/s (None = unlimited), enforced by a token bucket
    max_upload_rate: int | None = None
    # seconds of max_upload_rate the bucket holds: what may leave at once after an idle spell.
    # Short, so the limit holds over short transfers too (a 1 s bucket let a 256 MiB file go
    # out ~19 % faster than the limit); the bucket may still go one block into debt.
    upload_burst: float = 0.1
    # timers (seconds)
    handshake_timeout: float = HANDSHAKE_TIMEOUT
    request_timeout: float = REQUEST_TIMEOUT
    keepalive_interval: float = KEEPALIVE_INTERVAL
    idle_timeout: float = IDLE_TIMEOUT
    rechoke_interval: float = RECHOKE_INTERVAL
    optimistic_interval: float = OPTIMISTIC_INTERVAL
    pex_min_interval: float = PEX_MIN_INTERVAL
    # after a reject, leave that piece alone at that peer for this long
    reject_backoff: float = 10.0
    # peer book
    max_pex_entries: int = MAX_PEX_ENTRIES
    max_peers_per_source: int = MAX_KNOWN_PEERS_PER_SOURCE
    max_known_peers: int = MAX_KNOWN_PEERS
    reconnect_base: float = 1.0
    reconnect_max: float = 60.0
    reconnect_tries: int = 8
    # bad data
    ban_threshold: int = BAN_THRESHOLD
    # metainfo fetch: chunk requests kept in flight per peer
    metainfo_pipeline: int = 8
    # extensions offered in our handshakes [EXT-1]; 0 = plain version 1 (spec 5.1)
    capabilities: int = int(IMPLEMENTED)

    def __post_init__(self) -> None:
        if (
            not 1
            <= self.min_pipeline_depth
            <= self.initial_pipeline_depth
            <= self.max_pipeline_depth
        ):
            raise ValueError("need 1 <= min_pipeline_depth <= initial <= max_pipeline_depth")
        if not 1 <= self.block_size <= MAX_BLOCK_LENGTH:
            raise ValueError(f"block_size must be 1..{MAX_BLOCK_LENGTH}")
        check_offer(self.capabilities)
        if self.max_upload_rate is not None and self.max_upload_rate <= 0:
            raise ValueError("max_upload_rate must be positive or None")
        if self.upload_burst < 0:
            raise ValueError("upload_burst must be >= 0")
        if self.upload_slots < 0 or self.max_connections < 1:
            raise ValueError("upload_slots must be >= 0 and max_connections >= 1")
        if self.max_connections_per_host < 1 or self.max_handshaking < 1:
            raise ValueError("max_connections_per_host and max_handshaking must be >= 1")
        if (
            min(self.dial_rate, self.host_dial_rate) <= 0
            or min(self.dial_burst, self.host_dial_burst) < 1
        ):
            raise ValueError("dial rates must be positive and bursts >= 1")
