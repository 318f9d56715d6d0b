"""What users and scripts see: the plain progress line and the JSON event stream."""

from __future__ import annotations

import asyncio
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


class _CountingOut(io.StringIO):
    """A stdout stand-in that records what a reader would have seen at each flush."""

    def __init__(self) -> None:
        super().__init__()
        self.flushed: list[str] = []

    def flush(self) -> None:
        super().flush()
        self.flushed.append(self.getvalue())


async def test_json_piece_lines_are_batched_other_events_flushed_at_once() -> None:
    out = _CountingOut()
    reporter = JsonReporter(out, batch_delay=0.05)
    reporter.handle(ev.Started(peer_id="ab", listen_port=1, role="leecher", link=None))
    assert len(out.flushed) == 1  # started: at once
    for index in range(100):
        reporter.handle(ev.PieceDone(index=index, peers=("aa",)))
    assert len(out.flushed) == 1  # 100 piece lines, held back (one write later, not 100)
    assert out.getvalue().count("\n") == 1
    reporter.handle(ev.Completed(path="/x", size=1, elapsed=1.0, sha1="00", fetched=1))
    assert len(out.flushed) == 2  # completed flushes the pieces before it, in order
    events = [json.loads(line)["event"] for line in out.flushed[-1].splitlines()]
    assert events == ["started"] + ["piece"] * 100 + ["completed"]
    reporter.handle(ev.PieceDone(index=100, peers=("aa",)))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5.0
    while len(out.flushed) < 3 and loop.time() < deadline:  # the batch timer flushes it
        await asyncio.sleep(0.01)
    assert out.flushed[-1].endswith('"index":100,"peers":["aa"]}\n')
    reporter.close()


def test_json_piece_lines_flushed_at_once_without_event_loop() -> None:
    out = _CountingOut()
    reporter = JsonReporter(out)
    reporter.handle(ev.PieceDone(index=0, peers=()))
    assert len(out.flushed) == 1


def test_plain_lines_say_what_holds_the_download_up() -> None:
    """[BEH-14, BEH-15] Waiting for a peer and failed pieces are shown as they happen."""
    out = io.StringIO()
    reporter = PlainReporter(out, interval=0)
    reporter.handle(ev.Waiting(waiting_for="10.0.0.1:6881: connection refused", retry_in=4.0))
    reporter.handle(ev.PieceBad(index=7, peers=("ab" * 20,), failed=1, give_up_in=300.0))
    reporter.handle(ev.PieceBad(index=9, peers=("ab" * 20,), failed=2, give_up_in=12.4))
    assert out.getvalue().splitlines() == [
        "Waiting for a peer (10.0.0.1:6881: connection refused); retrying in 4s",
        "Piece 7 failed verification (from abababababab); fetching it again",
        "Piece 9 failed verification (from abababababab); fetching it again "
        "(2 failed pieces still missing; giving up in 12s without progress)",
    ]


def test_json_progress_only_on_change_plus_a_heartbeat() -> None:
    """An idle seeder: one progress line per 10 s, not two a second; changes go out at once."""
    out = io.StringIO()
    reporter = JsonReporter(out)
    for tick in range(61):  # 30 s of ticks every 0.5 s, nothing changing
        event = _progress(10, 10, 1)
        object.__setattr__(event, "time", tick * 0.5)
        reporter.handle(event)
    changed = _progress(11, 12, 2)
    object.__setattr__(changed, "time", 30.1)
    reporter.handle(changed)
    times = [json.loads(line)["time"] for line in out.getvalue().splitlines()]
    assert times == [0.0, 10.0, 20.0, 30.0, 30.1]
