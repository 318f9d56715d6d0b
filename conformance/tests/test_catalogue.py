"""Trusting the suite: deliberately broken targets, each caught by the case naming its bug.

Every entry says which case must catch the fault and which requirement that case cites; the
same case must pass against the unbroken target, so the catch is the fault's doing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from broken.seeder import Seeder
from conformance.outcomes import Outcome
from conftest import NodeProcess, shared_file
from helpers import run_one

MINI_CATALOGUE = [
    # fault, case that must catch it, requirement the case cites
    ("corrupt-piece", "transfer/piece-matches-hash", "MSG-11"),
    ("ignore-request", "transfer/one-reply-per-request", "MSG-4"),
    ("oor-data", "transfer/request-index-out-of-range", "MSG-3"),
    ("waits-oversize", "framing/oversize-frame-closes", "FRAME-3"),
    ("dials-higher", "pex/no-dial-higher-id", "DUP-1"),
    ("pex-51", "pex/lists-connected-peers", "PEX-1"),
    ("closes-on-unknown", "framing/unknown-id-skipped", "FRAME-5"),
    ("silent-close", "framing/malformed-payload", "ERR-3"),
]

REFERENCE_CATALOGUE = [
    ("corrupt", "transfer/piece-matches-hash", "MSG-11"),
    ("ignore-request", "transfer/one-reply-per-request", "MSG-4"),
    ("no-have", "transfer/unadvertised-piece-rejected", "MSG-7"),
]


@pytest.mark.parametrize(("fault", "case_name", "requirement"), MINI_CATALOGUE)
def test_mini_fault_is_caught(fault: str, case_name: str, requirement: str) -> None:
    with Seeder() as good:
        baseline = run_one(f"127.0.0.1:{good.port}", case_name)
    assert baseline.outcome == Outcome.PASS, baseline
    with Seeder(fault=fault) as bad:
        result = run_one(f"127.0.0.1:{bad.port}", case_name)
    assert result.outcome.is_failure, result
    assert requirement in result.requirements or requirement in result.expected, result


@pytest.mark.parametrize("fault", ["no-unchoke", "chatty"])
def test_legal_quirks_are_not_failures(fault: str) -> None:
    """A target that never unchokes, or sends harmless frames before replies, is not failed."""
    names = [
        "transfer/piece-matches-hash",
        "transfer/one-reply-per-request",
        "transfer/cancel-still-answered",
        "framing/keepalive-accepted",
        "metainfo/chunks-verify-share-id",
    ]
    with Seeder(fault=fault) as quirky:
        for name in names:
            result = run_one(f"127.0.0.1:{quirky.port}", name)
            assert result.outcome in (Outcome.PASS, Outcome.UNSUPPORTED), result


@pytest.mark.slow
@pytest.mark.parametrize(("fault", "case_name", "requirement"), REFERENCE_CATALOGUE)
def test_reference_fault_is_caught(
    tmp_path: Path, fault: str, case_name: str, requirement: str
) -> None:
    node = NodeProcess(shared_file(tmp_path), "--fault", fault)
    try:
        result = run_one(node.address, case_name)
    finally:
        node.stop()
    assert result.outcome.is_failure, result
    assert requirement in result.requirements, result


@pytest.mark.parametrize(
    ("fault", "needle"),
    [("silent-close", "closed without an error frame"), ("oor-data", "MSG-9")],
)
def test_model_case_catches_and_shrinks(fault: str, needle: str) -> None:
    """The Hypothesis machine finds the bug on its own, shrinks it and calls it deterministic."""
    with Seeder() as good:
        assert run_one(f"127.0.0.1:{good.port}", "model/random-sessions").outcome == Outcome.PASS
    with Seeder(fault=fault) as bad:
        result = run_one(f"127.0.0.1:{bad.port}", "model/random-sessions", timeout=1)
    assert result.outcome == Outcome.FAIL, result
    assert needle in result.message + result.expected, result
    assert "deterministic (3/3)" in result.message
    assert "state.invalid(" in result.message  # the shrunk program is printed
