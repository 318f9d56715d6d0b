"""The swarm's record of one connection (one `PeerSlot` per conn_id)."""

from __future__ import annotations

from .connection import Connection
from .events import PeerEntry
from .peerbook import PexPacer
from .rate import RateMeter

__all__ = ["PeerSlot"]


class PeerSlot:
    """Swarm-side state of one connection: the protocol state (`conn`) plus what the swarm's
    policies track about the peer (rates, pipeline depth, timers, PEX, metainfo requests)."""

    __slots__ = (
        "bitfield_received",
        "conn",
        "conn_id",
        "deadline",
        "depth",
        "down",
        "host",
        "last_data",
        "last_pex_received",
        "last_recv",
        "last_sent",
        "listen_port",
        "meta_inflight",
        "meta_refused",
        "opened_at",
        "outbound",
        "peer_id",
        "pex",
        "pex_entry",
        "pex_version",
        "port",
        "ready",
        "snubbed",
        "span_run",
        "up",
    )

    def __init__(
        self, conn_id: int, conn: Connection, host: str, port: int, outbound: bool, now: float
    ) -> None:
        self.conn_id = conn_id
        self.conn = conn
        self.host = host
        self.port = port
        self.outbound = outbound
        self.opened_at = now
        self.last_recv = now
        self.last_sent = now
        self.deadline: float | None = None  # the swarm's timer deadline for it, as last computed
        self.peer_id: bytes | None = None
        self.listen_port = 0
        self.ready = False  # their handshake accepted (peer_id known, duplicates resolved)
        self.last_data = now  # last piece data either way (from the handshake on) [SEC-8]
        self.bitfield_received = False
        self.depth = 0
        self.snubbed = False
        self.down = RateMeter(now)
        self.up = RateMeter(now)
        self.pex = PexPacer(0.0)
        self.pex_entry: PeerEntry | None = None
        self.pex_version = -1
        self.last_pex_received: float | None = None
        self.meta_inflight: dict[int, float] = {}  # metainfo chunk -> requested at
        self.meta_refused = False
        self.span_run = 1  # pieces per span request: > 1 only where SPAN is in force

    @property
    def listen_address(self) -> tuple[str, int]:
        """Where this peer accepts connections (port 0: it does not)."""
        return (self.host, self.port) if self.outbound else (self.host, self.listen_port)
