"""One real connection between two reference nodes, recorded byte for byte for the docs.

A seeder shares a small text file (three pieces); a downloader that knows only the share link
(the share ID and an address) fetches the metainfo and the file from it, then shuts down. Both
are the real `p2pshare_node.Node`, on loopback, in this process; the downloader dials a relay
that copies each direction's bytes unchanged and notes the order in which they arrived. The file
and both peer IDs are fixed, so every recording has the same frames in the same order; only the
two listen ports (chosen by the OS) differ between runs (docs/tests/test_connection.py checks).
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass
from pathlib import Path

FILE_NAME = "hello.txt"
FILE_SIZE = 33_000  # three pieces of 16 KiB, the last one short
PIECE_SIZE = 16_384
SEEDER_ID = bytes(range(0xA0, 0xB4))
DOWNLOADER_ID = bytes(range(0xD0, 0xE4))
TIMEOUT = 30.0


def file_bytes() -> bytes:
    """Numbered lines of text, so that the data in every piece is readable in the hex dump."""
    lines, size, number = [], 0, 0
    while size < FILE_SIZE:
        line = f"line {number:04d} of hello.txt, shared over p2pshare\n"
        lines.append(line)
        size += len(line)
        number += 1
    return "".join(lines).encode()[:FILE_SIZE]


@dataclass(frozen=True)
class Chunk:
    """Bytes one side received in one read, in the order the relay saw them."""

    connection: int  # 1, 2, ... in the order the downloader dialed
    from_seeder: bool
    data: bytes


@dataclass(frozen=True)
class Recording:
    chunks: tuple[Chunk, ...]
    share_link: str
    seeder_port: int
    downloader_port: int


def record() -> Recording:
    return asyncio.run(asyncio.wait_for(_record(), TIMEOUT))


async def _record() -> Recording:
    from p2pshare_node.config import NodeConfig
    from p2pshare_node.node import Node

    chunks: list[Chunk] = []
    with tempfile.TemporaryDirectory(prefix="p2pshare-docs-") as tmp:
        shared = Path(tmp) / FILE_NAME
        shared.write_bytes(file_bytes())
        seeder = Node(
            NodeConfig(
                share_path=shared, listen_host="127.0.0.1", piece_size=PIECE_SIZE, lan=False
            ),
            peer_id=SEEDER_ID,
        )
        await seeder.start()
        relay = await asyncio.start_server(_relay_to(seeder.listen_port, chunks), "127.0.0.1", 0)
        out = Path(tmp) / "downloads"
        out.mkdir()
        downloader = Node(
            NodeConfig(
                output_dir=out,
                share_id=seeder.share_id,
                bootstrap=(("127.0.0.1", relay.sockets[0].getsockname()[1]),),
                listen_host="127.0.0.1",
                lan=False,
            ),
            peer_id=DOWNLOADER_ID,
        )
        try:
            await downloader.start()
            await downloader.wait_complete()
        finally:
            await downloader.close()
            await seeder.close()
            relay.close()
            await relay.wait_closed()
        if (out / FILE_NAME).read_bytes() != file_bytes():
            raise RuntimeError("the recorded download does not match the shared file")
        link = seeder.share_link or ""
        return Recording(tuple(chunks), link, seeder.listen_port, downloader.listen_port)


def _relay_to(port: int, chunks: list[Chunk]):  # type: ignore[no-untyped-def]
    count = 0

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal count
        count += 1
        connection = count
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)

        async def pipe(
            src: asyncio.StreamReader, dst: asyncio.StreamWriter, from_seeder: bool
        ) -> None:
            try:
                while data := await src.read(1 << 16):
                    chunks.append(Chunk(connection, from_seeder, data))
                    dst.write(data)
                    await dst.drain()
            finally:
                dst.close()

        await asyncio.gather(
            pipe(reader, up_writer, False), pipe(up_reader, writer, True), return_exceptions=True
        )

    return relay


@dataclass(frozen=True)
class Frame:
    from_seeder: bool
    data: bytes  # the whole frame: length, id, payload


def frames(recording: Recording, connection: int) -> list[Frame]:
    """The frames of one connection, both directions, in the order they were complete (a frame
    split over several reads counts when its last byte arrived)."""
    buffers = {True: b"", False: b""}
    out: list[Frame] = []
    for chunk in recording.chunks:
        if chunk.connection != connection:
            continue
        buffer = buffers[chunk.from_seeder] + chunk.data
        while len(buffer) >= 4 and len(buffer) >= 4 + int.from_bytes(buffer[:4], "big"):
            end = 4 + int.from_bytes(buffer[:4], "big")
            out.append(Frame(chunk.from_seeder, buffer[:end]))
            buffer = buffer[end:]
        buffers[chunk.from_seeder] = buffer
    if any(buffers.values()):
        raise RuntimeError(f"connection {connection} ended inside a frame")
    return out


def connections(recording: Recording) -> list[int]:
    return sorted({chunk.connection for chunk in recording.chunks})
