"""`python -m bench`: p2pshare vs libtorrent vs a bare loop vs the original JSON design.

Not a test: a measurement. Contenders alternate within every run so that drift on this shared
machine hits all of them alike; results are medians with min-max ranges.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import adapters, plan, report, runner
from bench.datafile import generate, generate_tree
from bench.plan import MiB

OUT = Path(__file__).resolve().parent / "out"


def parse_size(text: str) -> int:
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    t = text.strip().lower().removesuffix("ib").removesuffix("b")
    if t and t[-1] in units:
        return int(float(t[:-1]) * units[t[-1]])
    return int(t)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="64 MiB, 1 run each: under a minute")
    ap.add_argument("--runs", type=int, default=None, help="runs per contender (default 3)")
    ap.add_argument("--scenarios", default=",".join(plan.ALL_SCENARIOS), help="e.g. a,b,c,d,s")
    ap.add_argument("--size", type=parse_size, default=None, help="file size (default 1GiB)")
    ap.add_argument("--c-size", type=parse_size, default=None, help="file size for (c)")
    ap.add_argument("--c-dmin", type=float, default=None, help="target D_min seconds for (c)")
    ap.add_argument("--contenders", default=None, help="subset, e.g. p2pshare,libtorrent")
    ap.add_argument("--no-verify", action="store_true", help="skip the post-run SHA-1 check")
    ap.add_argument("--tmp", type=Path, default=None, help="where temp files go")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--p2pshare-exe", type=Path, default=None, help="another p2pshare build")
    ap.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="the p2pshare executable of another build (e.g. a worktree of main), run as the "
        "contender 'baseline' alternating with this one: A/B of a change in one invocation",
    )
    ap.add_argument("--keep-logs", action="store_true", help="keep every node's output in OUT/logs")
    args = ap.parse_args(argv)
    size = args.size or (64 * MiB if args.quick else 1 << 30)
    runs = args.runs or (1 if args.quick else 3)
    scenarios = tuple(s.strip() for s in args.scenarios.split(",") if s.strip())
    unknown = set(scenarios) - set(plan.ALL_SCENARIOS)
    if unknown:
        ap.error(f"unknown scenarios {sorted(unknown)}")
    variants = plan.build(scenarios, size, args.quick, args.c_size, args.c_dmin)
    exe = args.p2pshare_exe or Path(sys.executable).with_name("p2pshare")
    if args.baseline is not None and not args.baseline.exists():
        ap.error(f"--baseline {args.baseline} not found")
    contenders = {c.name: c for c in adapters.all_contenders(exe, args.baseline)}
    if args.baseline is not None:
        variants = [plan.with_baseline(v) for v in variants]
    if args.contenders:
        keep = set(args.contenders.split(","))
        contenders = {k: c for k, c in contenders.items() if k in keep}
    if not exe.exists():
        print(f"bench: {exe} not found; running without p2pshare", file=sys.stderr)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    tmp = Path(tempfile.mkdtemp(prefix="p2pshare-bench-", dir=args.tmp))
    results: list[runner.Result] = []
    write = {"mb_s": 0.0, "cpu_s_per_gib": 0.0}
    started = time.time()
    try:
        sources = make_sources(variants, tmp)
        for contender in contenders.values():
            contender.warm_up(runner.contender_env())
        for run in range(runs):
            for vi, v in enumerate(variants):
                names = [n for n in v.contenders if n in contenders]
                k = (run + vi) % max(1, len(names))
                for name in names[k:] + names[:k]:  # rotate who goes first
                    res = runner.run_trial(
                        contenders[name],
                        v,
                        sources[v.size, v.files],
                        tmp,
                        run,
                        not args.no_verify,
                        args.out / "logs" if args.keep_logs else None,
                    )
                    results.append(res)
                    print(progress_line(res), flush=True)
        # quick mode: a smaller, rougher floor, so that the whole run stays under a minute
        write = write_floor(tmp, 128 * MiB, pause=1.0) if args.quick else write_floor(tmp)
    except KeyboardInterrupt:
        print("bench: interrupted; reporting what finished", file=sys.stderr)
    finally:
        runner.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)

    floor = hash_floor()
    rows = report.summarize(variants, results)
    checks = report.targets(variants, rows)
    notes = [f"{c.name}: {c.note}" for c in contenders.values() if c.note] + [
        "MB/s = leechers x file size / time until the last leecher is complete and verified.",
        "x lt / x bare = speed ratio from median times (>1: p2pshare faster).",
        "seedCPU/G = seeder CPU seconds while serving (after start-up hashing) per GiB of file.",
        "leechCPU/G = leecher CPU seconds (whole process life) per GiB of file.",
        "libtorrent leechers keep seeding after DONE; p2pshare leechers run get --exit-when-done.",
        f"hash floor on this machine now: SHA-256 {floor['sha256_mb_s']:.0f} MB/s, SHA-1 "
        f"{floor['sha1_mb_s']:.0f} MB/s -> a leecher that hashes every byte with both spends at "
        f"least {floor['both_cpu_s_per_gib']:.2f} CPU s/GiB on hashing alone.",
        f"write floor on this machine now: a new file written in 64 KiB pwrites (then fsync) goes "
        f"at {write['mb_s']:.0f} MB/s for {write['cpu_s_per_gib']:.2f} CPU s/GiB (the kernel "
        "filling fresh page-cache pages), and with p2pshare's drop-behind at "
        f"{write.get('drop_behind_mb_s', 0.0):.0f} MB/s for "
        f"{write.get('drop_behind_cpu_s_per_gib', 0.0):.2f} CPU s/GiB.",
        "RSS MiB = peak resident set size (VmHWM sampled every 20 ms); libtorrent's includes "
        "mmap'd file pages.",
    ]
    text = "\n".join(
        [
            f"p2pshare bench, {dt.datetime.now():%Y-%m-%d %H:%M}, {platform.platform()}, "
            f"{os.cpu_count()} CPUs, {runs} run(s), {time.time() - started:.0f} s, "
            f"code {git_state()}",
            report.table(rows),
            "",
            report.targets_text(checks),
            "",
            "Notes:",
            *(f"  - {n}" for n in notes),
        ]
    )
    print("\n" + text)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    doc: dict[str, Any] = {
        "meta": {**meta(args, size, runs, started), "hash_floor": floor, "write_floor": write},
        "notes": notes,
        "summary": rows,
        "targets": checks,
        "trials": [r.as_dict() for r in results],
    }
    for name in (f"bench-{stamp}.json", "latest.json"):
        report.write_json(args.out / name, doc)
    (args.out / "latest.txt").write_text(text + "\n")
    if report.write_chart(args.out / "latest.png", rows):
        print(f"wrote {args.out}/latest.json, latest.txt, latest.png")
    else:
        print(f"wrote {args.out}/latest.json, latest.txt (no matplotlib: no chart)")
    return 0 if results and all(r.ok for r in results) else 1


def make_sources(variants: list[plan.Variant], tmp: Path) -> dict[tuple[int, int], runner.Source]:
    """The file (or folder, for folder shares) each variant shares, keyed by (size, files)."""
    sources: dict[tuple[int, int], runner.Source] = {}
    base = os.urandom(64 * MiB)
    for size, files in sorted({(v.size, v.files) for v in variants}):
        same = [v for v in variants if (v.size, v.files) == (size, files)]
        need = size + max(v.size * v.leechers for v in same) + 512 * MiB
        free = shutil.disk_usage(tmp).free
        if free < need:
            raise SystemExit(f"bench: {size >> 20} MiB scenarios need {need >> 20} MiB free")
        t = time.monotonic()
        if files:
            path = tmp / f"tree-{files}-files-{size >> 20}MiB"
            sha1 = generate_tree(path, size, files, base)
        else:
            path = tmp / f"src-{size >> 20}MiB.bin"
            sha1 = generate(path, size, base)
        print(f"generated {path.name} in {time.monotonic() - t:.1f} s", flush=True)
        sources[size, files] = runner.Source(path, size, sha1)
    del base  # keep the harness small: children are measured, not the harness
    if hasattr(os, "sync"):
        # Otherwise the kernel writes the new files back while the first trials run (9 GiB in
        # the full run, ~25 s of disk and kernel time here), slowing whoever goes first.
        t = time.monotonic()
        os.sync()
        print(f"wrote them back to disk in {time.monotonic() - t:.1f} s", flush=True)
    return sources


def write_floor(tmp: Path, size: int = 512 * MiB, pause: float = 3.0) -> dict[str, float]:
    """Speed and CPU of writing a new file through the page cache, as a leecher does: plainly,
    and with p2pshare's drop-behind (flush and release the pages 32 MiB behind, every 32 MiB).

    On this kind of VM, memory the guest freed is handed back to the host, and the first touch
    of a fresh page costs far more than a memcpy; drop-behind lets the kernel recycle hot pages
    instead. Each write starts after a pause, so that the pages the trials freed have gone back
    to the host, as they have when a real download starts.
    """
    from p2pshare_node.dropbehind import DropBehind
    from p2pshare_node.storage import PieceStore

    step = 32 * MiB
    block = os.urandom(64 * 1024)
    result: dict[str, float] = {}
    written = [0]  # what the "file hash" has passed: here, everything written
    for name in ("plain", "drop_behind"):
        time.sleep(pause)  # (a machine state to reach, not a wait for an event)
        path = tmp / f"write-floor-{name}.bin"
        store = PieceStore.create(path, size)
        written[0] = 0
        drop = DropBehind(store, lambda: written[0], keep=step)
        try:
            t, cpu = time.perf_counter(), time.thread_time()
            for offset in range(0, size, len(block)):
                store.write(offset, block)
                end = offset + len(block)
                if name == "drop_behind" and end % step == 0:
                    written[0] = end
                    drop.flush()
            store.sync()
            wall, cpu = time.perf_counter() - t, time.thread_time() - cpu
        finally:
            store.close()
            path.unlink()
        prefix = "" if name == "plain" else "drop_behind_"
        result[prefix + "mb_s"] = size / wall / 1e6
        result[prefix + "cpu_s_per_gib"] = cpu * (1 << 30) / size
    return result


def hash_floor() -> dict[str, float]:
    """Single-core SHA-256 and SHA-1 speed now: the CPU floor under the leecher's CPU/GiB."""
    import hashlib

    block = os.urandom(1 << 20)
    speeds: dict[str, float] = {}
    for name in ("sha256", "sha1"):
        t = time.perf_counter()
        for _ in range(256):
            hashlib.new(name, block).digest()
        speeds[f"{name}_mb_s"] = 256 * (1 << 20) / (time.perf_counter() - t) / 1e6
    gib = (1 << 30) / 1e6
    speeds["both_cpu_s_per_gib"] = gib / speeds["sha256_mb_s"] + gib / speeds["sha1_mb_s"]
    return speeds


