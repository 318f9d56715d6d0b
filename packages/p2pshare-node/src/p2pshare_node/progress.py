"""The Progress event: how much of the file is verified, and how fast bytes move."""

from __future__ import annotations

from collections.abc import Iterable

from p2pshare_core.metainfo import Metainfo
from p2pshare_core.rate import RateMeter

from p2pshare_node import events as ev
from p2pshare_node.filetracker import FileTracker
from p2pshare_node.ranges import PieceFlags


def verified_bytes(meta: Metainfo | None, verified: PieceFlags) -> int:
    """Bytes covered by the verified pieces (the last piece may be short)."""
    if meta is None:
        return 0
    done = len(verified) * meta.piece_size
    last = meta.piece_count - 1
    if last in verified:
        done -= meta.piece_size - meta.piece_length(last)
    return done


def progress_event(
    *,
    meta: Metainfo | None,
    verified: PieceFlags,
    down: RateMeter,
    up: RateMeter,
    peers: Iterable[str],
    now: float,
    elapsed: float,
    files: FileTracker | None = None,
) -> ev.Progress:
    """A snapshot of the transfer for reporters (TTY bar, --json)."""
    return ev.Progress(
        done=verified_bytes(meta, verified),
        total=meta.file_size if meta else 0,
        pieces_done=len(verified),
        pieces=meta.piece_count if meta else 0,
        down_rate=down.rate(now),
        down_avg=down.total / max(elapsed, 1e-6),
        up_rate=up.rate(now),
        uploaded=up.total,
        peers=tuple(sorted(peers)),
        files_done=files.done if files else 0,
        files=files.total if files else 0,
    )
