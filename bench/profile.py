"""`python -m bench.profile`: where p2pshare's seeder and leecher spend their time (py-spy).

Runs one 1->1 transfer with both nodes under `py-spy record --format raw` (collapsed stacks),
then prints, per process, the functions with the most samples: self (on top of the stack) and
inclusive (anywhere on the stack). Raw stacks are kept under bench/out/ for flame graphs.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.__main__ import OUT, parse_size
from bench.datafile import generate, generate_tree
from bench.runner import free_port

try:
    import psutil
except ImportError:
    psutil = None


def pyspy() -> str:
    """py-spy from PATH, beside this Python, or in a PYTHONPATH --target dir (make bench-deps)."""
    places = [
        Path(p) / "bin" / "py-spy" for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
    ]
    places.append(Path(sys.executable).with_name("py-spy"))
    found = shutil.which("py-spy")
    if found:
        return found
    for place in places:
        if place.exists():
            return str(place)
    raise SystemExit("bench.profile: py-spy not installed (make bench-deps)")


def record(
    out: Path, rate: int, argv: list[str], log: Path, extra: list[str]
) -> subprocess.Popen[bytes]:
    """Start argv under py-spy; its stdout goes to a file (a full pipe would stall the node)."""
    cmd = [pyspy(), "record", "--format", "raw", "--rate", str(rate), "--threads", *extra]
    cmd += ["-o", str(out), "--", *argv]
    with open(log, "wb") as fh:
        return subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT)


def wait_link(log: Path, deadline: float) -> str:
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith('{"event":"started"'):
                link = json.loads(line).get("link")
                if link:
                    return str(link)
        time.sleep(0.05)
    return ""


def child_pid(proc: subprocess.Popen[bytes]) -> int | None:
    if psutil is None:
        return None
    with contextlib.suppress(Exception):
        kids = psutil.Process(proc.pid).children()
        return kids[0].pid if kids else None
    return None


def summarize(raw: Path, top: int) -> str:
    """Top functions by self and inclusive samples from py-spy's collapsed-stack file."""
    selfc: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        raw_frames = stack.split(";")
        if raw_frames[0].startswith("thread ") or raw_frames[0].startswith("process "):
            threads[thread_name(raw_frames)] += n
            raw_frames = [f for f in raw_frames if not f.startswith(("thread ", "process "))]
        if not raw_frames:
            continue
        frames = [f.split(" (")[0] + " " + short_file(f) for f in raw_frames]
        total += n
        selfc[frames[-1]] += n
        for f in set(frames):
            incl[f] += n
    lines = [f"  {total} samples; by thread (where its stack starts):"]
    for name, n in threads.most_common(6):
        lines.append(f"  {100 * n / max(1, total):5.1f}  {name}")
    lines.append("  self%   function")
    for f, n in selfc.most_common(top):
        lines.append(f"  {100 * n / total:5.1f}  {f}")
    lines.append("  incl%   function")
    for f, n in incl.most_common(top * 2):
        lines.append(f"  {100 * n / total:5.1f}  {f}")
    return "\n".join(lines)


def thread_name(frames: list[str]) -> str:
    """Label a thread by its second-outermost Python frame (event loop vs executor worker)."""
    py = [f for f in frames if not f.startswith(("thread ", "process "))]
    inner = [f for f in py if "threading.py" not in f]
    return (inner[0] if inner else py[0] if py else frames[0]).split(" (")[0]


def short_file(frame: str) -> str:
    if " (" not in frame:
        return ""
    where = frame.split(" (", 1)[1].rstrip(")")
    parts = where.split("/")
    return "(" + "/".join(parts[-2:]) + ")"


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    ap.add_argument("--size", type=parse_size, default=1 << 30)
    ap.add_argument("--piece-size", type=parse_size, default=64 * 1024)
    ap.add_argument(
        "--files", type=int, default=0, help="share a folder of this many files (scenario t)"
    )
    ap.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--deadline", type=float, default=300.0)
    ap.add_argument("--gil", action="store_true", help="sample only the thread holding the GIL")
    ap.add_argument("--idle", action="store_true", help="include idle threads")
    args = ap.parse_args()
    extra = (["--gil"] if args.gil else []) + (["--idle"] if args.idle else [])
    exe = str(Path(sys.executable).with_name("p2pshare"))
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="p2pshare-prof-"))
    seed = leech = None
    try:
        src = tmp / ("src" if args.files else "src.bin")
        if args.files:
            generate_tree(src, args.size, args.files, os.urandom(64 << 20))
        else:
            generate(src, args.size)
        port = free_port()
        seed_raw, leech_raw = OUT / "profile-seeder.txt", OUT / "profile-leecher.txt"
        share = [exe, "share", str(src), "--port", str(port), "--host", "127.0.0.1"]
        share += ["--piece-size", str(args.piece_size)]
        seed = record(seed_raw, args.rate, [*share, "--json"], tmp / "seed.log", extra)
        link = wait_link(tmp / "seed.log", time.monotonic() + args.deadline)
        if not link:
            raise SystemExit("bench.profile: seeder never started")
        (tmp / "dl").mkdir()
        t0 = time.monotonic()
        get = [exe, "get", link, "-o", str(tmp / "dl"), "--exit-when-done", "--json"]
        get += ["--host", "127.0.0.1"]
        leech = record(leech_raw, args.rate, get, tmp / "leech.log", extra)
        leech.wait(timeout=args.deadline)
        took = time.monotonic() - t0
        pid = child_pid(seed)
        if pid:
            os.kill(pid, signal.SIGINT)
        seed.wait(timeout=30)
        shape = f" in {args.files} files" if args.files else ""
        print(f"transfer of {args.size >> 20} MiB{shape} ({args.piece_size >> 10} KiB pieces) "
              f"under py-spy took {took:.2f} s")  # fmt: skip
        for name, raw in (("seeder", seed_raw), ("leecher", leech_raw)):
            print(f"\n== {name} ({raw}) ==")
            print(summarize(raw, args.top))
        return 0
    finally:
        for p in (leech, seed):
            if p is not None and p.poll() is None:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
