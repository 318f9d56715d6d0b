"""Human and machine output: the per-section table, JUnit XML and JSON."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import OrderedDict
from pathlib import Path
from typing import TextIO

from conformance.outcomes import CaseResult, Outcome

COLUMNS = (
    Outcome.PASS,
    Outcome.FAIL,
    Outcome.CLOSED,
    Outcome.TIMEOUT,
    Outcome.UNSUPPORTED,
    Outcome.ERROR,
)


def result_line(r: CaseResult) -> str:
    mark = {"pass": "ok", "unsupported": "--"}.get(r.outcome.value, "XX")
    reqs = ",".join(r.requirements)
    return f"  {mark} {r.outcome.value:<11} {r.name:<48} [{reqs}] {r.duration:5.2f}s"


def section_table(results: list[CaseResult]) -> str:
    sections: OrderedDict[str, dict[Outcome, int]] = OrderedDict()
    for r in results:
        counts = sections.setdefault(r.section, dict.fromkeys(COLUMNS, 0))
        counts[r.outcome] += 1
    head = f"{'section':<14}" + "".join(f"{o.value:>12}" for o in COLUMNS)
    lines = [head, "-" * len(head)]
    for name, counts in sections.items():
        lines.append(f"{name:<14}" + "".join(f"{counts[o]:>12}" for o in COLUMNS))
    return "\n".join(lines)


# Where a requirement is explained: its anchor on the docs site's rendered spec (`make docs`;
# docs/hooks/specdoc.py gives every requirement the anchor of its lowercased ID).
SPEC_PAGE = "reference/protocol.html"


def spec_link(requirement: str) -> str:
    """HS-5 -> reference/protocol.html#hs-5, relative to the docs site's root."""
    return f"{SPEC_PAGE}#{requirement.lower()}"


HEALTH_PREFIX = "target unhealthy after this case"


def is_health_only(r: CaseResult) -> bool:
    """The case itself passed; only the health check after it found the target broken."""
    return r.outcome.is_failure and r.message.startswith(HEALTH_PREFIX)


def failure_details(results: list[CaseResult]) -> str:
    """Specific failures first (in run order), then the cases that failed only through the
    health check, folded into one line: one broken behaviour can fail dozens of cases that way,
    and the first specific failure is the one to read."""
    failures = [r for r in results if r.outcome.is_failure]
    specific = [r for r in failures if not is_health_only(r)]
    health = [r for r in failures if is_health_only(r)]
    lines = []
    if specific and health:
        first = specific[0]
        lines.append(
            f"First specific failure: {first.name} [{', '.join(first.requirements)}]; "
            f"{len(health)} more case(s) failed only the health check after them."
        )
    elif health:
        lines.append(
            f"{len(health)} case(s) passed but left the target unable to serve a fresh "
            f"connection; the first was {health[0].name}: {health[0].actual}"
        )
    for r in specific + health[:1]:
        lines.append(f"{r.outcome.value.upper()}: {r.name} [{', '.join(r.requirements)}]")
        lines.append(f"    {r.message}")
        if r.requirements:
            links = " ".join(spec_link(rid) for rid in r.requirements)
            lines.append(f"    spec:     {links} (docs site)")
        if r.expected:
            lines.append(f"    expected: {r.expected}")
        if r.actual:
            lines.append(f"    actual:   {r.actual}")
        if r.wire_log:
            tail = r.wire_log[-25:]
            lines.append(f"    wire log (last {len(tail)} of {len(r.wire_log)} lines):")
            lines.extend("      " + line for line in tail)
        if r.replay_path:
            lines.append(
                f"    replay:   python -m conformance --target HOST:PORT --replay {r.replay_path}"
            )
    if len(health) > 1:
        names = ", ".join(r.name for r in health[1:8]) + (" ..." if len(health) > 8 else "")
        lines.append(f"HEALTH ONLY ({len(health) - 1} more): {names}")
    return "\n".join(lines)


def by_requirement(results: list[CaseResult]) -> dict[str, list[CaseResult]]:
    """Requirement ID -> the cases of this run that cite it, in run order."""
    out: dict[str, list[CaseResult]] = {}
    for r in results:
        for rid in r.requirements:
            out.setdefault(rid, []).append(r)
    return dict(sorted(out.items(), key=lambda kv: _id_key(kv[0])))


def _id_key(rid: str) -> tuple[str, int]:
    prefix, _, num = rid.partition("-")
    return prefix, int(num) if num.isdigit() else 0


