"""The Node API in-process: seed, download, resume and refuse unsafe input (loopback only)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import typing
from pathlib import Path

import pytest
from p2pshare_core import actions as act
from p2pshare_core.codec import encode
from p2pshare_core.events import Handshake
from p2pshare_node import events as ev
from p2pshare_node import node as node_module
from p2pshare_node.config import NodeConfig
from p2pshare_node.errors import ErrorKind, NodeError
from p2pshare_node.hashing import DownloadHasher
from p2pshare_node.node import Node
from p2pshare_node.resume import ResumeState, save_state
from p2pshare_node.sharing import build_metainfo
from p2pshare_node.transport import READ_SIZE, PeerProtocol

from .recorder import Recorder

pytestmark = pytest.mark.timeout(60)
PIECE = 16_384


async def _seeder(path: Path) -> Node:
    node = Node(NodeConfig(share_path=path, piece_size=PIECE))
    await node.start()
    return node


def _file(tmp_path: Path, size: int) -> tuple[Path, bytes]:
    folder = tmp_path / "seed"
    folder.mkdir()
    path = folder / "data.bin"
    data = os.urandom(size)
    path.write_bytes(data)
    return path, data


async def test_download_then_keep_seeding(tmp_path: Path) -> None:
    path, data = _file(tmp_path, 300_001)
    seeder = await _seeder(path)
    out = tmp_path / "out"
    out.mkdir()
    assert seeder.share_link is not None and seeder.share_id is not None
    leecher = Node(
        NodeConfig(
            output_dir=out,
            share_id=seeder.share_id,
            bootstrap=(("127.0.0.1", seeder.listen_port),),
        )
    )
    seen = Recorder(leecher)
    try:
        await leecher.start()
        await asyncio.wait_for(leecher.wait_complete(), 30)
        final = out / "data.bin"
        assert final.read_bytes() == data
        assert not (out / "data.bin.part").exists()
        assert not (out / "data.bin.part.json").exists()
        kinds = [e.kind for e in seen.events]
        assert kinds[0] == "started" and "metadata" in kinds and "completed" in kinds
        assert kinds.count("piece") == 19  # ceil(300001 / 16384)
        # still seeding: a second leecher can fetch from the first one alone
        out2 = tmp_path / "out2"
        out2.mkdir()
        second = Node(NodeConfig(output_dir=out2, bootstrap=(("127.0.0.1", leecher.listen_port),)))
        assert not seen.of(ev.PeerDown)
        await seeder.close()  # [ERR-8]: the leecher is told why the connection ends
        down = await seen.wait(ev.PeerDown, 10)
        assert isinstance(down, ev.PeerDown) and "error 16" in down.reason, down
        await second.start()
        await asyncio.wait_for(second.wait_complete(), 30)
        assert (out2 / "data.bin").read_bytes() == data
        await second.close()
    finally:
        await leecher.close()
        await seeder.close()


async def test_resume_rechecks_listed_pieces(tmp_path: Path) -> None:
    """A state file claiming pieces is verified against the disk: lies are re-fetched."""
    path, data = _file(tmp_path, 10 * PIECE + 77)
    meta = build_metainfo(path, PIECE)
    out = tmp_path / "out"
    out.mkdir()
    part = bytearray(len(data))
    for i in (0, 1, 2, 5):
        part[i * PIECE : (i + 1) * PIECE] = data[i * PIECE : (i + 1) * PIECE]
    (out / "data.bin.part").write_bytes(bytes(part))
    # claims piece 7 too, but its bytes on disk are zeros
    state = ResumeState(metainfo=meta, link="", verified=frozenset({0, 1, 2, 5, 7}))
    save_state(out / "data.bin.part.json", state)

    seeder = await _seeder(path)
    leecher = Node(
        NodeConfig(
            output_dir=out, share_id=meta.share_id, bootstrap=(("127.0.0.1", seeder.listen_port),)
        )
    )
    got: list[ev.NodeEvent] = []
    leecher.add_listener(got.append)
    try:
        await leecher.start()
        await asyncio.wait_for(leecher.wait_complete(), 30)
    finally:
        await leecher.close()
        await seeder.close()
    metadata = next(e for e in got if isinstance(e, ev.Metadata))
    assert metadata.have == 4
    fetched = sorted(e.index for e in got if isinstance(e, ev.PieceDone))
    assert fetched == [3, 4, 6, 7, 8, 9, 10]
    assert hashlib.sha1((out / "data.bin").read_bytes()).digest() == meta.file_sha1


async def test_unsafe_name_from_peer_is_refused(tmp_path: Path) -> None:
    """A peer announcing '../evil' never gets a file written outside the folder."""
    hello = encode(
        Handshake(
            peer_id=b"e" * 20,
            listen_port=0,
            share_id=b"s" * 32,
            file_size=10,
            piece_size=PIECE,
            file_sha1=b"h" * 20,
            name="../evil",
        )
    )

    async def liar(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(hello)
        await writer.drain()
        await reader.read(1)
        writer.close()

    server = await asyncio.start_server(liar, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    out = tmp_path / "out"
    out.mkdir()
    node = Node(NodeConfig(output_dir=out, bootstrap=(("127.0.0.1", port),)))
    try:
        with pytest.raises(NodeError) as info:
            await node.start()
        assert info.value.kind is ErrorKind.UNSAFE_NAME
    finally:
        await node.close()
        server.close()
    assert list(out.iterdir()) == []
    assert not (tmp_path / "evil").exists()


async def test_resume_with_every_piece_finishes_without_peers(tmp_path: Path) -> None:
    """Stopped after the last piece but before the rename: the restart completes alone."""
    path, data = _file(tmp_path, 3 * PIECE + 5)
    meta = build_metainfo(path, PIECE)
    out = tmp_path / "out"
    out.mkdir()
    (out / "data.bin.part").write_bytes(data)
    save_state(
        out / "data.bin.part.json",
        ResumeState(metainfo=meta, link="", verified=frozenset(range(meta.piece_count))),
    )
    node = Node(NodeConfig(output_dir=out, share_id=meta.share_id, bootstrap=()))
    try:
        await node.start()
        await asyncio.wait_for(node.wait_complete(), 10)
    finally:
        await node.close()
    assert sorted(p.name for p in out.iterdir()) == ["data.bin"]
    assert (out / "data.bin").read_bytes() == data


async def test_empty_file(tmp_path: Path) -> None:
    """Zero pieces: the metainfo alone completes the download (whole-file SHA-1 of b"")."""
    path, _ = _file(tmp_path, 0)
    seeder = await _seeder(path)
    out = tmp_path / "out"
    out.mkdir()
    leecher = Node(NodeConfig(output_dir=out, bootstrap=(("127.0.0.1", seeder.listen_port),)))
    try:
        await leecher.start()
        await asyncio.wait_for(leecher.wait_complete(), 10)
    finally:
        await leecher.close()
        await seeder.close()
    assert (out / "data.bin").read_bytes() == b""


@pytest.mark.parametrize("zero_copy", [True, False], ids=["sendfile", "read-write"])
async def test_both_upload_paths_deliver_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, zero_copy: bool
) -> None:
    """os.sendfile (Linux) and read + write (elsewhere) send the same bytes, in order."""
    from p2pshare_node import transport

    if zero_copy and not transport.ZERO_COPY:
        pytest.skip("no os.sendfile / TCP_CORK here")
    monkeypatch.setattr(transport, "ZERO_COPY", zero_copy)
    path, data = _file(tmp_path, 12 * 1024 * 1024 + 5)
    seeder = Node(NodeConfig(share_path=path, piece_size=1 << 20))
    await seeder.start()
    out = tmp_path / "out"
    out.mkdir()
    leecher = Node(NodeConfig(output_dir=out, bootstrap=(("127.0.0.1", seeder.listen_port),)))
    try:
        await leecher.start()
        await asyncio.wait_for(leecher.wait_complete(), 30)
        assert hashlib.sha1((out / "data.bin").read_bytes()).digest() == hashlib.sha1(data).digest()
    finally:
        await leecher.close()
        await seeder.close()


async def test_a_slow_reader_gets_every_block_intact(tmp_path: Path) -> None:
    """A tiny receive window fills the seeder's socket mid-block: the rest of the block must
    follow through the transport, in order, and later blocks after it."""
    import socket

    from p2pshare_core.connection import Connection, Role
    from p2pshare_core.events import NEED_DATA, Bitfield, Interested, Piece, Unchoke

    path, data = _file(tmp_path, 6 * 1024 * 1024)
    seeder = Node(NodeConfig(share_path=path, piece_size=1 << 20))
    await seeder.start()
    meta = seeder.metainfo
    assert meta is not None
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", seeder.listen_port))
    reader, writer = await asyncio.open_connection(sock=sock)
    conn = Connection(Role.DIALER, meta.share_id)
    received: dict[tuple[int, int], bytes] = {}

    async def next_event() -> object:
        while (event := conn.next_event()) is NEED_DATA:
            conn.receive_data(await reader.read(65536))
        return event

    try:
        hello = Handshake(
            peer_id=b"r" * 20,
            listen_port=0,
            share_id=meta.share_id,
            file_size=meta.file_size,
            piece_size=meta.piece_size,
            file_sha1=meta.file_sha1,
            name=meta.name,
        )
        writer.write(conn.send(hello) + conn.send(Bitfield(bits=b"\0")) + conn.send(Interested()))
        async with asyncio.timeout(30):
            while not isinstance(await next_event(), Unchoke):
                pass
            blocks = [
                (i, o, 1 << 18) for i in range(meta.piece_count) for o in range(0, 1 << 20, 1 << 18)
            ]
            writer.write(conn.send_requests(blocks))
            while len(received) < len(blocks):
                event = await next_event()
                if isinstance(event, Piece):
                    received[(event.index, event.offset)] = event.data
        for (index, offset), block in received.items():
            start = index * meta.piece_size + offset
            assert block == data[start : start + len(block)]
    finally:
        writer.close()
        await seeder.close()


def test_every_action_kind_has_a_handler() -> None:
    """The node's dispatch table covers every type the core can emit (a new one must be added)."""
    handlers = Node(NodeConfig(output_dir=Path(".")))._action_table()
    assert set(handlers) == set(typing.get_args(act.Action))


