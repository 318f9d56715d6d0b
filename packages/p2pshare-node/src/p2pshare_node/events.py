"""What a node tells its observers (CLI, tests): typed, immutable, one JSON object each.

The JSON form (`to_json()`) is the --json output of the CLI, one object per line, so scripts and
the end-to-end tests watch exactly what a user would.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeEvent:
    kind: ClassVar[str] = "event"
    time: float = field(default=0.0)  # seconds since the node started

    def to_dict(self) -> dict[str, Any]:
        names = _FIELD_NAMES.get(type(self))
        if names is None:  # (a download emits one event per piece: look the fields up once)
            names = _FIELD_NAMES[type(self)] = tuple(f.name for f in dataclasses.fields(self))
        doc: dict[str, Any] = {"event": self.kind}
        for name in names:
            value = getattr(self, name)
            if isinstance(value, tuple):
                value = list(value)
            doc[name] = round(value, 3) if isinstance(value, float) else value
        return doc

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))


@dataclass(frozen=True, slots=True, kw_only=True)
class Started(NodeEvent):
    kind: ClassVar[str] = "started"
    peer_id: str  # this node's peer id (hex)
    listen_port: int  # TCP port it accepts connections on
    role: str  # "seeder" or "leecher"
    link: str | None  # share link (None until the share id is known)
    link_note: str | None = None  # set when the link works on this machine only


@dataclass(frozen=True, slots=True, kw_only=True)
class Metadata(NodeEvent):
    kind: ClassVar[str] = "metadata"
    share_id: str  # the share ID (hex)
    name: str  # the file name
    size: int  # bytes in the file
    piece_size: int  # bytes per piece
    pieces: int  # number of pieces
    have: int  # pieces already verified (resume)
    path: str  # where the file is (or will be) on disk
    files: int = 0  # a folder share's files and empty folders (0: a single file)
    folder: bool = False  # a folder share (spec 8.7), even an empty one


@dataclass(frozen=True, slots=True, kw_only=True)
class PieceDone(NodeEvent):
    kind: ClassVar[str] = "piece"
    index: int  # the verified piece
    peers: tuple[str, ...]  # peer ids (hex) that contributed the piece

    def to_json(self) -> str:
        # One per piece (16384 per GiB of 64 KiB pieces): written out directly, 5x faster than
        # json.dumps and the same text (peer ids are hex, so there is nothing to escape).
        if not all(peer.isascii() and peer.isalnum() for peer in self.peers):
            return NodeEvent.to_json(self)
        peers = ",".join([f'"{peer}"' for peer in self.peers])
        return (
            f'{{"event":"piece","time":{round(self.time, 3)!r},"index":{self.index},'
            f'"peers":[{peers}]}}'
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class PieceBad(NodeEvent):
    kind: ClassVar[str] = "piece-failed"
    index: int  # the piece that failed its hash check
    peers: tuple[str, ...]  # peer ids (hex) that sent blocks of it
    failed: int = 1  # pieces that failed and are still missing (this one included)
    give_up_in: float | None = None  # seconds before the download gives up without progress


@dataclass(frozen=True, slots=True, kw_only=True)
class Waiting(NodeEvent):
    """No peer can serve us yet; the next try is in `retry_in` seconds [BEH-14]."""

    kind: ClassVar[str] = "waiting"
    waiting_for: str  # "HOST:PORT: connection refused (nothing listening there)"; ...
    retry_in: float  # seconds until the next attempt


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerUp(NodeEvent):
    kind: ClassVar[str] = "peer-connected"
    conn: int  # connection number (local)
    peer_id: str  # the peer's id (hex)
    host: str  # its address
    port: int  # its port
    outbound: bool  # true if we dialed it
    extensions: tuple[str, ...] = ()  # protocol extensions in force with it, e.g. "span"


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerDown(NodeEvent):
    kind: ClassVar[str] = "peer-disconnected"
    conn: int  # connection number (local)
    peer_id: str  # the peer's id (hex; empty before its handshake)
    reason: str  # why it ended (an error code and text, or a close)


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerBanned(NodeEvent):
    kind: ClassVar[str] = "peer-banned"
    peer_id: str  # the banned peer's id (hex)
    host: str  # its address


@dataclass(frozen=True, slots=True, kw_only=True)
class FileChanged(NodeEvent):
    """The served file changed since its pieces were verified ([STORE-6]).

    Sent when the change is noticed (`bad` = -1: re-checking, nothing is served meanwhile) and
    again when the re-check is done (`bad` = pieces that no longer match and are not served).
    """

    kind: ClassVar[str] = "file-changed"
    path: str  # the served file
    bad: int  # -1: re-checking now; else pieces that no longer match
    pieces: int  # pieces in the share
    message: str  # what happened, for people


@dataclass(frozen=True, slots=True, kw_only=True)
class FileDone(NodeEvent):
    """A file of a folder share is complete: every piece covering it is verified (its SHA-1
    is checked with the others when the whole folder is, before it gets its final name)."""

    kind: ClassVar[str] = "file-done"
    path: str  # relative to the folder, '/'-separated
    size: int  # bytes in the file


@dataclass(frozen=True, slots=True, kw_only=True)
class Skipped(NodeEvent):
    """Something inside a shared folder that is not shared (never followed: spec TREE-12)."""

    kind: ClassVar[str] = "skipped"
    path: str  # relative to the shared folder, '/'-separated
    reason: str  # why: a symbolic link, or not a regular file


@dataclass(frozen=True, slots=True, kw_only=True)
class Progress(NodeEvent):
    kind: ClassVar[str] = "progress"
    done: int  # verified bytes
    total: int  # bytes in the file
    pieces_done: int  # verified pieces
    pieces: int  # pieces in the share
    down_rate: float  # bytes/s, recent
    down_avg: float  # bytes/s since the download started
    up_rate: float  # bytes/s, recent
    uploaded: int  # bytes uploaded since start
    peers: tuple[str, ...]  # peer ids currently connected
    files_done: int = 0  # a folder share's complete files (and empty folders)
    files: int = 0  # a folder share's files and empty folders (0: a single file)


@dataclass(frozen=True, slots=True, kw_only=True)
class Completed(NodeEvent):
    kind: ClassVar[str] = "completed"
    path: str  # where the file is
    size: int  # bytes in the file
    sha1: str  # the file's SHA-1 (hex); empty for a folder share
    elapsed: float  # seconds from start to verified file
    fetched: int  # bytes downloaded this run (excluding resumed pieces)
    files: int = 0  # a folder share's files and empty folders, each verified (0: a file)
    folder: bool = False  # a folder share (spec 8.7), even an empty one
    share_id: str = ""  # the share ID (hex): a folder share's digest, to compare


@dataclass(frozen=True, slots=True, kw_only=True)
class Failed(NodeEvent):
    kind: ClassVar[str] = "error"
    error: str  # ErrorKind value
    message: str  # what went wrong, for people
