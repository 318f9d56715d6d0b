"""Embed the p2pshare core in your own I/O loop.

The core (`p2pshare_core`) never touches a socket, a file or a clock: you hand a `Swarm` what
happened (a connection opened, bytes arrived, a hash was computed, time passed) and carry out
the actions it returns (send these bytes, store this block, hash this piece, dial this address).
Here one plain `selectors` loop drives two swarms over real TCP sockets on loopback: a seeder
of an in-memory file, and a downloader that knows only the share ID and one address. Run it:

    python docs/examples/own_loop.py

It prints what it downloaded and exits 0 when the copy is byte for byte the original.
"""

from __future__ import annotations

import hashlib
import random
import selectors
import socket
import time

from p2pshare_core.actions import (
    Close,
    Dial,
    DownloadComplete,
    MetainfoReady,
    Send,
    SendBlock,
    StoreBlock,
    VerifyFile,
    VerifyPiece,
)
from p2pshare_core.bitfield import Bitfield
from p2pshare_core.config import SwarmConfig
from p2pshare_core.metainfo import Metainfo
from p2pshare_core.swarm import Swarm

PIECE_SIZE = 16_384
TIMEOUT = 30.0  # seconds: the example gives up rather than hang


class Peer:
    """One swarm, its file (a bytearray standing in for the disk) and its sockets."""

    def __init__(self, swarm: Swarm, data: bytearray, selector: selectors.BaseSelector) -> None:
        self.swarm = swarm
        self.data = data
        self.selector = selector
        self.sockets: dict[int, socket.socket] = {}
        self.outbox: dict[int, bytearray] = {}
        self.next_conn_id = 1
        self.complete = False

    # --- events in: tell the swarm what happened ----------------------------------------------

    def opened(self, sock: socket.socket, outbound: bool) -> None:
        conn_id, self.next_conn_id = self.next_conn_id, self.next_conn_id + 1
        sock.setblocking(False)
        self.sockets[conn_id] = sock
        self.outbox[conn_id] = bytearray()
        self.selector.register(sock, selectors.EVENT_READ, (self, conn_id))
        host, port = sock.getpeername()[:2]
        self.swarm.connection_opened(conn_id, host, port, outbound, time.monotonic())

    def readable(self, conn_id: int) -> None:
        try:
            data = self.sockets[conn_id].recv(1 << 16)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        self.swarm.data_received(conn_id, data, time.monotonic())  # b"" means end of stream
        if not data:
            self.drop(conn_id)

    def drop(self, conn_id: int) -> None:
        sock = self.sockets.pop(conn_id, None)
        if sock is not None:
            self.selector.unregister(sock)
            sock.close()
            self.outbox.pop(conn_id, None)
            self.swarm.connection_lost(conn_id, time.monotonic())

    # --- actions out: do what the swarm asks --------------------------------------------------

    def act(self) -> None:
        while (action := self.swarm.next_action()) is not None:
            now = time.monotonic()
            match action:
                case Send(conn_id=conn_id, data=data):
                    self.queue(conn_id, data)
                case SendBlock():
                    meta = self.swarm.metainfo
                    assert meta is not None
                    start = meta.piece_offset(action.index) + action.offset
                    block = self.data[start : start + action.length]
                    self.queue(action.conn_id, action.header + block)
                case StoreBlock(index=index, offset=offset, data=data):
                    meta = self.swarm.metainfo
                    assert meta is not None
                    start = meta.piece_offset(index) + offset
                    self.data[start : start + len(data)] = data
                case VerifyPiece(index=index):
                    meta = self.swarm.metainfo
                    assert meta is not None
                    start = meta.piece_offset(index)
                    piece = self.data[start : start + meta.piece_length(index)]
                    self.swarm.piece_hashed(index, hashlib.sha256(piece).digest(), now)
                case VerifyFile():
                    self.swarm.file_hashed(hashlib.sha1(self.data).digest(), now)
                case MetainfoReady(metainfo=meta):
                    self.data[:] = bytes(meta.file_size)  # the file's size is known now
                case Dial(host=host, port=port):
                    try:
                        self.opened(socket.create_connection((host, port), timeout=5), True)
                    except OSError:
                        self.swarm.dial_failed(host, port, now)
                case Close(conn_id=conn_id):
                    self.flush(conn_id)  # (the error frame that explains the close goes first)
                    self.drop(conn_id)
                case DownloadComplete():
                    self.complete = True
                case _:
                    pass  # PeerConnected, PieceVerified, ...: for a progress display
        for conn_id in list(self.outbox):
            self.flush(conn_id)

    def queue(self, conn_id: int, data: bytes | bytearray) -> None:
        if conn_id in self.outbox:
            self.outbox[conn_id] += data

    def flush(self, conn_id: int) -> None:
        """Write what the socket takes now; the rest waits for the socket to be writable."""
        pending, sock = self.outbox.get(conn_id), self.sockets.get(conn_id)
        if not pending or sock is None:
            return
        try:
            sent = sock.send(pending)
        except BlockingIOError:
            sent = 0
        except OSError:
            self.drop(conn_id)
            return
        del pending[:sent]
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if pending else 0)
        self.selector.modify(sock, events, (self, conn_id))


