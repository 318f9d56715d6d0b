"""The serving side of a swarm: answering the requests and spans of every connection.

Each request gets exactly one reply (MSG-4, SPAN-5): the data, as a `SendBlock` the node sends
from the file without copying it through Python, or a reject when we are choking the peer or
lack a piece (MSG-7, SPAN-6). With an upload limit, replies wait in an `UploadThrottle`; a
queued reply withdrawn by a cancel, a choke or a close is answered with a reject instead.
"""

from __future__ import annotations

from collections.abc import Callable

from .actions import Action, SendBlock
from .config import SwarmConfig
from .events import Event, Reject, SpanReject
from .peerslot import PeerSlot
from .picker import Block
from .rate import RateMeter
from .uploads import QueuedReply, UploadThrottle

__all__ = ["Uploader"]

SendEvent = Callable[[PeerSlot, Event, float], None]
SentHook = Callable[[PeerSlot, int, int, int, float], None]
"""(peer, index, length, span, now): piece data just went out (super-seeding counts it)."""


class Uploader:
    """Replies to requests, the upload limit, and the upload totals (per peer and overall)."""

    def __init__(
        self,
        config: SwarmConfig,
        now: float,
        peers: dict[int, PeerSlot],
        send: SendEvent,
        emit: Callable[[Action], None],
    ) -> None:
        """`peers`: the swarm's open connections by conn_id (shared, not copied)."""
        self.rate = RateMeter(now)
        self._peers = peers
        self.bytes_to: dict[bytes, int] = {}  # piece data sent per peer ID, all connections
        self._send = send
        self._emit = emit
        self._throttle = (
            UploadThrottle(config.max_upload_rate, config.upload_burst, now)
            if config.max_upload_rate is not None
            else None
        )
        self.on_sent: SentHook | None = None

    def request(self, peer: PeerSlot, block: Block, span: int, held: bool, now: float) -> None:
        """A request (span == 0) or span request (index = block[0]) that passed the protocol
        checks; `held`: we have every piece it covers."""
        if peer.conn.am_choking or not held:  # [MSG-7, SPAN-6]
            self._reject(peer, block, span, now)
        elif self._throttle is None:
            self._send_data(peer, block, span, now)
        else:
            self._throttle.push((peer.conn_id, block, span))
            self.drain(now)

    def cancel(self, peer: PeerSlot, item: QueuedReply, now: float) -> None:
        """Only a reply still queued behind the upload limit can be withdrawn [MSG-13, SPAN-9]."""
        if self._throttle and self._throttle.withdraw(item):
            self._reject(peer, item[1], item[2], now)

    def choked(self, peer: PeerSlot, now: float) -> None:
        """We just choked the peer: what it asked for and still waits is rejected [MSG-7]."""
        if self._throttle:
            for item in self._throttle.take_conn(peer.conn_id):
                self._reject(peer, item[1], item[2], now)

    def forget(self, conn_id: int) -> None:
        if self._throttle:
            self._throttle.take_conn(conn_id)

    def due(self) -> float | None:
        """When queued replies may go next (None: nothing queued)."""
        return self._throttle.due() if self._throttle else None

    def drain(self, now: float) -> None:
        """Send queued replies while the token bucket allows (it may go into debt by one)."""
        throttle = self._throttle
        if not throttle:
            return
        for conn_id, block, span in throttle.ready(now):  # closes, cancels, chokes remove theirs
            throttle.spent(self._send_data(self._peers[conn_id], block, span, now))

    def _send_data(self, peer: PeerSlot, block: Block, span: int, now: float) -> int:
        index, offset, length = block
        if span:
            header, length = peer.conn.send_span_header(index, span)
        else:
            header = peer.conn.send_piece_header(index, offset, length)
        self._emit(SendBlock(peer.conn_id, header, index, offset, length, span))
        peer.last_sent = now
        peer.last_data = now
        peer.up.add(length, now)
        self.rate.add(length, now)
        pid = peer.peer_id
        assert pid is not None
        self.bytes_to[pid] = self.bytes_to.get(pid, 0) + length
        if self.on_sent is not None:
            self.on_sent(peer, index, length, span, now)
        return length

    def _reject(self, peer: PeerSlot, block: Block, span: int, now: float) -> None:
        i, o, n = block
        reply = SpanReject(index=i, count=span) if span else Reject(index=i, offset=o, length=n)
        self._send(peer, reply, now)
