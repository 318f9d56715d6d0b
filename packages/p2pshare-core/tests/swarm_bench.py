"""In-memory throughput of the swarm logic: 1 seeder -> 1 leecher through swarm_harness.

Not a test (timings are machine-dependent): `python packages/p2pshare-core/tests/swarm_bench.py
[MiB] [piece KiB]`. The figure includes everything a node would do in-process except sockets and
disk: framing, parsing, the swarm logic, copying blocks, SHA-256 per piece and SHA-1 per file.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from swarm_harness import Network, make_share


def run(size: int, piece_size: int) -> float:
    """Seconds of wall-clock time for one complete transfer of `size` bytes."""
    meta, data = make_share(size, piece_size)
    net = Network(seed=1, keep_actions=False)
    seed = net.add_node("seed", metainfo=meta, data=data)
    leech = net.add_node("leech", metainfo=meta)
    net.bootstrap(leech, seed)
    start = time.perf_counter()
    assert net.run(net.all_complete)
    elapsed = time.perf_counter() - start
    assert leech.disk == data
    return elapsed


def main() -> None:
    mib = int(sys.argv[1]) if len(sys.argv) > 1 else 64
    piece_kib = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    size = mib * 1024 * 1024
    best = min(run(size, piece_kib * 1024) for _ in range(3))
    print(f"{mib} MiB in {piece_kib} KiB pieces: {best:.3f} s, {size / best / 1e6:.0f} MB/s")


if __name__ == "__main__":
    main()
