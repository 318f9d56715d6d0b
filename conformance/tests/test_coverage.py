"""Every MUST in spec/protocol.md has a case or a reviewed exemption; every cited ID exists."""

from __future__ import annotations

from conformance.coverage import compute
from conformance.exemptions import EXEMPT
from conformance.registry import all_cases
from conformance.requirements import find_spec, load_requirements, parse_requirements


def test_every_must_has_a_case_or_exemption() -> None:
    reqs = load_requirements()
    assert len(reqs) > 50, "spec/protocol.md not found or has no requirement IDs"
    cov = compute(reqs, all_cases())
    assert not cov.uncovered_musts, f"MUSTs without a case or exemption: {cov.uncovered_musts}"


def test_cases_cite_only_existing_requirements() -> None:
    cov = compute(load_requirements(), all_cases())
    assert not cov.unknown, f"cases cite IDs that are not in the spec: {cov.unknown}"


def test_exemptions_are_real_musts_without_cases() -> None:
    reqs = load_requirements()
    cited = {r for c in all_cases() for r in c.requirements}
    for rid, reason in EXEMPT.items():
        assert rid in reqs, f"exemption for unknown requirement {rid}"
        assert reqs[rid].level == "MUST", f"{rid} is not a MUST: no exemption needed"
        assert rid not in cited, f"{rid} has a case: drop the exemption"
        assert len(reason) > 20, f"{rid}: give a real reason"


def test_requirement_parser_reads_levels() -> None:
    text = "**[A-1]** A node MUST do x.\n\n**[A-2]** It SHOULD do y.\n\nsee **[A-1]** again\n"
    reqs = parse_requirements(text)
    assert [(r.id, r.level) for r in reqs.values()] == [("A-1", "MUST"), ("A-2", "SHOULD")]
    assert find_spec() is not None
