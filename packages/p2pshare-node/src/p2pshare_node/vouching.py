"""Serve only what we can still vouch for: the served file, watched for changes [STORE-6].

A seeder verified its file once, when it started or finished downloading it. If another
program then edits the file, the pieces on disk may no longer match their hashes, and sending
them would make this node the one that sends bad data (MSG-11). So the node stamps the file
(filewatch.py) when it verifies it, compares the stamp on every progress tick, and on a change
stops vouching for every piece, re-hashes them all off the event loop, and from then on serves
only those that still match. A request for a piece it cannot vouch for gets a reject: still
exactly one reply (MSG-4, SPAN-5), never data.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from p2pshare_core import actions as act
from p2pshare_core.codec import encode
from p2pshare_core.events import Reject, SpanReject
from p2pshare_core.metainfo import Metainfo

from p2pshare_node import events as ev
from p2pshare_node.filewatch import FileStamp, describe_change
from p2pshare_node.preparation import recheck
from p2pshare_node.storage import PieceStore

__all__ = ["Vouching"]


class Vouching:
    """Which pieces of the served file may be sent, and the watch that decides it."""

    def __init__(
        self,
        emit: Callable[[ev.NodeEvent], None],
        track: Callable[[asyncio.Future[Any]], None],
        pool: ThreadPoolExecutor,
    ) -> None:
        self._emit = emit
        self._track = track
        self._pool = pool
        self._stamp: FileStamp | None = None  # the served file as verified
        self._unvouched: set[int] = set()  # pieces answered with reject: changed on disk
        self._rechecking = False

    def verified(self, store: PieceStore) -> None:
        """The file behind `store` was just verified: remember how it looks now."""
        self._stamp = FileStamp.of(store.fileno())

    def refusal(self, action: act.SendBlock) -> bytes | None:
        """The reject frame to send instead of `action`'s data, or None to send the data."""
        if not self._unvouched:
            return None
        span = action.span
        if not any(i in self._unvouched for i in range(action.index, action.index + max(1, span))):
            return None
        if span:
            return encode(SpanReject(index=action.index, count=span))
        return encode(Reject(index=action.index, offset=action.offset, length=action.length))

    def watch(self, store: PieceStore | None, meta: Metainfo | None) -> None:
        """Called on every progress tick: a changed file is re-checked before it is served."""
        stamp = self._stamp
        if stamp is None or self._rechecking or store is None or store.closed or meta is None:
            return
        try:
            now = FileStamp.of(store.fileno())
        except OSError:
            return
        if now == stamp:
            return
        self._stamp = now
        self._rechecking = True
        self._unvouched = set(range(meta.piece_count))
        self._emit(
            ev.FileChanged(
                path=str(store.path),
                bad=-1,
                pieces=meta.piece_count,
                message=f"{store.path} {describe_change(stamp, now)} since it was shared: "
                f"re-checking its {meta.piece_count} pieces, serving none of them meanwhile",
            )
        )
        self._track(asyncio.get_running_loop().create_task(self._recheck(store, meta)))

    async def _recheck(self, store: PieceStore, meta: Metainfo) -> None:
        try:
            good = await recheck(store, meta, range(meta.piece_count), self._pool)
        except (OSError, ValueError, RuntimeError):  # closed under us, or shutting down
            return
        finally:
            self._rechecking = False
        self._unvouched = set(range(meta.piece_count)).difference(good)
        bad = len(self._unvouched)
        if bad:
            message = (
                f"{bad} of {meta.piece_count} pieces of {store.path} no longer match what was "
                "shared: they will not be served (share the file again to publish the new "
                "version)"
            )
        else:
            message = f"every piece of {store.path} still matches: serving it again"
        self._emit(
            ev.FileChanged(path=str(store.path), bad=bad, pieces=meta.piece_count, message=message)
        )
