"""Run one trial: start a seeder, wait until it serves, start the leechers, time them, clean up.

The clock starts when the leechers are spawned (the seeder already serves) and stops, per
leecher, at its completion marker: the file complete and verified as the user sees it. After
the clock, the harness itself checks every copy's size and SHA-1 against the source, so a
contender cannot win by being wrong.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import adapters
from bench.datafile import sha1_file, tree_digest
from bench.plan import Variant
from bench.procs import Proc, cpu_seconds

LIVE: set[Proc] = set()  # every child not yet reaped, so an interrupt can stop them all


@dataclass
class Source:
    path: Path
    size: int
    sha1: str


@dataclass
class Result:
    contender: str
    variant: str
    run: int
    ok: bool = False
    error: str = ""
    startup_s: float | None = None
    seconds: float | None = None
    per_leecher_s: list[float] = field(default_factory=list)
    mb_per_s: float | None = None
    seed_cpu_serving_s: float | None = None
    seed_peak_rss: int | None = None
    leech_cpu_s: list[float] = field(default_factory=list)
    leech_peak_rss: list[int] = field(default_factory=list)
    d_min_s: float | None = None
    loadavg: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def contender_env() -> dict[str, str]:
    """The environment of every contender process: bytecode is cached (see P2PShare.warm_up)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def spawn(name: str, argv: list[str], log_dir: Path, changed: threading.Condition) -> Proc:
    proc = Proc(name=name, argv=argv, log_path=log_dir / f"{name}.log", changed=changed)
    proc.start(env=contender_env())
    LIVE.add(proc)
    return proc


def stop(proc: Proc) -> None:
    proc.stop()
    LIVE.discard(proc)


def stop_all() -> None:
    for proc in list(LIVE):
        stop(proc)


def loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def run_trial(
    c: adapters.Contender,
    v: Variant,
    src: Source,
    tmp: Path,
    run: int,
    verify: bool,
    keep_logs: Path | None = None,
) -> Result:
    res = Result(contender=c.name, variant=v.key, run=run, d_min_s=v.d_min(), loadavg=loadavg())
    work = tmp / f"trial-{c.name}-{run}-{v.scenario}-{os.getpid()}-{time.monotonic_ns()}"
    work.mkdir()
    need = v.size * v.leechers + 256 * 1024 * 1024
    if shutil.disk_usage(tmp).free < need:
        res.error = f"skipped: needs {need >> 20} MiB free in {tmp}"
        return res
    changed = threading.Condition()
    trial = adapters.Trial(src.path, v.piece_size, v.seed_rate, v.leech_rate, work)
    info = adapters.SeedInfo(port=free_port())
    seeder = spawn("seeder", c.seed_argv(trial, info.port), work, changed)
    leechers: list[Proc] = []
    try:
        ready_by = time.monotonic() + 60 + v.size / 40e6
        if seeder.wait_line(lambda line: c.ready(line, info), ready_by) is None:
            res.error = f"seeder never ready: {seeder.stderr_tail()}"
            return res
        served = adapters.wait_serving(c, info, ready_by)
        if served is None:
            res.error = "seeder never answered a handshake"
            return res
        res.startup_s = served - seeder.started
        cpu0 = cpu_seconds(seeder.popen.pid)
        if v.leechers == 0:
            return finish(res, seeder, [], cpu0)
        t0 = time.monotonic()
        nodes: list[adapters.Node] = []
        for i in range(v.leechers):
            me = adapters.Node(port=free_port(), out_dir=work / f"leecher{i}")
            me.out_dir.mkdir()
            proc = spawn(f"leecher{i}", c.leech_argv(trial, info, me, list(nodes)), work, changed)
            proc.is_marker = c.is_done
            nodes.append(me)
            leechers.append(proc)
        d_min = v.d_min()
        budget = 3 * d_min + 30 if d_min else 30 + v.leechers * v.size / 10e6
        if not wait_all(leechers, changed, t0 + budget):
            late = [p.name for p in leechers if p.finished_at is None]
            tails = "; ".join(f"{p.name}: {p.stderr_tail(3)}" for p in leechers[:2])
            res.error = f"deadline {budget:.0f}s passed, unfinished {late}; {tails}"
            return res
        done_at = [p.finished_at for p in leechers]
        res.per_leecher_s = [round(d - t0, 4) for d in done_at if d is not None]
        res.seconds = max(res.per_leecher_s)
        res.mb_per_s = v.leechers * v.size / res.seconds / 1e6
        # A folder copy is checked while its leecher still runs (libtorrent's last writes of
        # 10 000 files land after its marker, and stopping it first would lose them).
        bad_trees = [
            me
            for me in nodes
            if verify
            and src.path.is_dir()
            and not settled_tree(c.output(me, trial), src.sha1, time.monotonic() + TREE_SETTLE)
        ]
        finish(res, seeder, leechers, cpu0)
        if bad_trees:
            res.ok, res.error = False, f"{c.output(bad_trees[0], trial)} is not a correct copy"
        elif verify and not src.path.is_dir():
            for me in nodes:
                out = c.output(me, trial)
                if not out.exists() or out.stat().st_size != src.size or sha1_file(out) != src.sha1:
                    res.ok, res.error = False, f"{out} is not a correct copy"
                    break
        return res
    finally:
        for proc in [*leechers, seeder]:
            stop(proc)
        if keep_logs is not None:
            save_logs([seeder, *leechers], keep_logs / f"{v.scenario}-{c.name}-run{run}")
        shutil.rmtree(work, ignore_errors=True)


