"""The give-up clock: time without a peer, and time without progress while pieces fail."""

from __future__ import annotations

from p2pshare_node.errors import ErrorKind
from p2pshare_node.giveup import GiveUpClock


def test_no_peer_for_the_limit() -> None:
    clock = GiveUpClock(10.0)
    assert clock.check(0.0, complete=False, has_peers=False) is None
    assert clock.check(9.0, complete=False, has_peers=False) is None
    verdict = clock.check(10.0, complete=False, has_peers=False)
    assert verdict is not None and verdict[0] is ErrorKind.UNREACHABLE
    assert clock.check(10.0, complete=True, has_peers=False) is None
    assert GiveUpClock(None).check(1e9, complete=False, has_peers=False) is None


def test_connected_but_stalled_on_a_failing_piece() -> None:
    """[BEH-15] A connected peer does not keep a download alive forever: once no piece was
    verified for the limit while a failed piece is still missing, it gives up."""
    clock = GiveUpClock(10.0)
    clock.start(0.0)
    clock.piece_failed(3)
    clock.piece_verified(1, 5.0)  # progress elsewhere: the clock restarts
    assert clock.give_up_in(5.0) == 10.0
    assert clock.check(14.0, complete=False, has_peers=True) is None
    verdict = clock.check(15.0, complete=False, has_peers=True)
    assert verdict is not None and verdict[0] is ErrorKind.INTEGRITY
    assert "1 piece failed verification" in verdict[1]
    clock.piece_verified(3, 15.0)  # the failed piece arrived after all
    assert clock.failing == 0 and clock.give_up_in(15.0) is None
    assert clock.check(100.0, complete=False, has_peers=True) is None  # slow, but not failing