async def test_a_slow_disk_pauses_reading_so_memory_stays_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Blocks waiting for the disk are bounded: past DISK_BACKLOG_MAX the node stops reading
    (TCP pushes back on the peer) and resumes once the disk catches up."""
    gate = threading.Event()
    store_block = DownloadHasher.store_block

    def slow_store_block(self: DownloadHasher, index: int, offset: int, data: bytes) -> None:
        gate.wait(30)  # the disk "hangs" until the test has seen the node stop reading
        store_block(self, index, offset, data)

    monkeypatch.setattr(DownloadHasher, "store_block", slow_store_block)
    paused = asyncio.Event()
    pause_reading = PeerProtocol.pause_reading

    def record_pause(self: PeerProtocol, reason: str) -> None:
        pause_reading(self, reason)
        if reason == "disk":
            paused.set()

    monkeypatch.setattr(PeerProtocol, "pause_reading", record_pause)
    path, data = _file(tmp_path, 4 * node_module.DISK_BACKLOG_MAX)
    seeder = await _seeder(path)
    out = tmp_path / "out"
    out.mkdir()
    assert seeder.share_id is not None
    leecher = Node(
        NodeConfig(
            output_dir=out, share_id=seeder.share_id, bootstrap=(("127.0.0.1", seeder.listen_port),)
        )
    )
    try:
        await leecher.start()
        await asyncio.wait_for(paused.wait(), 20)
        download = leecher._download
        assert download is not None and download.paused
        # one read (at most READ_SIZE of blocks) may land after the limit, nothing more
        assert download.backlog <= node_module.DISK_BACKLOG_MAX + READ_SIZE
        gate.set()
        await asyncio.wait_for(leecher.wait_complete(), 30)
        assert (out / "data.bin").read_bytes() == data
        assert not download.paused and leecher._download is None  # moved into place
    finally:
        gate.set()
        await leecher.close()
        await seeder.close()