TREE_SETTLE = 10.0
"""Seconds a folder copy may take to match after its completion marker (outside the clock):
libtorrent reports a torrent finished once every piece is hashed, from its store buffer, and
for 10 000 files its writes reach the files a few seconds later."""


def settled_tree(out: Path, digest: str, deadline: float) -> bool:
    """The copy matches `digest`, now or before `deadline` (checked every 0.5 s)."""
    while True:
        if out.is_dir() and tree_digest(out) == digest:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)  # (the other process's writes, which nothing here can wait on)


def save_logs(procs: list[Proc], dest: Path) -> None:
    """Keep each process's stdout (with harness timestamps) and stderr for a post-mortem."""
    dest.mkdir(parents=True, exist_ok=True)
    for proc in procs:
        t0 = proc.started
        lines = [f"{line.at - t0:9.3f} {line.text}" for line in proc.lines]
        (dest / f"{proc.name}.out").write_text("\n".join(lines) + "\n")
        if proc.log_path.exists():
            shutil.copy(proc.log_path, dest / f"{proc.name}.err")


def wait_all(procs: list[Proc], changed: threading.Condition, deadline: float) -> bool:
    """Wait until every leecher finished; fail fast if one exits with an error."""
    with changed:
        while True:
            if all(p.finished_at is not None for p in procs):
                return True
            for p in procs:
                if p.exit is not None and p.exit.code != 0 and p.finished_at is None:
                    return False
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            changed.wait(min(left, 0.5))


def finish(res: Result, seeder: Proc, leechers: list[Proc], cpu0: float | None) -> Result:
    """Collect CPU and RSS: seeder CPU while serving (now minus at-ready), leechers' own."""
    cpu1 = cpu_seconds(seeder.popen.pid)
    if cpu0 is not None and cpu1 is not None:
        res.seed_cpu_serving_s = round(cpu1 - cpu0, 4)
    for p in leechers:
        ex = p.exit if p.exit is not None else None
        if ex is None:  # still running (libtorrent keeps seeding): CPU at its DONE line
            if p.marker_cpu is not None:
                res.leech_cpu_s.append(round(p.marker_cpu, 4))
        elif ex.cpu is not None:
            res.leech_cpu_s.append(round(ex.cpu, 4))
    for p in leechers:
        ex = p.stop()
        LIVE.discard(p)
        if ex.peak_rss is not None:
            res.leech_peak_rss.append(ex.peak_rss)
    ex = seeder.stop()
    LIVE.discard(seeder)
    res.seed_peak_rss = ex.peak_rss
    res.ok = True
    return res
