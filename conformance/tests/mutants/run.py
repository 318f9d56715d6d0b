"""The mutation harness: run the conformance suite against every mutant of the reference node.

    python conformance/tests/mutants/run.py            # every mutant, the whole suite each
    python conformance/tests/mutants/run.py --quick    # the CI subset
    python conformance/tests/mutants/run.py --only NAME [--only NAME ...]

A real mutant is *caught* when the suite, run on the cases citing the requirements it breaks,
fails with at least one case citing one of them (in its requirement list or expected text); a
benign variation runs the whole suite and is a *false alarm* when any case fails. The report
gives the catch rate per spec section.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from catalogue import MUTANTS, Mutant  # noqa: E402

REPO = HERE.parents[2]
PYTHON = sys.executable
LINK = re.compile(r"p2pshare://\S+")
REFERENCE_LIMIT = "50"  # the reference's MAX_CONNECTIONS, told to the suite (DUP-7)
UNLIMITED = 1_000_000  # the max_connections of the mutant without a limit


@dataclass
class Verdict:
    mutant: Mutant
    caught: bool  # real: failed, citing the requirement; benign: passed
    detail: str
    seconds: float


def start_node(mutant: Mutant, share: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [
            PYTHON,
            str(HERE / "launch.py"),
            mutant.name,
            "share",
            str(share),
            "--port",
            "0",
            "--max-per-host",
            "100",
            "--host",
            "127.0.0.1",
        ],  # --max-per-host: the suite connects from one address (SEC-6); --host: loopback only
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 20
    lines = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        found = LINK.search(line)
        if found:
            return proc, found.group(0)
    stop(proc)
    raise RuntimeError(f"{mutant.name}: no link printed:\n" + "".join(lines))


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    if proc.stdout:
        proc.stdout.close()


def run_suite(mutant: Mutant, link: str, workdir: Path) -> tuple[int, dict, str]:
    report = workdir / f"{mutant.name}.json"
    args = [
        PYTHON, "-m", "conformance", "--target", link, "--seed", "7", "--timeout", "1.5",
        "--json", str(report), "--replay-dir", "", *mutant.suite_args,
    ]  # fmt: skip
    if mutant.tunables.get("max_connections", UNLIMITED) == UNLIMITED:
        args += ["--connection-limit", REFERENCE_LIMIT]  # the reference's own, or a lie about it
    if mutant.breaks and "--select" not in mutant.suite_args:
        # A catch must come from a case citing the broken requirement, so only those run;
        # benign variations run the whole suite (a false alarm can come from any case).
        args += ["--select", ",".join(mutant.breaks)]
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=240, cwd=REPO)
    except subprocess.TimeoutExpired as exc:
        return -1, {"results": []}, f"suite run timed out after {exc.timeout:g}s"
    doc = json.loads(report.read_text()) if report.exists() else {"results": []}
    return proc.returncode, doc, proc.stdout[-3000:] + proc.stderr[-2000:]


def judge(mutant: Mutant, code: int, doc: dict, output: str) -> tuple[bool, str]:
    failures = [r for r in doc["results"] if r["outcome"] in ("fail", "closed", "timeout", "error")]
    if not mutant.breaks:
        if code == 0 and not failures:
            return True, "passed"
        first = failures[0] if failures else None
        what = f"{first['name']}: {first['message']}" if first else output.strip()[-300:]
        return False, f"FALSE ALARM ({len(failures)} failing): {what}"
    if code == 0:
        return False, "MISSED: the suite passed"
    citing = [
        r["name"]
        for r in failures
        if any(rid in r["requirements"] or f"{rid}]" in r["expected"] or f"{rid}," in r["expected"]
               for rid in mutant.breaks)
    ]  # fmt: skip
    if citing:
        return True, f"caught by {', '.join(citing[:4])}" + (" ..." if len(citing) > 4 else "")
    if not doc["results"]:
        cites = any(rid in output for rid in mutant.breaks)
        return cites, ("caught before any case (target unusable): " if cites else "MISSED: ") + (
            output.strip().splitlines() or [""]
        )[-1][:200]
    names = ", ".join(r["name"] for r in failures[:3])
    return False, f"MISSED: {len(failures)} failing cases, none citing {mutant.breaks}: {names}"


def run_get(mutant: Mutant, workdir: Path) -> tuple[int, dict, str]:
    """A downloader mutant against the serve swarm; the serve cases judge it (strict)."""
    from conformance.serve.cli import judge as judge_serve
    from conformance.serve.cli import run_serve

    procs: list[subprocess.Popen[bytes]] = []
    port = free_port() if mutant.scenario == "early-dial" else None

    def launch(link: str) -> None:
        out = workdir / f"{mutant.name}-dl"
        out.mkdir()
        command = [PYTHON, str(HERE / "launch.py"), mutant.name, "get", link, "-o", str(out)]
        command += ["--host", "127.0.0.1"]  # loopback only: no LAN announces, a local link
        if port is not None:
            command += ["--port", str(port)]
        procs.append(
            subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        )

    try:
        obs = run_serve(
            size=512 * 1024,
            timeout=20,
            on_link=launch,
            scenario=mutant.scenario,
            request_timeout=mutant.tunables.get("request_timeout", 30.0),
            downloader_port=port,
        )
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
            proc.wait(10)
    results = [r.to_json() for r in judge_serve(obs, strict=True)]
    failed = any(r["outcome"] in ("fail", "closed", "timeout", "error") for r in results)
    return (1 if failed else 0), {"results": results}, ""


def free_port() -> int:
    """A loopback port nobody listens on now (the downloader takes it a moment later)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_one(mutant: Mutant, share: Path, workdir: Path) -> Verdict:
    started = time.monotonic()
    if mutant.mode == "get":
        caught, detail = judge(mutant, *run_get(mutant, workdir))
        return Verdict(mutant, caught, detail, time.monotonic() - started)
    proc, link = start_node(mutant, share)
    try:
        code, doc, output = run_suite(mutant, link, workdir)
    finally:
        stop(proc)
    caught, detail = judge(mutant, code, doc, output)
    return Verdict(mutant, caught, detail, time.monotonic() - started)


