"""Replay files: the exact byte writes of a failed case and what was expected after each.

A replay re-sends the same bytes in the same TCP writes (with the same pauses) and re-checks
the recorded expectations, without the case's code: the file is the whole reproduction, and
it can be attached to a bug report against any implementation.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conformance.expect import expectation_from_json
from conformance.outcomes import CaseResult, CaseStop, Outcome
from conformance.wire import Trace, Wire

if TYPE_CHECKING:
    from conformance.context import Options
    from conformance.registry import Case

FORMAT = "p2pshare-conformance-replay/1"


def save_replay(
    directory: Path, case: Case, opts: Options, result: CaseResult, trace: Trace
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / (re.sub(r"[^A-Za-z0-9_.-]+", "_", case.name) + ".json")
    doc = {
        "format": FORMAT,
        "case": case.name,
        "requirements": list(case.requirements),
        "target": f"{opts.host}:{opts.port}",
        "seed": opts.seed,
        "outcome": result.outcome.value,
        "message": result.message,
        "expected": result.expected,
        "actual": result.actual,
        "steps": trace.steps,
    }
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return path


def load_replay(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if doc.get("format") != FORMAT:
        raise ValueError(f"{path}: not a replay file (format {doc.get('format')!r})")
    return doc


def run_replay(
    doc: dict[str, Any], host: str, port: int, *, timeout: float, verbose: bool = False
) -> CaseResult:
    """Re-send the recorded writes and re-check the recorded expectations."""
    trace = Trace(verbose=verbose)
    wires: dict[int, Wire] = {}
    result = CaseResult(
        name=f"replay:{doc['case']}",
        section="replay",
        requirements=tuple(doc.get("requirements", ())),
        level="MUST",
        outcome=Outcome.PASS,
    )
    started = time.monotonic()
    try:
        for step in doc["steps"]:
            op = step["op"]
            n = int(step.get("conn", 0))
            if op == "connect":
                wires[n] = Wire(host, port, trace=trace, number=n, timeout=timeout)
            elif op == "write":
                wires[n].write(bytes.fromhex(step["hex"]), delay=float(step.get("delay", 0.0)))
            elif op == "shutdown":
                wires[n].shutdown_write()
            elif op == "close":
                wires[n].close()
            elif op == "expect":
                wires[n].expect(expectation_from_json(step["expect"]))
    except CaseStop as stop:
        result.outcome = stop.outcome
        result.message, result.expected, result.actual = stop.message, stop.expected, stop.actual
    finally:
        for wire in wires.values():
            wire.close()
    result.duration = time.monotonic() - started
    result.wire_log = trace.log
    return result
