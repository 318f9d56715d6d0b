"""One TCP connection: moves bytes between a socket and the node, with bounded buffers.

Once the peer's handshake is complete, the socket is read straight into the receive buffer of
the connection's protocol state (asyncio.BufferedProtocol + the node's get_buffer/buffer_updated):
no copy between the two, and reads of READ_SIZE or more, so that when the node falls behind, one
wake-up parses many frames (and answers them in one send). Until then a connection reads into a
small buffer of its own (HANDSHAKE_READ_SIZE), handed to the node as a view valid only during
the call: a flood of connections that never handshake, or that are refused at once, costs a
few KiB each, not a megabyte [SEC-7].

When the socket's write buffer is above its high-water mark, file blocks the swarm asked
us to send are queued as (index, offset, length) and only read from disk once the buffer has
drained: upload memory stays bounded by the high-water mark plus one block, without ever
pausing reads (two peers uploading to each other would otherwise wait on each other forever).
Reading is paused only as a last-resort guard if a peer makes the queue grow past any bound a
conforming core allows.

On Linux, file blocks go from the page cache to the socket with os.sendfile while the socket
takes them (the header written just before, both under TCP_CORK so they leave as full segments):
no read into memory and no copy (on loopback, sending that way costs a fifth of the CPU of read,
join and send of the same blocks). The socket is written
directly only while the transport's own buffer is empty, so bytes never overtake each other;
when the socket is full, the rest of the block goes through the transport and writing pauses
until that buffer is empty again. Elsewhere (or with fault injection) blocks are read and
written through the transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections import deque
from typing import Any, Protocol

READ_SIZE = 1024 * 1024
HANDSHAKE_READ_SIZE = 4096  # before the handshake: a handshake frame is at most 354 bytes
WRITE_HIGH_WATER = 1024 * 1024
WRITE_LOW_WATER = 256 * 1024
BATCH_BYTES = 1024 * 1024
QUEUE_GUARD = 2048  # queued sends before reading pauses (the core allows 512 requests a peer)
ZERO_COPY = hasattr(os, "sendfile") and hasattr(socket, "TCP_CORK")  # Linux


class PendingBlock:
    """A file block to send once the socket can take it (header is the encoded piece header)."""

    __slots__ = ("header", "index", "length", "offset")

    def __init__(self, header: bytes, index: int, offset: int, length: int) -> None:
        self.header = header
        self.index = index
        self.offset = offset
        self.length = length


class ConnectionOwner(Protocol):
    """What a connection reports to and asks of its owner (the node).

    Declared here, not imported from node.py, so that the dependency points one way: the node
    knows its connections; a connection knows only this narrow interface.
    """

    def connection_made(self, proto: PeerProtocol, host: str, port: int) -> int:
        """Register a new connection; returns its id."""
        ...

    def data_received(self, conn_id: int, data: bytes | memoryview) -> None:
        """Bytes from the peer (a view valid only during the call; b"" is EOF)."""
        ...

    def get_buffer(self, conn_id: int, size: int) -> memoryview | None:
        """Room (at least `size` bytes) to read the peer's next bytes into; None: use your own
        buffer and data_received."""
        ...

    def buffer_updated(self, conn_id: int, nbytes: int) -> None:
        """`nbytes` bytes from the peer were read into the view of get_buffer."""
        ...

    def connection_lost(self, conn_id: int) -> None:
        """The socket is gone."""
        ...

    def read_block(self, block: PendingBlock, *, count: bool = True) -> bytes | None:
        """The file data of a block to send (None: the file cannot be read)."""
        ...

    def block_source(self, block: PendingBlock) -> tuple[int, int] | None:
        """(fd, offset) to send a block from with os.sendfile, or None to use read_block."""
        ...


class PeerProtocol(asyncio.BufferedProtocol):
    """asyncio glue for one peer connection; every decision is forwarded to the node's swarm."""

    def __init__(
        self, node: ConnectionOwner, outbound: bool, dial_host: str = "", dial_port: int = 0
    ) -> None:
        self.node = node
        self.outbound = outbound
        self.dial_host = dial_host
        self.dial_port = dial_port
        self.conn_id = -1
        self.transport: asyncio.Transport | None = None
        self._view = memoryview(bytearray(HANDSHAKE_READ_SIZE))
        self._direct = False  # read into the node's buffer (once the peer is admitted)
        self._filling = False  # the last get_buffer gave the node's buffer, not _view
        self._queue: deque[bytes | PendingBlock] = deque()
        self._write_paused = False
        self._pause_reasons: set[str] = set()  # "queue" (our sends back up), "disk" (writes lag)
        self._flush_scheduled = False
        self._sock: Any = None  # the socket, when file blocks are sent with os.sendfile
        self._corked = False
        self.closing = False
        self.lost: asyncio.Future[None] | None = None  # done when the connection is gone

    # --- asyncio callbacks -----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.lost = asyncio.get_running_loop().create_future()
        sock = transport.get_extra_info("socket")
        if ZERO_COPY and sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            self._sock = sock
            # writing resumes only once the transport's buffer is empty: then the socket is ours
            transport.set_write_buffer_limits(high=0, low=0)
        else:
            transport.set_write_buffer_limits(high=WRITE_HIGH_WATER, low=WRITE_LOW_WATER)
        if self.outbound:
            host, port = self.dial_host, self.dial_port
        else:
            peer = transport.get_extra_info("peername")
            host, port = (str(peer[0]), int(peer[1])) if peer else ("", 0)
        self.conn_id = self.node.connection_made(self, host, port)

    def get_buffer(self, sizehint: int) -> memoryview:
        view = self.node.get_buffer(self.conn_id, READ_SIZE) if self._direct else None
        if view is None:
            self._filling = False
            return self._view
        self._filling = True
        return view[:READ_SIZE]  # (one read takes at most this, as before: rate limits)

    def handshake_done(self) -> None:
        """The peer is admitted: read large chunks straight into the node's buffer from now on
        (see the module doc)."""
        self._direct = True

    def buffer_updated(self, nbytes: int) -> None:
        if self._filling:
            self.node.buffer_updated(self.conn_id, nbytes)
            return
        with self._view[:nbytes] as data:  # (the core copies what it keeps)
            self.node.data_received(self.conn_id, data)

    def eof_received(self) -> bool:
        # The swarm decides (clean close at a frame boundary, or TRUNCATED) and emits Close.
        self.node.data_received(self.conn_id, b"")
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._queue.clear()
        if self.lost is not None and not self.lost.done():
            self.lost.set_result(None)
        self.node.connection_lost(self.conn_id)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._drain()

    # --- node side -------------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        self._enqueue(data)

    def send_block(self, block: PendingBlock) -> None:
        self._enqueue(block)

    def close(self) -> None:
        """Close after the queued bytes are flushed (the error frame goes out first)."""
        if self.closing:
            return
        self.closing = True
        queued, self._queue = self._queue, deque()
        if self.transport is None:
            return
        for item in queued:  # control frames (the error frame) still go out; file blocks do not
            if isinstance(item, bytes):
                self.transport.write(item)
        self.transport.close()

    def abort(self) -> None:
        self.closing = True
        self._queue.clear()
        if self.transport is not None:
            self.transport.abort()

    def pause_reading(self, reason: str) -> None:
        """Stop reading from the socket until every reason is lifted (TCP pushes back)."""
        if not self._pause_reasons and self.transport is not None and not self.closing:
            self.transport.pause_reading()
        self._pause_reasons.add(reason)

    def resume_reading(self, reason: str) -> None:
        if reason not in self._pause_reasons:
            return
        self._pause_reasons.discard(reason)
        if not self._pause_reasons and self.transport is not None and not self.closing:
            self.transport.resume_reading()

    def _enqueue(self, item: bytes | PendingBlock) -> None:
        """Queue a write; all writes of one loop iteration leave in one send (fewer syscalls)."""
        if self.closing or self.transport is None:
            return
        self._queue.append(item)
        if not self._flush_scheduled and not self._write_paused:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)
        elif len(self._queue) > QUEUE_GUARD:
            self.pause_reading("queue")

    def _flush(self) -> None:
        self._flush_scheduled = False
        self._drain()

    def _drain(self) -> None:
        """Write queued items in batches of about BATCH_BYTES until the socket buffer is full."""
        transport = self.transport
        queue = self._queue
        zero_copy = self._sock is not None
        while queue and not self._write_paused and not self.closing and transport is not None:
            if zero_copy and isinstance(queue[0], PendingBlock):
                block = queue.popleft()
                assert isinstance(block, PendingBlock)
                self._send_from_file(transport, block)
                continue
            batch: list[bytes] = []
            size = 0
            while queue and size < BATCH_BYTES:
                item = queue[0]
                if isinstance(item, PendingBlock):
                    if zero_copy:
                        break
                    queue.popleft()
                    data = self.node.read_block(item)
                    if data is None:
                        continue
                    batch.append(item.header)
                    batch.append(data)
                    size += len(data)
                else:
                    queue.popleft()
                    batch.append(item)
                    size += len(item)
            if batch and not self.closing:
                transport.write(b"".join(batch))
        if self._corked:
            self._cork(False)
        if "queue" in self._pause_reasons and len(queue) < QUEUE_GUARD // 2:
            self.resume_reading("queue")

    def _send_from_file(self, transport: asyncio.Transport, block: PendingBlock) -> None:
        """Send one block with os.sendfile; what the socket does not take goes via the transport.

        Called only while the transport's buffer is empty (writing is paused otherwise).
        """
        source = self.node.block_source(block)
        if source is None:  # no file to send from, or data to alter: the copying path
            data = self.node.read_block(block)
            if data is not None:
                transport.write(block.header + data)
            return
        fd, offset = source
        header, length = block.header, block.length
        sock_fd = self._sock.fileno()
        if not self._corked:
            self._cork(True)
        written = sent = 0
        try:
            written = os.write(sock_fd, header)
            if written == len(header):
                while sent < length:
                    count = os.sendfile(sock_fd, fd, offset + sent, length - sent)
                    if count == 0:
                        break  # the file is shorter than it was: read_block reports it
                    sent += count
        except BlockingIOError:
            pass  # the socket is full
        except OSError:
            pass  # a broken socket: the transport finds out and reports it as usual
        if written == len(header) and sent == length:
            return
        rest_block = PendingBlock(b"", block.index, block.offset + sent, length - sent)
        rest = self.node.read_block(rest_block, count=False)
        if rest is not None:  # (None: the node failed and is closing)
            transport.write(header[written:] + rest)

    def _cork(self, on: bool) -> None:
        """TCP_CORK: hold partial segments (a header) until uncorked or a segment is full."""
        self._corked = on
        with contextlib.suppress(OSError):  # (the socket is going away: nothing to hold back)
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1 if on else 0)