def make_share(size: int) -> tuple[Metainfo, bytes]:
    data = random.Random(1).randbytes(size)
    hashes = tuple(
        hashlib.sha256(data[i : i + PIECE_SIZE]).digest() for i in range(0, size, PIECE_SIZE)
    )
    return Metainfo("example.bin", size, PIECE_SIZE, hashlib.sha1(data).digest(), hashes), data


def main(size: int = 200_000) -> bytes:
    meta, original = make_share(size)
    selector = selectors.DefaultSelector()
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    now = time.monotonic()
    seeder = Peer(
        Swarm(
            peer_id=b"S" * 20,
            listen_port=port,
            share_id=None,
            metainfo=meta,
            have=Bitfield.full(meta.piece_count),
            config=SwarmConfig(),
            now=now,
        ),
        bytearray(original),
        selector,
    )
    downloader = Peer(
        Swarm(
            peer_id=b"D" * 20,
            listen_port=0,  # (not listening: it only dials)
            share_id=meta.share_id,  # all a share link gives, besides the address
            metainfo=None,
            have=None,
            config=SwarmConfig(),
            now=now,
        ),
        bytearray(),
        selector,
    )
    selector.register(listener, selectors.EVENT_READ, None)
    downloader.swarm.add_bootstrap("127.0.0.1", port, now)
    peers = (seeder, downloader)
    deadline = now + TIMEOUT
    try:
        while not downloader.complete and time.monotonic() < deadline:
            for peer in peers:
                peer.act()
            timers = [t for p in peers if (t := p.swarm.get_timer()) is not None]
            wait = min([0.5, *(t - time.monotonic() for t in timers)])
            for key, events in selector.select(max(wait, 0)):
                if key.data is None:  # the listener: a peer dialed the seeder
                    sock, _ = listener.accept()
                    seeder.opened(sock, outbound=False)
                    continue
                peer, conn_id = key.data
                if events & selectors.EVENT_WRITE:
                    peer.flush(conn_id)
                if events & selectors.EVENT_READ:
                    peer.readable(conn_id)
            for peer in peers:
                timer = peer.swarm.get_timer()
                if timer is not None and timer <= time.monotonic():
                    peer.swarm.handle_timer(time.monotonic())
        for peer in peers:
            peer.swarm.shutdown(time.monotonic())
            peer.act()
    finally:
        for peer in peers:
            for conn_id in list(peer.sockets):
                peer.drop(conn_id)
        listener.close()
        selector.close()
    if not downloader.complete:
        raise SystemExit(f"no complete download in {TIMEOUT} s")
    return bytes(downloader.data)


if __name__ == "__main__":
    copy = main()
    print(f"downloaded {len(copy)} bytes; SHA-1 {hashlib.sha1(copy).hexdigest()}")
