"""How a running node is shown: a live rich bar on a terminal, plain lines in a log, or JSON.

All three consume the same NodeEvents; picking one is the only difference between a human at a
terminal, a CI log and a script (the demo and the end-to-end tests read the JSON form).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from typing import TYPE_CHECKING, Protocol, TextIO

from p2pshare_node import events as ev
from p2pshare_node.errors import NodeError

from p2pshare_cli.outstream import BackgroundStream, background_stdout
from p2pshare_cli.safetext import printable, sanitized
from p2pshare_cli.units import format_bytes, format_duration, format_rate

MAX_MESSAGE = 500
"""Characters of an error message shown at most (it may quote a peer's reason)."""

if TYPE_CHECKING:  # rich is imported only when a live bar is shown: it slows every launch
    from rich.console import Console
    from rich.progress import TaskID


class Reporter(Protocol):
    def handle(self, event: ev.NodeEvent) -> None: ...

    def info(self, text: str) -> None: ...

    def fatal(self, error: NodeError) -> None: ...

    def close(self) -> None: ...


def eta(progress: ev.Progress) -> str:
    rate = progress.down_rate or progress.down_avg
    left = progress.total - progress.done
    if left <= 0:
        return "0s"
    if rate <= 0:
        return "--"
    return format_duration(left / rate)


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def percent(progress: ev.Progress) -> float:
    if progress.total == 0:
        return 100.0 if progress.pieces_done == progress.pieces else 0.0
    return 100.0 * progress.done / progress.total


HEARTBEAT = 10.0
"""Seconds between two identical progress lines in --json: an idle seeder prints one line per
10 s (was: two a second, 7 200 lines an hour) and a reader still sees that it is alive."""


class JsonReporter:
    """One JSON object per line on stdout: the machine-readable event stream.

    A download emits a `piece` line per verified piece, thousands per second on a fast link;
    flushing each one costs a write syscall apiece. Those lines are batched instead: flushed at
    most `batch_delay` seconds after they were written (by a timer on the running event loop),
    while every other event (started, completed, error, peers, progress) flushes at once,
    together with any piece lines before it, so the stream stays in order and line-complete.
    """

    BATCHED = (ev.PieceDone,)

    def __init__(
        self, out: TextIO | BackgroundStream | None = None, batch_delay: float = 0.1
    ) -> None:
        self.out = out or sys.stdout
        self.batch_delay = batch_delay
        self._errored = False
        self._last_progress: tuple[object, ...] | None = None
        self._last_progress_at = float("-inf")
        self._pending: list[str] = []  # batched lines, written together (even if unbuffered)
        self._flush_handle: asyncio.TimerHandle | None = None

    def _write(self, line: str, *, urgent: bool = True) -> None:
        self._pending.append(line + "\n")
        if urgent or not self._schedule_flush():
            self._flush()

    def _schedule_flush(self) -> bool:
        """Arrange a flush soon; False when there is no event loop to do it (flush now)."""
        if self._flush_handle is not None:
            return True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        self._flush_handle = loop.call_later(self.batch_delay, self._flush)
        return True

    def _flush(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        text = "".join(self._pending)
        self._pending.clear()
        with contextlib.suppress(BrokenPipeError, ValueError):  # the reader went away
            self.out.write(text)
            self.out.flush()

    def handle(self, event: ev.NodeEvent) -> None:
        if isinstance(event, ev.Failed):
            self._errored = True
        if isinstance(event, ev.Progress) and self._unchanged(event):
            return
        replace = getattr(self.out, "write_replaceable", None)
        if replace is not None and isinstance(event, ev.Progress):
            self._flush()  # (the lines before it keep their order)
            replace(event.to_json() + "\n")  # a slow reader sees the newest progress only
            return
        self._write(event.to_json(), urgent=not isinstance(event, self.BATCHED))

    def _unchanged(self, progress: ev.Progress) -> bool:
        """True for a progress event that says nothing new and is not due as a heartbeat."""
        state = (
            progress.done,
            progress.pieces_done,
            progress.uploaded,
            progress.peers,
            round(progress.down_rate, -3),  # (kB/s: a decaying rate is not news)
            round(progress.up_rate, -3),
        )
        if state == self._last_progress and progress.time - self._last_progress_at < HEARTBEAT:
            return True
        self._last_progress = state
        self._last_progress_at = progress.time
        return False

    def info(self, text: str) -> None:
        print(text, file=sys.stderr)

    def fatal(self, error: NodeError) -> None:
        if not self._errored:
            self._errored = True
            self._write(ev.Failed(error=error.kind.value, message=error.message).to_json())

    def close(self) -> None:
        self._flush()


def metadata_line(event: ev.Metadata) -> str:
    """What is shared: "File: NAME (...)", or "Folder: NAME (..., N files, ...)"."""
    size = format_bytes(event.size)
    if event.folder:
        return f"Folder: {printable(event.name)} ({size}, {plural(event.files, 'file')}, " + (
            f"{event.pieces} pieces)"
        )
    return f"File: {printable(event.name)} ({size}, {event.pieces} pieces)"


def skipped_line(event: ev.Skipped) -> str:
    return f"Warning: not shared: {printable(event.path)}: {event.reason}"


def completed_text(event: ev.Completed) -> str:
    """Where, how big, how long, and the digest to compare: the file's SHA-1, or a folder's
    share ID (it covers every path, size and byte: spec TREE-13)."""
    took = format_duration(event.elapsed)
    if event.folder:
        return (
            f"{event.path} ({plural(event.files, 'file')}, {format_bytes(event.size)}) in "
            f"{took}, every file's SHA-1 verified; folder digest (share ID) {event.share_id}"
        )
    return f"{event.path} ({format_bytes(event.size)}) in {took}, SHA-1 {event.sha1} verified"


def status_line(event: ev.PieceBad | ev.Waiting) -> str:
    """One line on what holds the download up: a failed piece, or no peer serving us yet."""
    if isinstance(event, ev.Waiting):
        return f"Waiting for a peer ({event.waiting_for}); retrying in {event.retry_in:.0f}s"
    peers = ", ".join(p[:12] for p in event.peers) or "unknown peers"
    line = f"Piece {event.index} failed verification (from {peers}); fetching it again"
    if event.failed > 1 and event.give_up_in is not None:
        line += (
            f" ({event.failed} failed pieces still missing; giving up in "
            f"{event.give_up_in:.0f}s without progress)"
        )
    return line


class PlainReporter:
    """Periodic plain progress lines for logs and pipes (no cursor movement)."""

    def __init__(self, out: TextIO | BackgroundStream | None = None, interval: float = 2.0) -> None:
        self.out = out or sys.stdout
        self.interval = interval
        self._last = 0.0
        self._last_line = ""
        self._seeding = False

    def _print(self, text: str, *, replaceable: bool = False) -> None:
        replace = getattr(self.out, "write_replaceable", None)
        if replaceable and replace is not None:
            replace(text + "\n")  # a slow reader sees the newest progress line only
            return
        with contextlib.suppress(BrokenPipeError, ValueError):
            print(text, file=self.out, flush=True)

    def handle(self, event: ev.NodeEvent) -> None:
        if isinstance(event, ev.Metadata):
            self._print(
                metadata_line(event)
                + (f", {event.have} already verified" if event.have and not self._seeding else "")
            )
        elif isinstance(event, ev.Skipped):
            self._print(skipped_line(event))
        elif isinstance(event, ev.Started):
            self._seeding = event.role == "seeder"
        elif isinstance(event, ev.PeerBanned):
            self._print(f"Banned peer {event.peer_id[:12]} at {event.host} (bad data)")
        elif isinstance(event, ev.FileChanged):
            self._print(f"Warning: {event.message}")
        elif isinstance(event, ev.PieceBad | ev.Waiting):
            self._print(status_line(event))
        elif isinstance(event, ev.Progress):
            now = time.monotonic()
            if now - self._last < self.interval:
                return
            self._last = now
            line = self._line(event)
            if line != self._last_line:
                self._last_line = line
                self._print(line, replaceable=True)
        elif isinstance(event, ev.Completed) and not self._seeding:
            self._print(f"Completed: {completed_text(event)}")

    def _line(self, p: ev.Progress) -> str:
        peers = plural(len(p.peers), "peer")
        if self._seeding or p.done == p.total:
            return (
                f"Seeding: {format_bytes(p.uploaded)} uploaded, {format_rate(p.up_rate)}, {peers}"
            )
        files = f", {p.files_done}/{p.files} files" if p.files else ""
        return (
            f"Progress: {percent(p):.2f}% ({format_bytes(p.done)}/{format_bytes(p.total)}) "
            f"{format_rate(p.down_avg)} avg, {peers}{files}"
        )

    def info(self, text: str) -> None:
        self._print(text)

    def fatal(self, error: NodeError) -> None:
        pass  # main prints the error once

    def close(self) -> None:
        pass


class RichReporter:
    """A live bar: percent, bytes, current and average speed, ETA and connected peers."""

    def __init__(self, console: Console | None = None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
        )

        self.console = console or Console()
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=20),
            TaskProgressColumn(),
            DownloadColumn(),
            TextColumn("{task.fields[rate]}"),
            TextColumn("{task.fields[avg]}"),
            TextColumn("{task.fields[eta]}"),
            TextColumn("{task.fields[peers]}"),
            console=self.console,
            transient=False,
        )
        self.task: TaskID | None = None
        self._seeding = False
        self._started = False

    def handle(self, event: ev.NodeEvent) -> None:
        if isinstance(event, ev.Started):
            self._seeding = event.role == "seeder"
        elif isinstance(event, ev.Metadata):
            if not self._started:
                self.progress.start()
                self._started = True
            from rich.markup import escape

            name = escape(event.name if len(event.name) <= 24 else event.name[:23] + "…")
            self.task = self.progress.add_task(
                name,
                total=event.size,
                completed=0,
                rate="",
                avg="",
                eta="",
                peers="0 peers",
            )
        elif isinstance(event, ev.Progress) and self.task is not None:
            if self._seeding or event.done == event.total:
                rate = f"up {format_rate(event.up_rate)}"
                avg = f"sent {format_bytes(event.uploaded)}"
                left = ""
            else:
                rate = format_rate(event.down_rate)
                avg = f"avg {format_rate(event.down_avg)}"
                left = f"ETA {eta(event)}"
            self.progress.update(
                self.task,
                completed=event.done,
                peers=plural(len(event.peers), "peer"),
                rate=rate,
                avg=avg,
                eta=left,
            )
        elif isinstance(event, ev.PeerBanned):
            self.progress.console.print(
                f"[yellow]Banned peer {event.peer_id[:12]} at {event.host} (bad data)",
                markup=True,
                highlight=False,
            )
        elif isinstance(event, ev.FileChanged):
            from rich.markup import escape

            self.progress.console.print(f"[yellow]Warning[/]: {escape(event.message)}")
        elif isinstance(event, ev.PieceBad | ev.Waiting):
            self.progress.console.print(status_line(event), style="yellow", markup=False)
        elif isinstance(event, ev.Skipped):
            self.progress.console.print(skipped_line(event), style="yellow", markup=False)
        elif isinstance(event, ev.Completed) and not self._seeding:
            from rich.markup import escape

            self.progress.console.print(f"[green]Completed[/]: {escape(completed_text(event))}")

    def info(self, text: str) -> None:
        self.progress.console.print(text, highlight=False, markup=False)

    def fatal(self, error: NodeError) -> None:
        pass

    def close(self) -> None:
        if self._started:
            self.progress.stop()
            self._started = False


