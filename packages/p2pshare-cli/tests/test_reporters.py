"""What users and scripts see: the plain progress line and the JSON event stream."""

from __future__ import annotations

import io
import json

from p2pshare_cli.reporters import JsonReporter, PlainReporter
from p2pshare_node import events as ev
from p2pshare_node.errors import ErrorKind, NodeError


def _progress(done: int, total: int, peers: int) -> ev.Progress:
    return ev.Progress(
        done=done,
        total=total,
        pieces_done=1,
        pieces=2,
        down_rate=1e8,
        down_avg=180e6,
        up_rate=0.0,
        uploaded=0,
        peers=tuple(f"{i:040x}" for i in range(peers)),
    )


def test_plain_progress_line() -> None:
    out = io.StringIO()
    reporter = PlainReporter(out, interval=0)
    reporter.handle(ev.Started(peer_id="ab", listen_port=1, role="leecher", link=None))
    reporter.handle(_progress(442_100_000, 1_050_000_000, 5))
    assert out.getvalue().strip() == "Progress: 42.10% (442 MB/1.05 GB) 180 MB/s avg, 5 peers"


def test_json_lines_one_object_each() -> None:
    out = io.StringIO()
    reporter = JsonReporter(out)
    reporter.handle(ev.PieceDone(index=3, peers=("aa", "bb")))
    reporter.handle(_progress(1, 2, 1))
    reporter.fatal(NodeError(ErrorKind.UNREACHABLE, "cannot reach any peer"))
    reporter.fatal(NodeError(ErrorKind.UNREACHABLE, "reported once"))
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [d["event"] for d in lines] == ["piece", "progress", "error"]
    assert lines[0]["peers"] == ["aa", "bb"] and lines[0]["index"] == 3
    assert lines[2] == {
        "event": "error",
        "time": 0.0,
        "error": "unreachable",
        "message": "cannot reach any peer",
    }
