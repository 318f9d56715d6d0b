"""Everything a node needs to know before it starts, in one frozen value."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from p2pshare_core.constants import MAX_CONNECTIONS_PER_HOST

from p2pshare_node.faults import Fault


@dataclass(frozen=True, kw_only=True)
class NodeConfig:
    """Share a file (`share_path`) or download one into `output_dir` (`share_id`/`bootstrap`)."""

    share_path: Path | None = None  # seeding: the file to share
    share_name: str | None = None  # seeding: the name peers see (default: the file's name)
    output_dir: Path = Path(".")  # downloading: where the file lands
    share_id: bytes | None = None  # downloading: from the link (None: learn it from the peer)
    bootstrap: tuple[tuple[str, int], ...] = ()  # peers to dial first
    listen_host: str | None = None  # None = every interface, IPv4 and IPv6 (listening.py)
    listen_port: int = 0  # 0 = any free port
    advertise_host: str | None = None  # host put in the share link (default: advertise.py)
    advertise_port: int | None = None  # port put in the share link (default: listen_port)
    piece_size: int | None = None  # seeding: requested piece size (power of two)
    force: bool = False  # overwrite an existing output file
    # local peer discovery (lan.py); also off with P2PSHARE_NO_LAN=1 in the environment (the
    # test suites set it, so that only their network-namespace hosts ever multicast)
    lan: bool = field(default_factory=lambda: lan_by_default())
    metainfo_only: bool = False  # fetch and verify the metainfo, write nothing (`info`, `verify`)
    max_upload_rate: int | None = None  # bytes/s, None = unlimited
    super_seeding: bool = False  # seeding: offer pieces one peer at a time (spec SEED)
    extensions: bool = True  # offer the protocol extensions we implement (spec 5.1); False:
    # speak plain version 1 (interop tests; a peer without them is served the same either way)
    max_download_rate: int | None = None  # bytes/s, None = unlimited (readlimit.py)
    # connections accepted from one IP address [SEC-6]; raise it for many local test peers
    max_connections_per_host: int = MAX_CONNECTIONS_PER_HOST
    progress_interval: float = 0.5  # seconds between Progress events
    state_interval: float = 1.0  # at most one resume-state write per this many seconds
    connect_timeout: float = 10.0
    # Give up a download after this long without progress: no usable peer, or no piece
    # verified while pieces keep failing [BEH-15]. None = wait forever.
    give_up_after: float | None = 300.0
    faults: frozenset[Fault] = field(default_factory=frozenset)  # test-only, see faults.py

    @property
    def seeding(self) -> bool:
        return self.share_path is not None


def lan_by_default() -> bool:
    """Local peer discovery is on unless P2PSHARE_NO_LAN=1 is in the environment."""
    return os.environ.get("P2PSHARE_NO_LAN") != "1"
