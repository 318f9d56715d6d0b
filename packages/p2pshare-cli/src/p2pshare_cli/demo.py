"""`p2pshare demo`: a whole swarm on this machine, one process per peer, watched live.

A seeder shares a random file; each downloader is told about exactly one other peer (a chain:
peer k knows peer k-1, peer 1 knows the seeder) and finds the rest by peer exchange. The live
view and the final "who served whom" table come from the peers' --json event streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
)
from rich.table import Table

from p2pshare_cli.exit_codes import ExitCode
from p2pshare_cli.procs import Event, PeerProcess, ProcessFailed
from p2pshare_cli.units import format_bytes, format_duration, format_iec, format_rate

START_TIMEOUT = 60.0
MIN_TIMEOUT = 120.0


def make_random_file(path: Path, size: int) -> bytes:
    """Write size random bytes in chunks (bounded memory); return their SHA-1."""
    digest = hashlib.sha1()
    chunk = 4 * 1024 * 1024
    with open(path, "wb") as fh:
        left = size
        while left > 0:
            data = os.urandom(min(chunk, left))
            digest.update(data)
            fh.write(data)
            left -= len(data)
    return digest.digest()


def sha1_of(path: Path) -> bytes:
    digest = hashlib.sha1()
    with open(path, "rb") as fh:
        while block := fh.read(4 * 1024 * 1024):
            digest.update(block)
    return digest.digest()


def run_demo(
    *, leechers: int, size: int, piece_size: int | None, seed_rate: int | None, keep: Path | None
) -> int:
    console = Console(stderr=False)
    workdir = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="p2pshare-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        return asyncio.run(
            _demo(console, workdir, leechers, size, piece_size, seed_rate, record=keep is not None)
        )
    except KeyboardInterrupt:
        console.print("Interrupted.")
        return ExitCode.INTERRUPTED
    finally:
        if keep is None:
            shutil.rmtree(workdir, ignore_errors=True)


async def _demo(
    console: Console,
    workdir: Path,
    leechers: int,
    size: int,
    piece_size: int | None,
    seed_rate: int | None,
    record: bool = False,
) -> int:
    seed_dir = workdir / "seeder"
    seed_dir.mkdir(exist_ok=True)
    source = seed_dir / "demo.bin"
    console.print(f"Creating a random {format_iec(size)} file in {workdir} ...", soft_wrap=True)
    expected_sha1 = await asyncio.to_thread(make_random_file, source, size)

    # every peer is on this machine, so on one address: the per-host limit must allow them all
    local = ["--host", "127.0.0.1", "--max-per-host", str(leechers + 8)]
    share_args = ["share", str(source), "--json", *local]
    if piece_size:
        share_args += ["--piece-size", str(piece_size)]
    if seed_rate:
        share_args += ["--max-upload-rate", str(seed_rate)]
    seeder = PeerProcess("seeder", share_args)
    procs: list[PeerProcess] = [seeder]
    view = _LiveView(console)
    try:
        origin = time.monotonic()
        await seeder.start()
        started = await seeder.wait_for("started", START_TIMEOUT)
        clocks = {seeder.name: _clock(started, origin)}
        link = str(started["link"])
        share_id = link.rsplit("/", 1)[1]
        cap = f", upload capped at {format_rate(seed_rate)}" if seed_rate else ""
        console.print(f"Seeder listening at {link}{cap}", soft_wrap=True)
        console.print(
            f"Starting {leechers} downloaders; each knows only the previous one "
            "and finds the others by peer exchange."
        )
        view.add(seeder, size)
        t0 = time.monotonic()
        previous = link
        for k in range(1, leechers + 1):
            out = workdir / f"peer{k}"
            out.mkdir(exist_ok=True)
            peer = PeerProcess(f"peer{k}", ["get", previous, "-o", str(out), "--json", *local])
            procs.append(peer)
            await peer.start()
            view.add(peer, size)
            info = await peer.wait_for("started", START_TIMEOUT)
            clocks[peer.name] = _clock(info, origin)
            previous = f"p2pshare://127.0.0.1:{info['listen_port']}/{share_id}"
        timeout = max(MIN_TIMEOUT, size / (2 * 1024 * 1024))  # generous: >= 2 MiB/s
        with view:
            await asyncio.gather(*(p.wait_for("completed", timeout) for p in procs[1:]))
        elapsed = time.monotonic() - t0
        ok = await _verify(console, procs[1:], workdir, expected_sha1)
        _summary(console, procs, size, elapsed)
        if record:
            _record(workdir / "events.jsonl", procs, clocks)
        return ExitCode.OK if ok else ExitCode.INTEGRITY
    except ProcessFailed as exc:
        console.print(f"[red]demo failed:[/] {exc}")
        return ExitCode.INTERNAL
    finally:
        await asyncio.gather(*(p.stop() for p in procs), return_exceptions=True)


def _clock(started: Event, origin: float) -> float:
    """When a peer's clock (its events' "time") read 0, in seconds after `origin`: it read
    started["time"] when its started event reached us (late by the pipe, milliseconds)."""
    return time.monotonic() - origin - float(started.get("time", 0.0))


def _record(path: Path, procs: list[PeerProcess], clocks: dict[str, float]) -> None:
    """Every peer's events on one timeline (`at`: seconds since the seeder started), for
    figures of the run (docs/figures/swarm.py); written only with --keep."""
    with path.open("w", encoding="utf-8") as out:
        for proc in procs:
            for event in proc.events:
                at = clocks[proc.name] + float(event.get("time", 0.0))
                out.write(json.dumps({"peer": proc.name, "at": round(at, 4), **event}) + "\n")


async def _verify(
    console: Console, peers: list[PeerProcess], workdir: Path, expected: bytes
) -> bool:
    ok = True
    for peer in peers:
        done = peer.first("completed")
        assert done is not None
        digest = await asyncio.to_thread(sha1_of, Path(done["path"]))
        good = digest == expected
        ok &= good
        mark = "[green]OK[/]" if good else "[red]MISMATCH[/]"
        console.print(f"{peer.name}: {Path(done['path']).relative_to(workdir)} SHA-1 {mark}")
    return ok


def _summary(console: Console, procs: list[PeerProcess], size: int, elapsed: float) -> None:
    names: dict[str, str] = {}
    for proc in procs:
        started = proc.first("started")
        if started:
            names[str(started["peer_id"])] = proc.name
    leechers = procs[1:]
    console.print(
        f"\n{len(leechers)} peers downloaded {format_bytes(size)} each in "
        f"{format_duration(elapsed)}: {format_rate(size * len(leechers) / elapsed)} aggregate, "
        f"{format_rate(size / elapsed)} per peer"
    )
    seeder_sent = 0.0
    table = Table(title="Who served whom (MB received from each source)")
    table.add_column("receiver")
    sources = [p.name for p in procs]
    for name in sources:
        table.add_column(name, justify="right")
    table.add_column("time", justify="right")
    meta = leechers[0].first("metadata") if leechers else None
    piece_size = int(meta["piece_size"]) if meta else 1
    for proc in leechers:
        got: dict[str, float] = dict.fromkeys(sources, 0.0)
        for piece in proc.all("piece"):
            contributors = [names.get(p, "?") for p in piece["peers"]] or ["?"]
            for c in contributors:
                got[c] = got.get(c, 0.0) + piece_size / len(contributors)
        done = proc.first("completed")
        seeder_sent += got.get("seeder", 0.0)
        row = [proc.name]
        row += ["-" if s == proc.name else f"{got.get(s, 0.0) / 1e6:.1f}" for s in sources]
        row.append(format_duration(float(done["elapsed"])) if done else "?")
        table.add_row(*row)
    console.print(table)
    total = size * len(leechers)
    if total:
        console.print(
            f"The seeder uploaded {format_bytes(seeder_sent)} "
            f"({seeder_sent / size:.1f} copies); the peers served each other the other "
            f"{100 * (1 - seeder_sent / total):.0f}% of {format_bytes(total)}."
        )


class _LiveView:
    """One rich progress bar per peer, fed by the peers' progress events."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            TextColumn("{task.description:>7}"),
            BarColumn(),
            TaskProgressColumn(),
            DownloadColumn(),
            TextColumn("{task.fields[rate]:>12}"),
            TextColumn("{task.fields[peers]} peers"),
            console=console,
        )
        self.tasks: dict[str, TaskID] = {}

    def add(self, proc: PeerProcess, size: int) -> None:
        seeder = proc.name == "seeder"
        self.tasks[proc.name] = self.progress.add_task(
            proc.name, total=size, completed=size if seeder else 0, rate="", peers=0
        )
        proc.on_event = self._on_event

    def _on_event(self, proc: PeerProcess, event: Event) -> None:
        if event.get("event") != "progress":
            return
        task = self.tasks.get(proc.name)
        if task is None:
            return
        seeding = proc.name == "seeder" or event["done"] == event["total"]
        rate = f"up {format_rate(event['up_rate'])}" if seeding else format_rate(event["down_rate"])
        self.progress.update(task, completed=event["done"], rate=rate, peers=len(event["peers"]))

    def __enter__(self) -> _LiveView:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            self.progress.refresh()
        self.progress.stop()
        sys.stdout.flush()