class Sanitising:
    """Shows a reporter for humans only printable, bounded text from peers (safetext.py)."""

    def __init__(self, inner: Reporter) -> None:
        self.inner = inner

    def handle(self, event: ev.NodeEvent) -> None:
        self.inner.handle(sanitized(event))

    def info(self, text: str) -> None:
        self.inner.info(text)

    def fatal(self, error: NodeError) -> None:
        self.inner.fatal(NodeError(error.kind, printable(error.message, MAX_MESSAGE)))

    def close(self) -> None:
        self.inner.close()


def make_reporter(json_output: bool) -> Reporter:
    """The reporter for this stdout; a pipe or file gets a BackgroundStream (outstream.py), so
    a reader that reads slowly or not at all never stalls the node."""
    if sys.stdout.isatty() and not json_output:
        return Sanitising(RichReporter())
    stream = background_stdout()
    if json_output:
        out = stream or sys.stdout
        if stream is not None:
            stream.dropped_line = '{{"event":"output-dropped","lines":{count}}}\n'
        return Closing(JsonReporter(out), stream)  # (json.dumps escapes every control char)
    return Closing(Sanitising(PlainReporter(stream or sys.stdout)), stream)


class Closing:
    """Closes the background stream after the reporter's last words."""

    def __init__(self, inner: Reporter, stream: BackgroundStream | None) -> None:
        self.inner = inner
        self.stream = stream

    def handle(self, event: ev.NodeEvent) -> None:
        self.inner.handle(event)

    def info(self, text: str) -> None:
        self.inner.info(text)

    def fatal(self, error: NodeError) -> None:
        self.inner.fatal(error)

    def close(self) -> None:
        self.inner.close()
        if self.stream is not None:
            self.stream.close()