def progress_line(r: runner.Result) -> str:
    if not r.ok:
        return f"  {r.variant:<48} {r.contender:<10} run {r.run}: FAILED {r.error[:200]}"
    if r.seconds is None:
        return f"  {r.variant:<48} {r.contender:<10} run {r.run}: start-up {r.startup_s:.2f} s"
    return (
        f"  {r.variant:<48} {r.contender:<10} run {r.run}: {r.seconds:.2f} s "
        f"({r.mb_per_s:.0f} MB/s, start-up {r.startup_s:.2f} s, load {r.loadavg})"
    )


def meta(args: argparse.Namespace, size: int, runs: int, started: float) -> dict[str, Any]:
    try:
        import libtorrent

        lt_version = str(libtorrent.__version__)
    except ImportError:
        lt_version = None
    return {
        "date": dt.datetime.fromtimestamp(started).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "libtorrent": lt_version,
        "size": size,
        "runs": runs,
        "quick": args.quick,
        "scenarios": args.scenarios,
        "seconds": round(time.time() - started, 1),
        "git": git_state(),
    }


def git_state() -> str | None:
    """Commit of the measured code, '+dirty' when packages/ has uncommitted changes."""
    import subprocess

    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "packages"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "")


if __name__ == "__main__":
    sys.exit(main())
