"""Events validate representability (types, widths, sizes); errors carry code + spec ID."""

# Wrong argument types are the point of several tests here.
# mypy: disable-error-code="arg-type, comparison-overlap"

from __future__ import annotations

import pytest
from p2pshare_core import events as ev
from p2pshare_core.errors import (
    ErrorCode,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
)

PID = b"p" * 20


@pytest.mark.parametrize(
    "build",
    [
        lambda: ev.Have(index=-1),
        lambda: ev.Have(index=1 << 32),
        lambda: ev.Have(index=True),
        lambda: ev.Have(index="1"),
        lambda: ev.Request(index=0, offset=0, length=1 << 32),
        lambda: ev.Piece(index=0, offset=0, data=bytearray(b"x")),
        lambda: ev.Piece(index=0, offset=0, data=b"x" * (1 << 20)),
        lambda: ev.Bitfield(bits="abc"),
        lambda: ev.PeerEntry(peer_id=PID, host="example.org", port=1),
        lambda: ev.PeerEntry(peer_id=PID, host="fe80::1%eth0", port=1),
        lambda: ev.PeerEntry(peer_id=PID, host=b"1.2.3.4", port=1),
        lambda: ev.PeerEntry(peer_id=b"short", host="1.2.3.4", port=1),
        lambda: ev.PeerEntry(peer_id=PID, host="1.2.3.4", port=65536),
        lambda: ev.Peers(entries="nope"),
        lambda: ev.Peers(entries=(1,)),
        lambda: ev.Peers(entries=(ev.PeerEntry(peer_id=PID, host="::1", port=1),) * 256),
        lambda: ev.Error(code=70000),
        lambda: ev.Error(code=1, reason="x" * 1025),
        lambda: ev.Error(code=1, reason="\ud800"),
        lambda: ev.Error(code=1, reason=b"x"),
        lambda: ev.MetainfoData(chunk=0, total_size=-1, data=b""),
        lambda: ev.Handshake(
            peer_id=PID,
            listen_port=0,
            share_id=b"s" * 31,
            file_size=0,
            piece_size=16384,
            file_sha1=b"h" * 20,
            name="n",
        ),
    ],
)
def test_unrepresentable_events_are_refused(build: object) -> None:
    with pytest.raises(LocalProtocolError) as info:
        build()  # type: ignore[operator]
    assert info.value.code is ErrorCode.MALFORMED
    assert info.value.requirement


def test_events_are_frozen_and_keyword_only() -> None:
    have = ev.Have(index=1)
    with pytest.raises(AttributeError):
        have.index = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        ev.Have(1)  # type: ignore[call-arg]
    assert hash(ev.Request(index=1, offset=2, length=3)) == hash(
        ev.Request(index=1, offset=2, length=3)
    )
    assert ev.Request(index=1, offset=2, length=3) != ev.Reject(index=1, offset=2, length=3)
    assert ev.Request(index=1, offset=2, length=3).triple == (1, 2, 3)
    assert ev.Piece(index=1, offset=2, data=b"abc").triple == (1, 2, 3)


def test_peer_entries_are_normalised() -> None:
    entry = ev.PeerEntry(peer_id=PID, host="2001:0DB8:0:0::1", port=7)
    assert entry.host == "2001:db8::1"
    assert entry.family == 6
    assert ev.PeerEntry(peer_id=PID, host="10.0.0.1", port=7).family == 4
    assert ev.Peers(entries=[entry]).entries == (entry,)


def test_handshake_summary() -> None:
    hs = ev.Handshake(
        peer_id=PID,
        listen_port=1,
        share_id=b"s" * 32,
        file_size=40000,
        piece_size=16384,
        file_sha1=b"h" * 20,
        name="f",
    )
    assert hs.summary.piece_count == 3
    assert hs.summary.piece_length(2) == 40000 - 2 * 16384
    assert hs.version == 1 and hs.flags == 0
    again = ev.Handshake.for_share(
        peer_id=PID, listen_port=1, share_id=b"s" * 32, summary=hs.summary
    )
    assert again == hs


def test_error_helpers() -> None:
    long = ev.Error.build(ErrorCode.SHUTDOWN, "é" * 1000)
    assert len(long.reason.encode()) <= 1024
    assert long.reason == "é" * 512
    err = RemoteProtocolError(ErrorCode.FRAME_TOO_LARGE, "FRAME-3", "too big")
    frame = ev.Error.from_exception(err)
    assert frame.code == ErrorCode.FRAME_TOO_LARGE
    assert frame.reason == "[FRAME-3] too big"
    assert str(err) == "FRAME_TOO_LARGE [FRAME-3]: too big"
    assert ev.Error(code=999).code == 999  # unknown codes are representable (ERR-7)


def test_protocol_error_classes() -> None:
    with pytest.raises(TypeError):
        ProtocolError(ErrorCode.MALFORMED, "FRAME-7", "x")
    local = LocalProtocolError(ErrorCode.OUT_OF_RANGE, "MSG-3", "bad")
    remote = local.as_remote()
    assert isinstance(remote, RemoteProtocolError)
    assert (remote.code, remote.requirement, remote.reason) == (local.code, "MSG-3", "bad")
    assert remote.__cause__ is local
    assert [c.value for c in ErrorCode] == list(range(1, 19))
    assert repr(ev.NEED_DATA) == "NEED_DATA"