def requirement_table(results: list[CaseResult]) -> str:
    """One line per requirement: its verdict in this run and the cases that cover it."""
    lines = []
    for rid, cases in by_requirement(results).items():
        failed = [c for c in cases if c.outcome.is_failure]
        passed = [c for c in cases if c.outcome == Outcome.PASS]
        verdict = "FAIL" if failed else ("pass" if passed else "unsupported")
        names = ", ".join(c.name + ("" if c.outcome == Outcome.PASS else f" ({c.outcome.value})")
                          for c in cases)  # fmt: skip
        lines.append(f"{rid:<10} {verdict:<11} {names}")
    return "\n".join(lines)


def summary_line(results: list[CaseResult], elapsed: float) -> str:
    counts = {o: sum(1 for r in results if r.outcome == o) for o in COLUMNS}
    parts = [f"{counts[o]} {o.value}" for o in COLUMNS if counts[o] or o == Outcome.PASS]
    failed = sum(1 for r in results if r.outcome.is_failure)
    verdict = "FAILED" if failed else "OK"
    return f"{verdict}: {len(results)} cases, " + ", ".join(parts) + f" in {elapsed:.1f}s"


def print_report(results: list[CaseResult], elapsed: float, out: TextIO) -> None:
    out.write(
        "\nby requirement (cases of this run citing it):\n" + requirement_table(results) + "\n"
    )
    out.write("\n" + section_table(results) + "\n\n")
    details = failure_details(results)
    if details:
        out.write(details + "\n\n")
    out.write(summary_line(results, elapsed) + "\n")


def junit_xml(results: list[CaseResult], elapsed: float, target: str) -> bytes:
    """JUnit XML: one testsuite per spec section, one testcase per case."""
    root = ET.Element("testsuites", name="p2pshare-conformance", time=f"{elapsed:.3f}")
    sections: OrderedDict[str, list[CaseResult]] = OrderedDict()
    for r in results:
        sections.setdefault(r.section, []).append(r)
    for section, items in sections.items():
        failures = sum(
            1 for r in items if r.outcome in (Outcome.FAIL, Outcome.CLOSED, Outcome.TIMEOUT)
        )
        errors = sum(1 for r in items if r.outcome == Outcome.ERROR)
        skipped = sum(1 for r in items if r.outcome == Outcome.UNSUPPORTED)
        suite = ET.SubElement(
            root,
            "testsuite",
            name=section,
            tests=str(len(items)),
            failures=str(failures),
            errors=str(errors),
            skipped=str(skipped),
            time=f"{sum(r.duration for r in items):.3f}",
        )
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="target", value=target)
        for r in items:
            tc = ET.SubElement(
                suite,
                "testcase",
                classname=f"conformance.{section}",
                name=r.name,
                time=f"{r.duration:.3f}",
            )
            detail = f"{r.message}\nexpected: {r.expected}\nactual: {r.actual}\n" + (
                f"requirements: {', '.join(r.requirements)} ({r.level})"
            )
            if r.outcome in (Outcome.FAIL, Outcome.CLOSED, Outcome.TIMEOUT):
                el = ET.SubElement(tc, "failure", type=r.outcome.value, message=r.message[:200])
                el.text = detail
            elif r.outcome == Outcome.ERROR:
                el = ET.SubElement(tc, "error", type="suite-error", message=r.message[:200])
                el.text = detail
            elif r.outcome == Outcome.UNSUPPORTED:
                ET.SubElement(tc, "skipped", message=r.message[:200])
            if r.wire_log and r.outcome.is_failure:
                ET.SubElement(tc, "system-out").text = "\n".join(r.wire_log)
    ET.indent(root)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data


def write_junit(path: Path, results: list[CaseResult], elapsed: float, target: str) -> None:
    path.write_bytes(junit_xml(results, elapsed, target))


def write_json(
    path: Path, results: list[CaseResult], elapsed: float, target: str, exit_code: int
) -> None:
    doc = {
        "target": target,
        "elapsed": round(elapsed, 3),
        "exit_code": exit_code,
        "summary": {o.value: sum(1 for r in results if r.outcome == o) for o in COLUMNS},
        "results": [r.to_json() for r in results],
        "requirements": {
            rid: [{"case": c.name, "outcome": c.outcome.value} for c in cases]
            for rid, cases in by_requirement(results).items()
        },
        "spec_links": {rid: spec_link(rid) for rid in by_requirement(results)},
    }
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
