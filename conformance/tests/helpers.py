"""Running single cases in-process (fast) for the catalogue and runner tests."""

from __future__ import annotations

from conformance.context import Options
from conformance.discover import discover
from conformance.outcomes import CaseResult
from conformance.registry import Case, wire_cases
from conformance.runner import run_case


def case_named(name: str) -> Case:
    for c in wire_cases():
        if c.name == name:
            return c
    raise KeyError(name)


def run_one(address: str, name: str, timeout: float = 1.5, max_examples: int = 25) -> CaseResult:
    host, port = address.rsplit(":", 1)
    opts = Options(host=host, port=int(port), timeout=timeout, seed=1, max_examples=max_examples)
    return run_case(case_named(name), opts, discover(opts))
