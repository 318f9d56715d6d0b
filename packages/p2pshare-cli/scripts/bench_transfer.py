"""Loopback throughput of one seeder -> one leecher transfer, median of N runs.

    python packages/p2pshare-cli/scripts/bench_transfer.py --size 1GiB --runs 3

Each run starts `p2pshare share` and `p2pshare get --exit-when-done` as separate processes and
times the get process from launch to exit (metainfo fetch, transfer, piece and whole-file
verification, rename); the seeder's hashing is timed separately.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from p2pshare_cli.units import format_bytes, parse_size

LOCAL = ("--host", "127.0.0.1")  # a benchmark on this machine: loopback, no LAN announces


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="1GiB")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", default=None, help="work directory (default: a temp dir)")
    args = parser.parse_args()
    size = parse_size(args.size)
    work = Path(args.dir or tempfile.mkdtemp(prefix="p2pshare-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    source = work / "bench.bin"
    if not source.exists() or source.stat().st_size != size:
        with open(source, "wb") as fh:
            left = size
            while left:
                chunk = os.urandom(min(left, 8 << 20))
                fh.write(chunk)
                left -= len(chunk)
    cmd = [sys.executable, "-m", "p2pshare_cli"]
    times: list[float] = []
    for run in range(args.runs):
        out = work / f"out{run}"
        out.mkdir(exist_ok=True)
        t0 = time.perf_counter()
        seeder = subprocess.Popen(
            [*cmd, "share", str(source), "--json", *LOCAL], stdout=subprocess.PIPE, text=True
        )
        try:
            assert seeder.stdout is not None
            started = json.loads(seeder.stdout.readline())
            ready = time.perf_counter() - t0
            t1 = time.perf_counter()
            subprocess.run(
                [*cmd, "get", started["link"], "-o", str(out), "--exit-when-done", *LOCAL],
                check=True,
                stdout=subprocess.DEVNULL,
                timeout=600,
            )
            elapsed = time.perf_counter() - t1
        finally:
            seeder.terminate()
            seeder.wait(30)
        (out / source.name).unlink()
        times.append(elapsed)
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
        print(
            f"run {run + 1}: seeder ready in {ready:.2f}s, transfer {elapsed:.2f}s "
            f"= {format_bytes(size / elapsed)}/s, peak RSS of a child so far {rss:.0f} MiB",
            flush=True,
        )
    median = statistics.median(times)
    print(
        f"median of {len(times)}: {median:.2f}s = {format_bytes(size / median)}/s "
        f"({size / median / 2**20:.0f} MiB/s)"
    )


if __name__ == "__main__":
    main()
