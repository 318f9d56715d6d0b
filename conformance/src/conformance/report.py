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


def failure_details(results: list[CaseResult]) -> str:
    lines = []
    for r in results:
        if not r.outcome.is_failure:
            continue
        lines.append(f"{r.outcome.value.upper()}: {r.name} [{', '.join(r.requirements)}]")
        lines.append(f"    {r.message}")
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
    return "\n".join(lines)


def summary_line(results: list[CaseResult], elapsed: float) -> str:
    counts = {o: sum(1 for r in results if r.outcome == o) for o in COLUMNS}
    parts = [f"{counts[o]} {o.value}" for o in COLUMNS if counts[o] or o == Outcome.PASS]
    failed = sum(1 for r in results if r.outcome.is_failure)
    verdict = "FAILED" if failed else "OK"
    return f"{verdict}: {len(results)} cases, " + ", ".join(parts) + f" in {elapsed:.1f}s"


def print_report(results: list[CaseResult], elapsed: float, out: TextIO) -> None:
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
    }
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
