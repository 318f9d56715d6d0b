"""The illustrated connection is a real recording, and the same one every time the site is built:
two recordings have the same frames in the same order, except the two listen ports (the OS
chooses them), and every frame is one the codec decodes."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hooks"))

import annotate
import capture
from p2pshare_core.codec import decode
from p2pshare_core.events import Piece, SpanData

HANDSHAKE_ID = 0x00
LISTEN_PORT = slice(31, 33)  # frame offsets of a handshake's listen_port (spec 5: payload 26)


def masked(recording: capture.Recording) -> list[tuple[int, bool, bytes]]:
    out = []
    for connection in capture.connections(recording):
        for frame in capture.frames(recording, connection):
            data = bytearray(frame.data)
            if len(data) > 4 and data[4] == HANDSHAKE_ID:
                data[LISTEN_PORT] = b"\0\0"
            out.append((connection, frame.from_seeder, bytes(data)))
    return out


def test_two_recordings_are_the_same_but_for_the_listen_ports() -> None:
    first, second = capture.record(), capture.record()
    assert masked(first) == masked(second)
    ports = {
        int.from_bytes(f.data[LISTEN_PORT], "big")
        for f in capture.frames(first, capture.connections(first)[-1])
        if f.data[4] == HANDSHAKE_ID
    }
    assert ports == {first.seeder_port, first.downloader_port}


def test_the_recording_carries_the_whole_file_and_every_frame_decodes() -> None:
    recording = capture.record()
    frames = capture.frames(recording, capture.connections(recording)[-1])
    names = [annotate.message_name(f.data) for f in frames]
    assert names[:2] == ["handshake", "bitfield"]  # the acceptor speaks first (HS-11)
    assert "metainfo_data" in names and names[-1] == "error"  # it shuts down with a reason
    carried = b""
    for frame in frames:
        event = decode(frame.data[4], frame.data[5:])
        if isinstance(event, (SpanData, Piece)):
            carried += event.data
    assert carried == capture.file_bytes()


def test_the_page_shows_the_checks_the_downloader_makes() -> None:
    import learn

    page = learn.connection_page(capture.record())
    assert "the same as the share ID in the link" in page
    pieces = -(-capture.FILE_SIZE // capture.PIECE_SIZE)
    assert page.count("` | yes |") == pieces
    assert "| `piece hashes` |" in page  # the metainfo split with the spec's 8.1 table
