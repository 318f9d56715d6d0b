"""The test-only fault hooks rewrite exactly the frames they target and nothing else."""

from __future__ import annotations

from p2pshare_core.codec import encode
from p2pshare_core.events import Bitfield, Have, Interested, KeepAlive, Reject, Unchoke
from p2pshare_node.faults import Fault, Faults


def test_no_faults_is_identity() -> None:
    faults = Faults()
    data = encode(Have(index=3)) + encode(Reject(index=1, offset=0, length=5))
    assert not faults
    assert faults.outgoing(data) == data
    assert faults.block_data(b"abc") == b"abc"


def test_corrupt_flips_every_byte() -> None:
    faults = Faults(frozenset({Fault.CORRUPT}))
    data = bytes(range(256)) * 3
    bad = faults.block_data(data)
    assert len(bad) == len(data)
    assert all(a ^ b == 0xFF for a, b in zip(data, bad, strict=True))


def test_no_have_hides_pieces_but_keeps_other_frames() -> None:
    faults = Faults(frozenset({Fault.NO_HAVE}))
    data = (
        encode(Bitfield(bits=b"\xff\xf0"))
        + encode(Have(index=2))
        + encode(Unchoke())
        + encode(KeepAlive())
        + encode(Have(index=9))
    )
    assert faults.outgoing(data) == (
        encode(Bitfield(bits=b"\x00\x00")) + encode(Unchoke()) + encode(KeepAlive())
    )


def test_ignore_request_drops_rejects_and_blocks() -> None:
    faults = Faults(frozenset({Fault.IGNORE_REQUEST}))
    data = encode(Interested()) + encode(Reject(index=0, offset=0, length=10))
    assert faults.outgoing(data) == encode(Interested())
    assert faults.drop_blocks
