"""Snapshots of a swarm for UIs, demos and benchmarks: who is connected, who served whom."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PeerStats", "SwarmStats"]


@dataclass(frozen=True, slots=True)
class PeerStats:
    """One connection, for UIs and demos ("who served whom")."""

    conn_id: int
    peer_id: bytes | None
    host: str
    port: int
    outbound: bool
    bytes_down: int
    bytes_up: int
    download_rate: float
    upload_rate: float
    am_choking: bool
    peer_choking: bool
    am_interested: bool
    peer_interested: bool
    snubbed: bool  # our requests to it timed out (REQUEST_TIMEOUT) since its last block


@dataclass(frozen=True, slots=True)
class SwarmStats:
    """A snapshot of the swarm's progress."""

    have_count: int
    piece_count: int
    bytes_verified: int
    total_bytes: int
    connected_peers: int
    download_rate: float
    upload_rate: float
    peers: tuple[PeerStats, ...]
    bytes_from: dict[bytes, int]  # piece data received per peer ID, over all connections
    bytes_to: dict[bytes, int]  # piece data sent per peer ID, over all connections
    metainfo_known: bool
    complete: bool  # every piece verified and the whole-file hash matched (or we seeded)
