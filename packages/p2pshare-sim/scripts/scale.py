"""How far the simulator gets at scale: events per second, simulated time reached, peak memory.

Not a test (timings depend on the machine): `python packages/p2pshare-sim/scripts/scale.py
SCENARIO PEERS PIECES WALL_SECONDS`. Runs the scenario for at most WALL_SECONDS of wall time and
prints one JSON line: set-up time, events, simulated seconds reached, completions, peak RSS,
and the CPU time the run got (on a shared machine, events per CPU second compare runs better
than events per wall second), with the load average at the end.
"""

from __future__ import annotations

import heapq
import json
import os
import resource
import sys
import time

from p2pshare_sim import World, load


def main() -> None:
    name, peers, pieces = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    budget = float(sys.argv[4])
    start = time.perf_counter()
    cpu_start = time.process_time()
    world = World(load(name).with_overrides(peers=peers, pieces=pieces), seed=1)
    built = time.perf_counter() - start
    cpu_built = time.process_time() - cpu_start
    queue, handlers = world._queue, world._handlers
    deadline = time.perf_counter() + budget
    while queue and world.recorder.completed < peers:
        for _ in range(1000):
            if not queue:
                break
            when, _, kind, a, b = heapq.heappop(queue)
            world.now = when
            world.events += 1
            handlers[kind](world, a, b)
        if time.perf_counter() > deadline:
            break
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(
        json.dumps(
            {
                "scenario": name,
                "peers": peers,
                "pieces": pieces,
                "setup_seconds": round(built, 1),
                "wall_seconds": round(wall, 1),
                "events": world.events,
                "events_per_second": round(world.events / (wall - built)),
                "cpu_seconds": round(cpu, 1),
                "events_per_cpu_second": round(world.events / (cpu - cpu_built)),
                "simulated_seconds": round(world.now, 2),
                "completed": world.recorder.completed,
                "d_min": round(world.recorder.bound.d_min, 1),
                "peak_rss_mib": round(rss / 1024),
                "load_average": round(os.getloadavg()[0], 1),
            }
        )
    )


if __name__ == "__main__":
    main()
