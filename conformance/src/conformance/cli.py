"""`python -m conformance`: argument parsing and exit codes.

Exit codes: 0 every selected MUST case passed (or was unsupported); 1 at least one case
failed, closed, timed out or hit a suite error; 2 bad usage; 3 the target could not be tested
at all (no connection, no handshake, wrong share).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from p2pshare_core.link import parse_link

from conformance import coverage
from conformance.context import Options
from conformance.discover import TargetUnusable, discover
from conformance.registry import wire_cases
from conformance.replay import load_replay, run_replay
from conformance.report import print_report, result_line, write_json, write_junit
from conformance.requirements import load_requirements
from conformance.runner import run_all
from conformance.selection import select, split_patterns

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_UNUSABLE = 0, 1, 2, 3


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m conformance",
        description="Test a running p2pshare implementation against spec/protocol.md. "
        "Use `python -m conformance serve --help` to test a downloader instead.",
    )
    p.add_argument("--target", help="HOST:PORT or p2pshare:// link of a node serving a share")
    p.add_argument("--share", help="share ID (hex) the target must serve")
    p.add_argument(
        "--select",
        action="append",
        default=[],
        metavar="PATTERN",
        help="run only cases matching a case name, section or requirement ID "
        "(glob; repeatable, comma-separated)",
    )
    p.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="PATTERN",
        help="skip cases matching PATTERN (same syntax as --select)",
    )
    p.add_argument("--strict", action="store_true", help="also run SHOULD cases")
    p.add_argument(
        "--timeout",
        type=float,
        default=3.0,
        help="seconds to wait for each expected reply (default 3)",
    )
    p.add_argument(
        "--max-examples",
        type=int,
        default=25,
        help="Hypothesis examples for the model case (default 25)",
    )
    p.add_argument("--seed", type=int, default=None, help="seed for generated data and Hypothesis")
    p.add_argument("--junit-xml", type=Path, metavar="PATH", help="write a JUnit XML report")
    p.add_argument("--json", type=Path, metavar="PATH", help="write a JSON report")
    p.add_argument(
        "--replay",
        type=Path,
        metavar="FILE",
        help="re-send a saved failure's exact bytes and re-check its expectations",
    )
    p.add_argument(
        "--replay-dir",
        default="conformance-failures",
        metavar="DIR",
        help="where failures are saved as replay files (default ./conformance-failures)",
    )
    p.add_argument(
        "--connection-limit",
        type=int,
        metavar="N",
        help="the target's configured connection limit (DUP-7): fail it if it serves more",
    )
    p.add_argument(
        "--idle-timeout",
        type=float,
        metavar="S",
        help="the target's IDLE_TIMEOUT setting: run the FRAME-10 case (--strict) with it",
    )
    p.add_argument(
        "--keepalive-interval",
        type=float,
        metavar="S",
        help="the target's KEEPALIVE_INTERVAL setting: run the FRAME-9 case (--strict) with it",
    )
    p.add_argument(
        "--upload-rate",
        type=int,
        metavar="BYTES",
        help="the target's upload limit in bytes/s (start it with a small one): requests wait "
        "in its queue, so the MSG-5 and MSG-6 cases can make them outstanding",
    )
    p.add_argument("--spec", type=Path, help="spec/protocol.md to read requirements from")
    p.add_argument("-v", "--verbose", action="store_true", help="print the wire log as it happens")
    p.add_argument(
        "--list",
        action="store_true",
        help="print the requirement -> case matrix and the case list, then exit",
    )
    return p


def print_list(spec: Path | None, strict: bool) -> int:
    cases = wire_cases()
    from conformance.registry import all_cases

    reqs = load_requirements(spec)
    if reqs:
        print(coverage.render(coverage.compute(reqs, all_cases())))
        print()
    else:
        print("(spec/protocol.md not found: pass --spec to see the coverage matrix)\n")
    for c in all_cases():
        flag = "" if c.level == "MUST" else "  (SHOULD: --strict)"
        print(f"{c.name:<50} {c.kind:<9} [{', '.join(c.requirements)}]{flag}")
    del cases, strict
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "serve":
        from conformance.serve.cli import serve_main

        return serve_main(argv[1:])
    args = build_parser().parse_args(argv)
    if args.list:
        return print_list(args.spec, args.strict)
    if not args.target:
        print("error: --target HOST:PORT is required (or --list)", file=sys.stderr)
        return EXIT_USAGE
    try:
        link = parse_link(args.target)
        share = bytes.fromhex(args.share) if args.share else link.share_id
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    opts = Options(
        host=link.host,
        port=link.port,
        timeout=args.timeout,
        max_examples=args.max_examples,
        seed=args.seed,
        share=share,
        strict=args.strict,
        verbose=args.verbose,
        replay_dir=args.replay_dir,
        connection_limit=args.connection_limit,
        idle_timeout=args.idle_timeout,
        keepalive_interval=args.keepalive_interval,
        upload_rate=args.upload_rate,
    )
    if args.replay:
        return replay_main(args.replay, opts)
    cases = select(
        wire_cases(),
        include=split_patterns(args.select),
        exclude=split_patterns(args.exclude),
        strict=args.strict,
    )
    if not cases:
        print("error: no case matches the selection", file=sys.stderr)
        return EXIT_USAGE
    started = time.monotonic()
    try:
        target = discover(opts)
    except TargetUnusable as exc:
        print(f"target {opts.host}:{opts.port} cannot be tested: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    print(
        f"target {opts.host}:{opts.port}: share {target.share_id.hex()} "
        f"({target.summary.name!r}, {target.summary.file_size} bytes, "
        f"{target.piece_count} pieces); running {len(cases)} cases"
    )
    if target.metainfo_error:
        print(f"  note: metainfo unavailable ({target.metainfo_error}); hash checks unsupported")

    def show(result: object) -> None:
        from conformance.outcomes import CaseResult

        assert isinstance(result, CaseResult)
        print(result_line(result), flush=True)
        if args.verbose and result.outcome.is_failure:
            pass

    results = run_all(cases, opts, target, on_result=show)
    elapsed = time.monotonic() - started
    print_report(results, elapsed, sys.stdout)
    code = EXIT_FAIL if any(r.outcome.is_failure for r in results) else EXIT_OK
    where = f"{opts.host}:{opts.port}"
    if args.junit_xml:
        write_junit(args.junit_xml, results, elapsed, where)
    if args.json:
        write_json(args.json, results, elapsed, where, code)
    return code


def replay_main(path: Path, opts: Options) -> int:
    try:
        doc = load_replay(path)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"replaying {doc['case']} ({len(doc['steps'])} steps) against {opts.host}:{opts.port}")
    print(f"  recorded: {doc['outcome']}: {doc['message']}")
    result = run_replay(doc, opts.host, opts.port, timeout=opts.timeout, verbose=True)
    print(result_line(result))
    if result.outcome.is_failure:
        print(f"  {result.message}\n  expected: {result.expected}\n  actual:   {result.actual}")
        return EXIT_FAIL
    print("  the recorded expectations hold now")
    return EXIT_OK
