"""What the sans-IO `Swarm` asks its I/O layer to do, and what it reports for UI and logs.

The swarm never touches sockets or disks: every effect is one of these frozen records, drained
with `Swarm.next_action()` after each call into the swarm, and carried out in order.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ErrorCode
from .metainfo import Metainfo

__all__ = [
    "Action",
    "Close",
    "Dial",
    "DownloadComplete",
    "FileCorrupt",
    "MetainfoReady",
    "PeerBanned",
    "PeerConnected",
    "PeerDisconnected",
    "PieceFailed",
    "PieceVerified",
    "Send",
    "SendBlock",
    "StoreBlock",
    "VerifyFile",
    "VerifyPiece",
]


# --- network -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Send:
    """Write `data` (one or more whole frames) to connection `conn_id`."""

    conn_id: int
    data: bytes


@dataclass(frozen=True, slots=True)
class SendBlock:
    """Write `header`, then `length` bytes of the file at piece_offset(index) + offset.

    Kept apart from `Send` so the node can send file data without copying it through Python
    (e.g. `sendfile`), which is what makes high upload rates possible. `span` > 0: the reply
    to span (index, span) of extension SPAN: whole pieces from `index` on (offset 0), and a
    node that can no longer vouch for one of them answers SpanReject(index, span) instead.
    """

    conn_id: int
    header: bytes
    index: int
    offset: int
    length: int
    span: int = 0


@dataclass(frozen=True, slots=True)
class Dial:
    """Open an outbound connection; report `connection_opened` or `dial_failed`."""

    host: str
    port: int


@dataclass(frozen=True, slots=True)
class Close:
    """Close connection `conn_id` (any error frame was sent by a preceding `Send`)."""

    conn_id: int
    code: ErrorCode
    reason: str


# --- disk ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class StoreBlock:
    """Write `data` at piece_offset(index) + offset of the download file (a view into a
    received frame: keep it, do not copy it, until written)."""

    index: int
    offset: int
    data: bytes | memoryview


@dataclass(frozen=True, slots=True)
class VerifyPiece:
    """Hash the stored piece `index` with SHA-256 and call `Swarm.piece_hashed`."""

    index: int


@dataclass(frozen=True, slots=True)
class VerifyFile:
    """Hash the whole stored file with SHA-1 and call `Swarm.file_hashed`."""


@dataclass(frozen=True, slots=True)
class MetainfoReady:
    """The share's metainfo is known and verified: preallocate the file and save state."""

    metainfo: Metainfo


# --- notifications (UI, logs) ----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PeerConnected:
    conn_id: int
    peer_id: bytes
    host: str
    port: int
    outbound: bool
    capabilities: int = 0  # the extensions in force on this connection [EXT-3]


@dataclass(frozen=True, slots=True)
class PeerDisconnected:
    conn_id: int
    peer_id: bytes | None
    reason: str


@dataclass(frozen=True, slots=True)
class PieceVerified:
    index: int
    from_peers: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class PieceFailed:
    index: int
    peers: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class PeerBanned:
    peer_id: bytes
    host: str


@dataclass(frozen=True, slots=True)
class DownloadComplete:
    """Every piece verified and the whole-file SHA-1 matches."""


@dataclass(frozen=True, slots=True)
class FileCorrupt:
    """Every piece verified but the whole-file SHA-1 does not match the metainfo."""


Action = (
    Send
    | SendBlock
    | Dial
    | Close
    | StoreBlock
    | VerifyPiece
    | VerifyFile
    | MetainfoReady
    | PeerConnected
    | PeerDisconnected
    | PieceVerified
    | PieceFailed
    | PeerBanned
    | DownloadComplete
    | FileCorrupt
)
