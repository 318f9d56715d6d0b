"""The requirement -> case matrix behind --list and the coverage test."""

from __future__ import annotations

from dataclasses import dataclass

from conformance.exemptions import EXEMPT
from conformance.registry import Case
from conformance.requirements import Requirement


@dataclass(frozen=True)
class Coverage:
    rows: list[tuple[Requirement, list[Case], str | None]]  # requirement, cases, exemption
    unknown: dict[str, list[str]]  # IDs cited by cases but absent from the spec

    @property
    def uncovered_musts(self) -> list[str]:
        return [r.id for r, cases, ex in self.rows if r.level == "MUST" and not cases and not ex]


def compute(requirements: dict[str, Requirement], cases: list[Case]) -> Coverage:
    by_req: dict[str, list[Case]] = {}
    for c in cases:
        for rid in c.requirements:
            by_req.setdefault(rid, []).append(c)
    rows = [(req, by_req.get(rid, []), EXEMPT.get(rid)) for rid, req in requirements.items()]
    unknown = {rid: [c.name for c in cs] for rid, cs in by_req.items() if rid not in requirements}
    return Coverage(rows, unknown)


def render(cov: Coverage) -> str:
    lines = [f"{'requirement':<12} {'level':<6} cases"]
    for req, cases, exemption in cov.rows:
        if cases:
            what = ", ".join(c.name + ("" if c.level == "MUST" else " (SHOULD)") for c in cases)
        elif exemption:
            what = f"EXEMPT: {exemption}"
        else:
            what = "-- NO CASE --" if req.level == "MUST" else "-"
        lines.append(f"{req.id:<12} {req.level:<6} {what}")
    for rid, names in sorted(cov.unknown.items()):
        lines.append(f"{rid:<12} {'??':<6} not in the spec; cited by {', '.join(names)}")
    musts = [r for r, _, _ in cov.rows if r.level == "MUST"]
    lines.append(
        f"{len(musts)} MUST requirements, {len(musts) - len(cov.uncovered_musts)} covered"
        + (f"; uncovered: {', '.join(cov.uncovered_musts)}" if cov.uncovered_musts else "")
    )
    return "\n".join(lines)
