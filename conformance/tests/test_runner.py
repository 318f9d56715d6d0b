"""The runner itself: selection, outcomes, replay files, JUnit/JSON output, exit codes."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from broken.seeder import Seeder
from conformance.cli import main
from conformance.context import CaseContext, Options
from conformance.discover import discover
from conformance.outcomes import CaseResult, Closed, Fail, Outcome, Timeout, Unsupported
from conformance.registry import Case, wire_cases
from conformance.replay import load_replay, run_replay
from conformance.report import (
    failure_details,
    junit_xml,
    requirement_table,
    section_table,
    spec_link,
    summary_line,
    write_json,
)
from conformance.runner import run_case
from conformance.selection import select
from helpers import case_named, run_one


def names(cases: list[Case]) -> set[str]:
    return {c.name for c in cases}


def test_select_by_section_requirement_name_and_glob() -> None:
    cases = wire_cases()
    assert {c.section for c in select(cases, include=["transfer"], exclude=[], strict=False)} == {
        "transfer"
    }
    by_req = select(cases, include=["MSG-3"], exclude=[], strict=False)
    assert by_req and all("MSG-3" in c.requirements for c in by_req)
    assert names(select(cases, include=["starts-choked"], exclude=[], strict=False)) == {
        "transfer/starts-choked"
    }
    oversize = select(cases, include=["framing/oversize-*"], exclude=[], strict=False)
    assert len(oversize) == 3
    rest = select(cases, include=["framing"], exclude=["FRAME-3"], strict=False)
    assert rest and not any("FRAME-3" in c.requirements for c in rest)


def test_should_cases_only_with_strict() -> None:
    cases = wire_cases()
    assert "handshake/handshake-timeout" not in names(
        select(cases, include=[], exclude=[], strict=False)
    )
    assert "handshake/handshake-timeout" in names(
        select(cases, include=[], exclude=[], strict=True)
    )


@pytest.mark.parametrize(
    ("exc", "outcome"),
    [
        (None, Outcome.PASS),
        (Fail("wrong", expected="a", actual="b"), Outcome.FAIL),
        (Closed("gone"), Outcome.CLOSED),
        (Timeout("slow"), Outcome.TIMEOUT),
        (Unsupported("n/a"), Outcome.UNSUPPORTED),
        (RuntimeError("suite bug"), Outcome.ERROR),
    ],
)
def test_outcome_of_each_exception(exc: Exception | None, outcome: Outcome, tmp_path: Path) -> None:
    with Seeder() as seeder:
        opts = Options(host="127.0.0.1", port=seeder.port, timeout=1, replay_dir=str(tmp_path))
        target = discover(opts)

    def body(ctx: CaseContext) -> None:
        if exc is not None:
            raise exc

    fake = Case("unit/fake", "unit", ("FRAME-1",), "MUST", "scripted", body, "fake")
    result = run_case(fake, opts, target)
    assert result.outcome == outcome
    assert (result.replay_path is not None) == outcome.is_failure
    if isinstance(exc, Fail):
        assert (result.expected, result.actual) == ("a", "b")


def test_target_outcomes_fail_closed_timeout() -> None:
    with Seeder(fault="closes-on-unknown") as s:
        assert run_one(f"127.0.0.1:{s.port}", "framing/unknown-id-skipped").outcome == (
            Outcome.CLOSED
        )
    with Seeder(fault="ignore-request") as s:
        result = run_one(f"127.0.0.1:{s.port}", "transfer/one-reply-per-request", timeout=0.5)
        assert result.outcome == Outcome.TIMEOUT
    with Seeder(fault="silent-close") as s:
        result = run_one(f"127.0.0.1:{s.port}", "framing/malformed-payload")
        assert result.outcome == Outcome.FAIL
        assert "error" in result.expected and result.actual == "bare close"


def test_failure_is_saved_and_replays_deterministically(tmp_path: Path) -> None:
    case = case_named("framing/malformed-payload")
    with Seeder(fault="silent-close") as bad:
        opts = Options(host="127.0.0.1", port=bad.port, timeout=1, replay_dir=str(tmp_path))
        result = run_case(case, opts, discover(opts))
        assert result.outcome == Outcome.FAIL and result.replay_path
        doc = load_replay(Path(result.replay_path))
        assert doc["case"] == case.name
        writes = [s for s in doc["steps"] if s["op"] == "write"]
        assert writes and all(bytes.fromhex(s["hex"]) for s in writes)
        for _ in range(3):
            again = run_replay(doc, "127.0.0.1", bad.port, timeout=1)
            assert again.outcome == Outcome.FAIL
            assert again.actual == "bare close"
    with Seeder() as good:  # the same bytes against a correct target pass
        assert run_replay(doc, "127.0.0.1", good.port, timeout=1).outcome == Outcome.PASS


def _results() -> list[CaseResult]:
    return [
        CaseResult("a/ok", "a", ("FRAME-1",), "MUST", Outcome.PASS, duration=0.1),
        CaseResult(
            "a/bad",
            "a",
            ("FRAME-3",),
            "MUST",
            Outcome.FAIL,
            "wrong <reply>",
            "x",
            "y",
            wire_log=["0.0 [c0] -> bytes"],
        ),
        CaseResult("b/slow", "b", ("MSG-4",), "MUST", Outcome.TIMEOUT, "no reply"),
        CaseResult("b/na", "b", ("MSG-7",), "MUST", Outcome.UNSUPPORTED, "full bitfield"),
        CaseResult("b/bug", "b", ("MSG-7",), "MUST", Outcome.ERROR, "suite error"),
    ]


def test_junit_xml_is_valid_and_counts_match() -> None:
    root = ET.fromstring(junit_xml(_results(), 1.5, "127.0.0.1:1"))
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == {"a", "b"}
    assert suites["a"].get("failures") == "1" and suites["a"].get("tests") == "2"
    assert suites["b"].get("failures") == "1" and suites["b"].get("skipped") == "1"
    assert suites["b"].get("errors") == "1"
    failure = root.find(".//testcase[@name='a/bad']/failure")
    assert failure is not None and "expected: x" in (failure.text or "")
    assert root.find(".//testcase[@name='a/bad']/system-out") is not None


def test_json_report_and_text_summary(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    write_json(path, _results(), 1.5, "t", 1)
    doc = json.loads(path.read_text())
    assert doc["summary"] == {
        "pass": 1,
        "fail": 1,
        "closed": 0,
        "timeout": 1,
        "unsupported": 1,
        "error": 1,
    }
    assert doc["results"][1]["expected"] == "x"
    cited = {rid for r in _results() for rid in r.requirements}
    assert cited and doc["spec_links"] == {rid: spec_link(rid) for rid in cited}
    assert "FAILED: 5 cases" in summary_line(_results(), 1.5)
    assert section_table(_results()).splitlines()[2].split()[:3] == ["a", "1", "1"]


def test_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--list"]) == 0
    assert "MUST requirements" in capsys.readouterr().out
    assert main([]) == 2
    assert main(["--target", "not a link"]) == 2
    assert main(["--target", "127.0.0.1:1", "--timeout", "1"]) == 3
    replays = str(tmp_path / "r")
    with Seeder() as good:
        target = f"127.0.0.1:{good.port}"
        assert main(["--target", target, "--select", "no-such-case"]) == 2
        assert (
            main(["--target", target, "--select", "keepalive-accepted", "--replay-dir", replays])
            == 0
        )
    with Seeder(fault="closes-on-unknown") as bad:
        junit = tmp_path / "j.xml"
        code = main(
            [
                "--target",
                f"127.0.0.1:{bad.port}",
                "--select",
                "unknown-id-skipped",
                "--junit-xml",
                str(junit),
                "--replay-dir",
                replays,
            ]
        )
        assert code == 1
        assert ET.parse(junit).getroot().find(".//failure") is not None
        saved = list(Path(replays).glob("*.json"))
        assert main(["--target", f"127.0.0.1:{bad.port}", "--replay", str(saved[0])]) == 1


def test_report_leads_with_the_first_specific_failure() -> None:
    """One broken behaviour failing many cases through the health check is folded into one
    line; the first specific failure is named first."""
    health = "target unhealthy after this case: closed: ..."
    results = [
        CaseResult("a/ok", "a", ("FRAME-1",), "MUST", Outcome.PASS),
        CaseResult("a/h1", "a", ("FRAME-2",), "MUST", Outcome.FAIL, message=health),
        CaseResult("b/specific", "b", ("MSG-3",), "MUST", Outcome.FAIL, message="wrong code"),
        *(
            CaseResult(f"c/h{i}", "c", ("MSG-4",), "MUST", Outcome.FAIL, message=health)
            for i in range(5)
        ),
    ]
    text = failure_details(results)
    assert text.splitlines()[0].startswith("First specific failure: b/specific [MSG-3]; 6 more")
    assert text.index("b/specific") < text.index("a/h1")
    assert "HEALTH ONLY (5 more): c/h0" in text
    assert "spec:     reference/protocol.html#msg-3 (docs site)" in text
    table = requirement_table(results)
    assert "MSG-3      FAIL        b/specific (fail)" in table
    assert "FRAME-1    pass        a/ok" in table
