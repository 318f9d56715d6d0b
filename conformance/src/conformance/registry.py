"""The case catalogue: every case names its spec section and the requirement IDs it checks.

Cases register themselves with `@case(...)` when their module is imported; `all_cases()`
imports the case modules, so the registry is the single list that --list, selection, the
coverage test and the report all read.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    pass

Level = Literal["MUST", "SHOULD"]
Kind = Literal["scripted", "hostile", "model", "serve"]

CASE_MODULES = (
    "conformance.cases.framing",
    "conformance.cases.handshake",
    "conformance.cases.bitfield",
    "conformance.cases.transfer",
    "conformance.cases.span",
    "conformance.cases.seed",
    "conformance.cases.metainfo",
    "conformance.cases.pex",
    "conformance.cases.errors",
    "conformance.cases.connections",
    "conformance.cases.hostile",
    "conformance.cases.model",
    "conformance.cases.tree",
    "conformance.serve.cases",
)


@dataclass(frozen=True)
class Case:
    """One check. `kind` hostile cases are followed by a health check of the target."""

    name: str
    section: str
    requirements: tuple[str, ...]
    level: Level
    kind: Kind
    func: Callable[[Any], None]  # CaseContext, or an Observation for serve cases
    doc: str

    @property
    def health_check(self) -> bool:
        return self.kind in ("hostile", "model")


_REGISTRY: dict[str, Case] = {}


def case(
    name: str,
    *,
    section: str,
    requirements: tuple[str, ...],
    level: Level = "MUST",
    kind: Kind = "scripted",
) -> Callable[[Callable[[Any], None]], Callable[[Any], None]]:
    """Register a case function under `section/name`."""

    def register(func: Callable[[Any], None]) -> Callable[[Any], None]:
        full = f"{section}/{name}"
        if full in _REGISTRY:
            raise ValueError(f"duplicate case name {full}")
        doc = (func.__doc__ or "").strip().splitlines()
        _REGISTRY[full] = Case(
            name=full,
            section=section,
            requirements=requirements,
            level=level,
            kind=kind,
            func=func,
            doc=doc[0] if doc else "",
        )
        return func

    return register


def all_cases() -> list[Case]:
    """Every registered case, in catalogue order (module order, then definition order)."""
    for module in CASE_MODULES:
        importlib.import_module(module)
    return list(_REGISTRY.values())


def wire_cases() -> list[Case]:
    """Cases run against a target address (everything but serve mode)."""
    return [c for c in all_cases() if c.kind != "serve"]
