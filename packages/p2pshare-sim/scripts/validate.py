"""Does the simulator predict a real swarm? Measure one, simulate the same one, compare.

Not a test (it takes minutes and its figures depend on the machine):

    sudo .venv/bin/python packages/p2pshare-sim/scripts/validate.py [--runs 5] [--seeds 5]

Reads a scenario file (default `six-hosts-lossy-lan`), builds the same swarm out of network
namespaces (netlab.py: one host per peer on one bridge; each host's upload capped with `tc
tbf` at the scenario's rate; each host dropping the scenario's share of the packets it sends
with an nftables random rule), shares a random file of the scenario's size and piece size from
host 0 and starts `p2pshare get LINK --seed --json` on every other host at once. A downloader's
completion time is its `completed` event's `elapsed` (from its node's start to the verified
file); its arrival is when its node started, from the first downloader's start. That is
repeated `--runs` times; then the simulator runs the scenario with each run's measured arrival
times, over `--seeds` seeds, and both are printed side by side: per host and for the fastest,
median and slowest downloader of a run (medians over the runs / simulations), with the
simulator's relative error. Exit status 1 if the median's error is beyond `--tolerance`.

`--queues` samples the tbf queues, `--events DIR` keeps the event streams, `--json` prints
everything, and `--replay REPORT` simulates the runs of an earlier `--json` report again
without a lab (after a change to the model; no root needed).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib.util
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from p2pshare_cli.procs import PeerProcess, wait_until
from p2pshare_sim import World, load
from p2pshare_sim.scenario import MBIT, Scenario

ROOT = Path(__file__).resolve().parents[3]


def _netlab() -> ModuleType:
    """The test suite's lab builder, loaded from its file (putting the tests folder on
    sys.path would shadow other folders' conftest modules in a pytest run)."""
    path = ROOT / "packages" / "p2pshare-cli" / "tests" / "netlab.py"
    spec = importlib.util.spec_from_file_location("p2pshare_netlab", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


netlab = _netlab()
NetLab, missing = netlab.NetLab, netlab.missing

PREFIX = "validate"  # namespace names: never those of the test suite's labs
TBF_BURST = "64kb"  # tc's kb: kilobytes (the netlab default)
RUN_TIMEOUT = 600.0
Backlog = dict[int, list[int]]  # host -> bytes in its tbf queue, one sample per QUEUE_SAMPLE
QUEUE_SAMPLE = 0.5  # seconds between two looks at the tbf queues (--queues)


@dataclasses.dataclass
class Downloader:
    host: int
    arrival: float  # seconds after the first downloader's node started
    completion: float  # seconds from its node's start to the verified file
    cpu: float  # CPU seconds the process used


@dataclasses.dataclass
class Wire:
    """What a host's upload carried: the node's count of bytes it wrote against what its tbf
    let out (Ethernet, IP and TCP headers, ACKs and retransmissions included)."""

    host: int
    uploaded: int  # bytes the node wrote (its last progress event)
    sent: int  # bytes the tbf sent plus what it still held
    packets: int
    dropped: int  # packets the tbf dropped (its queue was full)


@dataclasses.dataclass
class Run:
    downloaders: list[Downloader]
    seeder_cpu: float
    wall: float
    load_before: float
    load_after: float
    wire: list[Wire]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rate(bytes_per_second: float) -> str:
    return f"{round(bytes_per_second * 8)}bit"  # tc rate units: bits per second


async def measure_once(
    scenario: Scenario,
    workdir: Path,
    events: Path | None = None,
    queues: Backlog | None = None,
) -> Run:
    """One real run of the scenario's swarm in network namespaces (every process's events
    written to `events`/hostN.jsonl if given; the tbf queues' backlog sampled into `queues`
    if given)."""
    if scenario.seeders != 1 or len(scenario.classes) != 1 or scenario.arrival != "flash":
        raise SystemExit("the lab replays one seeder and one class of downloaders arriving at once")
    kind = scenario.classes[0]
    fastest = max(scenario.seeder.upload, kind.upload)
    if min(scenario.seeder.download, kind.download) < 10 * fastest or kind.latency > 0.001:
        # (tbf caps what a host sends; without netem the lab has no download cap nor delay)
        raise SystemExit("the lab caps uploads only: downloads far above them, latency < 1 ms")
    hosts = 1 + scenario.peers
    source = workdir / "data.bin"
    source.write_bytes(os.urandom(scenario.file_size))
    per_mille = round(scenario.loss * 1000)
    started_at: dict[int, float] = {}
    load_before = os.getloadavg()[0]
    t0 = time.monotonic()
    async with NetLab(hosts=hosts, prefix=PREFIX) as lab:
        for host in range(hosts):
            upload = scenario.seeder.upload if host == 0 else kind.upload
            lab.shape(host, rate=_rate(upload), burst=TBF_BURST)
            if per_mille:
                lab.lose(host, per_mille=per_mille)
        piece = f"{scenario.piece_size // 1024}KiB"
        seeder = await lab.spawn(
            0, "share", str(source), "--piece-size", piece, "--no-lan", "--json"
        )
        link = str((await seeder.wait_for("started", 60))["link"])
        notify = asyncio.Event()

        def on_event(proc: PeerProcess, event: dict[str, Any]) -> None:
            if event.get("event") == "started":  # its node's clock started `time` s ago
                started_at[int(proc.name)] = time.monotonic() - float(event.get("time", 0.0))

        getters = []
        for host in range(1, hosts):
            out = workdir / f"host{host}"
            out.mkdir()
            proc = PeerProcess(
                str(host),
                ["get", link, "-o", str(out), "--seed", "--no-lan", "--json"],
                prefix=["ip", "netns", "exec", lab.names[host]],
                notify=notify,
            )
            proc.on_event = on_event
            lab.procs.append(proc)
            getters.append(proc)
        await asyncio.gather(*(proc.start() for proc in getters))

        def all_done() -> bool:
            return all(p.first("completed") or p.first("error") or p.exited for p in getters)

        sampler = (
            asyncio.create_task(_sample_queues(lab, hosts, queues)) if queues is not None else None
        )
        try:
            await wait_until(all_done, notify, RUN_TIMEOUT, "every downloader to complete")
        finally:
            if sampler is not None:
                sampler.cancel()
        failed = [p for p in getters if not p.first("completed")]
        if failed:
            raise SystemExit(f"host {failed[0].name} did not complete: {failed[0].stderr[-2000:]}")
        cpu = {int(p.name): _cpu_seconds(p.proc.pid) for p in getters if p.proc is not None}
        assert seeder.proc is not None
        seeder_cpu = _cpu_seconds(seeder.proc.pid)
        # (a diagnostic, not a synchronisation: the nodes report progress every 0.5 s, and
        # an unchanged one not at all, so give the last change time to be reported)
        await asyncio.sleep(1.5)
        wire = [_wire(lab, h, proc) for h, proc in enumerate([seeder, *getters])]
        if events is not None:
            for h, proc in enumerate([seeder, *getters]):
                lines = "".join(json.dumps(e) + "\n" for e in proc.events)
                (events / f"host{h}.jsonl").write_text(lines, encoding="utf-8")
        first = min(started_at.values())
        downloaders = []
        for proc in getters:
            host = int(proc.name)
            done = proc.first("completed")
            assert done is not None
            downloaders.append(
                Downloader(host, started_at[host] - first, float(done["elapsed"]), cpu[host])
            )
    return Run(
        downloaders, seeder_cpu, time.monotonic() - t0, load_before, os.getloadavg()[0], wire
    )


async def _sample_queues(lab: Any, hosts: int, into: Backlog) -> None:
    """Every QUEUE_SAMPLE seconds, the bytes waiting in each host's tbf (until cancelled)."""
    while True:
        for host in range(hosts):
            tc = await asyncio.create_subprocess_exec(
                "tc", "-n", lab.names[host], "-s", "qdisc", "show", "dev", f"h{host}",
                stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, _ = await tc.communicate()
            found = _TC_STATS.search(out.decode())
            if found is not None:
                into.setdefault(host, []).append(int(found.group(4)))
        await asyncio.sleep(QUEUE_SAMPLE)


_TC_STATS = re.compile(r"Sent (\d+) bytes (\d+) pkt \(dropped (\d+).*?backlog (\d+)b", re.S)


def _wire(lab: Any, host: int, proc: PeerProcess) -> Wire:
    stats = lab.run(host, "tc", "-s", "qdisc", "show", "dev", f"h{host}")
    found = _TC_STATS.search(stats)
    if found is None:
        raise SystemExit(f"unexpected tc output: {stats}")
    sent, packets, dropped, backlog = (int(x) for x in found.groups())
    uploaded = int(proc.all("progress")[-1]["uploaded"])
    return Wire(host, uploaded, sent + backlog, packets, dropped)


def simulate(
    scenario: Scenario, arrivals: list[float], seed: int, uploads: list[list[int]] | None = None
) -> list[float]:
    """Each downloader's simulated completion time (from its arrival), in host order (and the
    piece bytes each host uploaded, seeder first, appended to `uploads`)."""
    replay = dataclasses.replace(scenario, arrival="at", arrival_times=tuple(arrivals))
    world = World(replay, seed)
    world.run()
    if uploads is not None:
        uploads.append([p.uploaded for p in world.peers])
    leechers = [p for p in world.peers if not p.seeder]
    times = []
    for peer in leechers:
        if peer.completed_at is None or peer.arrived_at is None:
            raise SystemExit(f"simulated downloader {peer.index} did not complete (seed {seed})")
        times.append(peer.completed_at - peer.arrived_at)
    return times


def _ranks(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {"min": ordered[0], "median": statistics.median(ordered), "max": ordered[-1]}


def compare(measured: list[list[float]], simulated: list[list[float]]) -> dict[str, Any]:
    """Per host and per rank (fastest, median, slowest of a run): the median over runs
    (simulations), the spread, and the simulator's relative error."""

    def row(real: list[float], sim: list[float]) -> dict[str, float]:
        m, s = statistics.median(real), statistics.median(sim)
        return {
            "measured": m,
            "measured_min": min(real),
            "measured_max": max(real),
            "simulated": s,
            "simulated_min": min(sim),
            "simulated_max": max(sim),
            "error": (s - m) / m,
        }

    hosts = len(measured[0])
    per_host = {
        f"h{i + 1}": row([r[i] for r in measured], [s[i] for s in simulated]) for i in range(hosts)
    }
    per_rank = {
        rank: row([_ranks(r)[rank] for r in measured], [_ranks(s)[rank] for s in simulated])
        for rank in ("min", "median", "max")
    }
    return {"hosts": per_host, "ranks": per_rank}


def _table(comparison: dict[str, Any]) -> str:
    lines = [
        "| downloader | measured (s) | runs' range | simulated (s) | sims' range | error |",
        "|---|---|---|---|---|---|",
    ]
    for group in ("hosts", "ranks"):
        for name, r in comparison[group].items():
            lines.append(
                f"| {name} | {r['measured']:.1f} | {r['measured_min']:.1f}–{r['measured_max']:.1f}"
                f" | {r['simulated']:.1f} | {r['simulated_min']:.1f}–{r['simulated_max']:.1f}"
                f" | {100 * r['error']:+.1f} % |"
            )
    return "\n".join(lines)


def _measure(scenario: Scenario, args: argparse.Namespace) -> tuple[list[Run], list[Backlog]]:
    runs: list[Run] = []
    backlog: list[Backlog] = []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="p2pshare-validate-") as tmp:
            keep = None
            if args.events is not None:
                keep = args.events / f"run{i + 1}"
                keep.mkdir(parents=True, exist_ok=True)
            queues: Backlog | None = {} if args.queues else None
            run = asyncio.run(measure_once(scenario, Path(tmp), keep, queues))
            if queues:
                backlog.append(queues)
        runs.append(run)
        times = ", ".join(f"h{d.host} {d.completion:.1f}" for d in run.downloaders)
        print(
            f"run {i + 1}/{args.runs}: {times} s (load {run.load_before:.1f}→{run.load_after:.1f})",
            file=sys.stderr,
        )
    return runs, backlog


def _replayed(path: Path) -> tuple[list[Run], list[Backlog]]:
    """The runs (and queue samples) of an earlier `--json` report."""
    data = json.loads(path.read_text(encoding="utf-8"))
    runs = []
    for r in data["runs"]:
        fields = {**r, "downloaders": [Downloader(**d) for d in r["downloaders"]]}
        runs.append(Run(**{**fields, "wire": [Wire(**w) for w in r["wire"]]}))
    backlog = [{int(h): samples for h, samples in q.items()} for q in data.get("backlog", [])]
    return runs, backlog


def queue_delays(scenario: Scenario, backlog: list[Backlog]) -> dict[int, float]:
    """Per host, the mean delay its tbf queue added (seconds of backlog at its rate) over the
    middle 80 % of each run (the start and the tail have idle links)."""
    delays: dict[int, float] = {}
    for host in sorted({h for q in backlog for h in q}):
        rate = scenario.seeder.upload if host == 0 else scenario.classes[0].upload
        middle = []
        for q in backlog:
            samples = q.get(host, [])
            cut = len(samples) // 10
            middle += samples[cut : len(samples) - cut]
        if middle:
            delays[host] = statistics.mean(middle) / rate
    return delays


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", nargs="?", default="six-hosts-lossy-lan")
    parser.add_argument("--runs", type=int, default=5, help="real runs (default 5)")
    parser.add_argument("--seeds", type=int, default=5, help="simulations per run (default 5)")
    parser.add_argument("--pieces", type=int, help="override the scenario's piece count")
    parser.add_argument("--tolerance", type=float, default=0.15)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--events", type=Path, help="keep every process's events: DIR/runN/")
    parser.add_argument("--queues", action="store_true", help="sample the tbf queues' backlog")
    parser.add_argument(
        "--replay",
        type=Path,
        help="measure nothing: simulate the runs of an earlier --json report (after a model "
        "change; no root needed)",
    )
    args = parser.parse_args(argv)
    scenario = load(args.scenario).with_overrides(pieces=args.pieces)
    if args.replay is not None:
        runs, backlog = _replayed(args.replay)
    else:
        why = missing()
        if why is not None:
            print(f"cannot build the lab: {why}", file=sys.stderr)
            return 2
        runs, backlog = _measure(scenario, args)
    measured = [[d.completion for d in r.downloaders] for r in runs]
    sim_uploads: list[list[int]] = []
    simulated = [
        simulate(scenario, [d.arrival for d in r.downloaders], seed, sim_uploads)
        for r in runs
        for seed in range(1, args.seeds + 1)
    ]
    # who uploaded how much: the seeder's share, and all uploads over the N copies needed
    copies = scenario.peers * scenario.file_size
    real_uploads = [[w.uploaded for w in r.wire] for r in runs]
    traffic = {
        name: {
            "seeder_share": statistics.median(u[0] / sum(u) for u in ups),
            "uploaded_over_copies": statistics.median(sum(u) / copies for u in ups),
        }
        for name, ups in (("measured", real_uploads), ("simulated", sim_uploads))
    }
    comparison = compare(measured, simulated)
    ok = abs(comparison["ranks"]["median"]["error"]) <= args.tolerance
    delays = queue_delays(scenario, backlog)
    report = {
        "scenario": scenario.name,
        "file_size": scenario.file_size,
        "piece_size": scenario.piece_size,
        "upload_mbit": {
            "seeder": scenario.seeder.upload / MBIT,
            "downloader": scenario.classes[0].upload / MBIT,
        },
        "loss": scenario.loss,
        "runs": [dataclasses.asdict(r) for r in runs],
        "simulated": simulated,
        "comparison": comparison,
        "backlog": backlog,
        "queue_delay": delays,
        "traffic": traffic,
        "tolerance": args.tolerance,
        "within_tolerance": ok,
    }
    if args.json:
        print(json.dumps(report))
        return 0 if ok else 1
    print(
        f"{scenario.name}: {scenario.peers} downloaders + 1 seeder, "
        f"{scenario.file_size / 2**20:.0f} MiB in {scenario.piece_size // 1024} KiB pieces, "
        f"uploads {scenario.seeder.upload / MBIT:g} / {scenario.classes[0].upload / MBIT:g} "
        f"Mbit/s, loss {100 * scenario.loss:g} %; {len(runs)} runs, {args.seeds} seeds each"
    )
    print(_table(comparison))
    loads = [r.load_before for r in runs] + [r.load_after for r in runs]
    cpu = [d.cpu for r in runs for d in r.downloaders]
    print(
        f"load average {min(loads):.1f}–{max(loads):.1f}; downloader CPU "
        f"{statistics.median(cpu):.1f} s (median), seeder "
        f"{statistics.median(r.seeder_cpu for r in runs):.1f} s"
    )
    m, sim = traffic["measured"], traffic["simulated"]
    print(
        f"seeder's share of all uploads: measured {m['seeder_share']:.1%}, simulated "
        f"{sim['seeder_share']:.1%}; uploaded / (N x file): measured "
        f"{m['uploaded_over_copies']:.3f}, simulated {sim['uploaded_over_copies']:.3f}"
    )
    for r in runs[:1]:
        share = [f"h{w.host} {w.sent / w.uploaded - 1:+.1%}" for w in r.wire if w.uploaded]
        print("tbf bytes beyond what the node wrote (run 1): " + ", ".join(share))
    if delays:
        shown = ", ".join(f"h{h} {1000 * d:.0f} ms" for h, d in delays.items())
        print(f"tbf queue, mean delay mid-run: {shown}")
    print(f"median within {100 * args.tolerance:g} %: {'yes' if ok else 'NO'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