def unbroken_musts() -> list[str]:
    """MUSTs a peer can observe (not exempt) that no mutant of the catalogue breaks."""
    from conformance.exemptions import EXEMPT
    from conformance.requirements import load_requirements

    broken = {rid for m in MUTANTS for rid in m.breaks}
    reqs = load_requirements(REPO / "spec" / "protocol.md")
    return [
        rid
        for rid, r in reqs.items()
        if r.level == "MUST" and rid not in EXEMPT and rid not in broken
    ]


def report(verdicts: list[Verdict]) -> str:
    lines = []
    sections: dict[str, list[Verdict]] = {}
    for v in verdicts:
        sections.setdefault(v.mutant.section, []).append(v)
        mark = "ok  " if v.caught else "FAIL"
        lines.append(f"  {mark} {v.mutant.name:<40} {v.seconds:5.1f}s  {v.detail}")
    lines.append("")
    lines.append(f"{'section':<10} {'mutants':>8} {'caught':>8} {'rate':>7}")
    for name, items in sorted(sections.items(), key=lambda kv: kv[0] == "benign"):
        ok = sum(v.caught for v in items)
        if name == "benign":
            lines.append(
                f"{'benign':<10} {len(items):>8} {ok:>8}   false alarms: {len(items) - ok}"
            )
        else:
            lines.append(f"{name:<10} {len(items):>8} {ok:>8} {100 * ok / len(items):>6.0f}%")
    real = [v for v in verdicts if v.mutant.breaks]
    if real:
        lines.append(f"MUSTs seen on the wire without a mutant: {', '.join(unbroken_musts())}")
        caught = sum(v.caught for v in real)
        lines.append(
            f"{'all real':<10} {len(real):>8} {caught:>8} {100 * caught / len(real):>6.0f}%"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="only the CI subset of the mutants")
    p.add_argument("--only", action="append", default=[], metavar="NAME")
    args = p.parse_args(argv)
    chosen = [m for m in MUTANTS if (not args.only or m.name in args.only)]
    if args.quick:
        chosen = [m for m in chosen if m.quick]
    verdicts = []
    with tempfile.TemporaryDirectory(prefix="p2pshare-mutants-") as tmp:
        work = Path(tmp)
        share = work / "shared.bin"
        share.write_bytes(bytes((i * 31 + i // 997) % 256 for i in range(300_000)))
        for m in chosen:
            v = run_one(m, share, work)
            print(f"  {'ok  ' if v.caught else 'FAIL'} {m.name:<40} {v.seconds:5.1f}s  {v.detail}",
                  flush=True)  # fmt: skip
            verdicts.append(v)
    print()
    print(report(verdicts))
    return 0 if all(v.caught for v in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
