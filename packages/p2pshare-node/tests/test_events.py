"""Node events as JSON lines: the per-piece fast path writes exactly what json.dumps would."""

from __future__ import annotations

import json

import pytest
from p2pshare_node import events as ev


@pytest.mark.parametrize(
    ("time", "peers"),
    [(0.0, ()), (1.23456, ("ab" * 20,)), (12345.0005, ("00" * 20, "ff" * 20)), (2.0, ('a"b',))],
)
def test_piece_event_json_is_the_generic_json(time: float, peers: tuple[str, ...]) -> None:
    event = ev.PieceDone(index=7, peers=peers)
    object.__setattr__(event, "time", time)
    generic = json.dumps(event.to_dict(), separators=(",", ":"))
    assert event.to_json() == generic
    assert json.loads(event.to_json())["peers"] == list(peers)


def test_other_events_keep_their_fields() -> None:
    event = ev.PeerDown(conn=3, peer_id="ab", reason="bye")
    assert json.loads(event.to_json()) == {
        "event": "peer-disconnected",
        "time": 0.0,
        "conn": 3,
        "peer_id": "ab",
        "reason": "bye",
    }
