"""The CI subset of the mutation harness (`make mutants` runs all of it).

Each quick mutant is a reference node with one MUST broken; the suite, restricted to the cases
citing that requirement, must fail it with a case naming it. The quick benign variation runs
the whole suite and must pass.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import P2PSHARE, shared_file
from mutants.catalogue import MUTANTS, Mutant
from mutants.run import run_one

QUICK = [m for m in MUTANTS if m.quick]


def test_catalogue_is_well_formed() -> None:
    names = [m.name for m in MUTANTS]
    assert len(names) == len(set(names))
    assert any(not m.breaks for m in QUICK), "CI must run at least one benign variation"
    assert len([m for m in MUTANTS if m.breaks]) >= 30


@pytest.mark.slow
@pytest.mark.parametrize("mutant", QUICK, ids=[m.name for m in QUICK])
def test_quick_mutant(mutant: Mutant, tmp_path: Path) -> None:
    if not P2PSHARE.exists():
        pytest.skip("p2pshare CLI not installed in .venv")
    verdict = run_one(mutant, shared_file(tmp_path), workdir=tmp_path)
    assert verdict.caught, verdict.detail
