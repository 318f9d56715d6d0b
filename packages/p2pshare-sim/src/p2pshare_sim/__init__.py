"""A deterministic swarm simulator: real p2pshare `Swarm`s over a flow-level network model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .scenario import Scenario, ScenarioError, builtin_names, load
from .world import World

__all__ = ["Scenario", "ScenarioError", "World", "builtin_names", "load", "simulate"]


def simulate(
    scenario: Scenario, seed: int = 1, progress: Callable[[World], None] | None = None
) -> dict[str, Any]:
    """Run `scenario` with `seed`; the report as a JSON-ready dict (same seed, same dict)."""
    world = World(scenario, seed)
    world.run(progress)
    result = world.recorder.result()
    result["seed"] = seed
    return result
