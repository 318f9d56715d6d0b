"""What a run measured: completion times, the Kumar–Ross bound, utilisation, availability, waste.

Sampled every `interval` simulated seconds (a hundredth of the bound, at least 0.25 s): the
seeders' and the whole swarm's upload utilisation (instantaneous flow rates over the present
peers' capacity) and the copies of the rarest piece among present peers. Percentiles are
nearest-rank, so the numbers are exact functions of the run (no interpolation choices).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from .scenario import Scenario

if TYPE_CHECKING:
    from .world import SimPeer, World

__all__ = ["Bound", "Recorder", "kumar_ross", "percentile"]


class Bound:
    """D_min of Kumar and Ross (2006): no schedule delivers the file to all N downloaders faster
    than the seeders can send one copy, the slowest downloader can receive one, or the whole
    swarm can upload N copies."""

    def __init__(self, seeder: float, slowest: float, swarm: float) -> None:
        self.seeder = seeder
        self.slowest = slowest
        self.swarm = swarm

    @property
    def d_min(self) -> float:
        return max(self.seeder, self.slowest, self.swarm)

    def as_dict(self) -> dict[str, float]:
        return {
            "d_min": self.d_min,
            "seeder": self.seeder,
            "slowest_download": self.slowest,
            "swarm_upload": self.swarm,
        }


def kumar_ross(scenario: Scenario, peers: list[SimPeer]) -> Bound:
    """The bound for the scenario's population (useful upload only: free riders and corrupt
    peers contribute nothing; a churn scenario is bounded as if everyone arrived at once)."""
    size = scenario.file_size
    seeders = sum(p.upload for p in peers if p.seeder)
    leechers = [p for p in peers if not p.seeder]
    useful = sum(p.upload for p in leechers if not p.kind.corrupt)
    slowest = min(p.download for p in leechers)
    return Bound(size / seeders, size / slowest, len(leechers) * size / (seeders + useful))


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of sorted `values` (q in 0..100)."""
    rank = max(1, math.ceil(q / 100 * len(values)))
    return values[rank - 1]


class Recorder:
    """Collects samples and completions while a `World` runs; `result()` is the report."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.bound = kumar_ross(world.scenario, world.peers)
        self.interval = max(0.25, self.bound.d_min / 100)
        self.completed = 0
        self.durations: list[tuple[str, float]] = []  # (class name, seconds from arrival)
        self.corrupt_bytes = 0
        self.bans = 0
        self.stalled = False  # stopped early: some piece was lost with the last seeder
        self.t: list[float] = []
        self.seeder_util: list[float] = []
        self.swarm_util: list[float] = []
        self.min_copies: list[int] = []
        self.done: list[int] = []
        self.end = 0.0

    def peer_completed(self, peer: SimPeer) -> None:
        assert peer.completed_at is not None and peer.arrived_at is not None
        self.completed += 1
        self.durations.append((peer.kind.name, peer.completed_at - peer.arrived_at))

    def sample(self) -> None:
        world = self.world
        seed_cap = seed_rate = cap = 0.0
        for peer in world.present:
            cap += peer.upload
            if peer.seeder:
                seed_cap += peer.upload
                seed_rate += sum(link.rate for link in peer.up_active)
        self.t.append(world.now)
        self.seeder_util.append(seed_rate / seed_cap if seed_cap else 0.0)
        self.swarm_util.append(min(1.0, world.total_rate / cap) if cap else 0.0)
        self.min_copies.append(min(world.copies) if world.present else 0)
        self.done.append(self.completed)

    def finish(self) -> None:
        self.end = self.world.now
        self.sample()

    def result(self) -> dict[str, Any]:
        world = self.world
        s = world.scenario
        times = sorted(d for _, d in self.durations)
        leechers = [p for p in world.peers if not p.seeder]
        incomplete = len(leechers) - len(times)
        completion: dict[str, Any] = {
            "min": times[0] if times else None,
            "median": percentile(times, 50) if times else None,
            "p95": percentile(times, 95) if times else None,
            "max": times[-1] if times else None,
            "completed": len(times),
            "incomplete": incomplete,
        }
        d_min = self.bound.d_min
        worst = times[-1] if times and not incomplete else None
        received = sum(p.received for p in leechers)
        stored = sum(p.stored for p in leechers)
        seeders = [p for p in world.peers if p.seeder]
        classes: dict[str, Any] = {}
        for kind in s.classes:
            mine = sorted(d for name, d in self.durations if name == kind.name)
            members = [p for p in leechers if p.kind.name == kind.name]
            classes[kind.name] = {
                "peers": len(members),
                "completed": len(mine),
                "median": percentile(mine, 50) if mine else None,
                "max": mine[-1] if mine else None,
                "uploaded_bytes": sum(p.uploaded for p in members),
            }
        return {
            "scenario": s.name,
            "peers": s.peers,
            "seeders": s.seeders,
            "pieces": s.pieces,
            "piece_size": s.piece_size,
            "file_size": s.file_size,
            "completion": completion,
            "d": worst,
            "d_over_dmin": worst / d_min if worst is not None else None,
            "bound": self.bound.as_dict(),
            "classes": classes,
            "wasted": {
                "duplicate_bytes": received - stored,
                "corrupt_bytes": self.corrupt_bytes,
                "fraction_of_received": (received - stored + self.corrupt_bytes) / received
                if received
                else 0.0,
            },
            "bans": self.bans,
            "stalled": self.stalled,
            "seeder_uploaded_bytes": sum(p.uploaded for p in seeders),
            "utilisation": {
                "seeder_mean": _mean(self.seeder_util),
                "swarm_mean": _mean(self.swarm_util),
            },
            "series": {
                "t": self.t,
                "seeder_utilisation": self.seeder_util,
                "swarm_utilisation": self.swarm_util,
                "rarest_piece_copies": self.min_copies,
                "completed": self.done,
            },
            "simulated_seconds": self.end,
            "events": world.events,
        }


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0
