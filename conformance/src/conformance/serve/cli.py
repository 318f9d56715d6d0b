"""`python -m conformance serve`: play a swarm, print a link, judge the downloader."""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from conformance.outcomes import CaseResult, CaseStop, Outcome
from conformance.registry import all_cases
from conformance.report import print_report, result_line, write_json, write_junit
from conformance.selection import select, split_patterns
from conformance.serve.swarm import (
    ROLES,
    SCENARIOS,
    FakeSwarm,
    GeneratedShare,
    Observation,
    generate_share,
    scenario_size,
)
from conformance.serve.trees import honest_tree


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m conformance serve",
        description="Serve a generated share from a small fake swarm (a good entry peer plus "
        "peers that send corrupt data, reject requests, go silent, or must not be dialed), "
        "print the link to give your downloader, then check what the downloader did.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback)")
    p.add_argument("--port", type=int, default=0, help="entry peer's port (default: any free)")
    p.add_argument("--size", type=int, default=1 << 20, help="file size in bytes (default 1 MiB)")
    p.add_argument("--piece-size", type=int, default=16_384, help="piece size (default 16 KiB)")
    p.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        help="seconds to wait for the download to complete (default 120)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed for the generated file")
    p.add_argument(
        "--scenario",
        choices=SCENARIOS,
        default="swarm",
        help="swarm (default): download from the fake swarm; wrong-link: the link "
        "names another share ID, the downloader must refuse (LINK-6); unsafe-name: a bare "
        "HOST:PORT link whose peer's handshake names ../escape.bin (HS-10); tree: the "
        "swarm serves a folder (TREE); tree-*: a hostile folder the downloader must refuse; "
        "request-limit: a share of 1024 pieces whose one peer answers no request, to see the "
        "downloader's request limit (MSG-5); bad-metainfo: the entry peer serves a "
        "metainfo that does not hash to the share ID (META-14); late-replies: the entry "
        "peer answers each request a second after --request-timeout (MSG-21); early-dial: a "
        "peer dials --downloader-port before the downloader can know the share (HS-19)",
    )
    p.add_argument(
        "--request-timeout",
        type=float,
        default=30.0,
        metavar="S",
        help="the downloader's REQUEST_TIMEOUT (default 30; start it with a short one): with "
        "--scenario late-replies every reply comes a second after it",
    )
    p.add_argument(
        "--downloader-port",
        type=int,
        metavar="P",
        help="the port your downloader listens on (start it with that port): with --scenario "
        "early-dial a fake peer dials it before the downloader can know the share",
    )
    p.add_argument("--strict", action="store_true", help="also judge SHOULD cases")
    p.add_argument("--select", action="append", default=[], metavar="PATTERN")
    p.add_argument("--exclude", action="append", default=[], metavar="PATTERN")
    p.add_argument("--junit-xml", type=Path, metavar="PATH")
    p.add_argument("--json", type=Path, metavar="PATH")
    return p


def judge(
    obs: Observation,
    *,
    strict: bool,
    include: list[str] | None = None,
    exclude: list[str] | None = None,
) -> list[CaseResult]:
    """Run the serve cases over an observation."""
    cases = [c for c in all_cases() if c.kind == "serve"]
    results = []
    for c in select(cases, include=include or [], exclude=exclude or [], strict=strict):
        result = CaseResult(c.name, c.section, c.requirements, c.level, Outcome.PASS)
        started = time.monotonic()
        try:
            c.func(obs)
        except CaseStop as stop:
            result.outcome = stop.outcome
            result.message, result.expected, result.actual = (
                stop.message,
                stop.expected,
                stop.actual,
            )
        except Exception as exc:  # a bug in the suite
            result.outcome = Outcome.ERROR
            result.message = f"suite error: {exc!r}"
            result.actual = traceback.format_exc(limit=4)
        result.duration = time.monotonic() - started
        results.append(result)
    return results


def run_serve(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    size: int = 1 << 20,
    piece_size: int = 16_384,
    seed: int = 0,
    timeout: float = 120.0,
    on_link: Callable[[str], None] | None = None,
    scenario: str = "swarm",
    request_timeout: float = 30.0,
    downloader_port: int | None = None,
) -> Observation:
    """Start the swarm, hand the link to `on_link`, wait for completion, stop, return."""
    if scenario == "tree":
        meta, whole = honest_tree(size, piece_size, seed)
        share = GeneratedShare(whole, meta)
    else:
        share = generate_share(scenario_size(scenario, size, piece_size), piece_size, seed)
    swarm = FakeSwarm(
        share,
        host=host,
        entry_port=port,
        scenario=scenario,
        request_timeout=request_timeout,
        downloader_port=downloader_port,
    )
    swarm.start()
    try:
        if on_link is not None:
            on_link(swarm.link)
        swarm.wait_complete(timeout)
    finally:
        swarm.stop()
    return swarm.obs


def serve_main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)

    def announce(link: str) -> None:
        print(
            f"serving a {args.size}-byte share from {len(ROLES)} fake peers; point your "
            "downloader at:\n"
            f"  {link}\n"
            f"for example:  p2pshare get {link} -o EMPTY_DIR\n"
            "(keep it running after it completes: fake peers download pieces back)\n"
            f"waiting up to {args.timeout:g}s for every piece to be announced...",
            flush=True,
        )

    started = time.monotonic()
    obs = run_serve(
        host=args.host,
        port=args.port,
        size=args.size,
        piece_size=args.piece_size,
        scenario=args.scenario,
        request_timeout=args.request_timeout,
        downloader_port=args.downloader_port,
        seed=args.seed,
        timeout=args.timeout,
        on_link=announce,
    )
    results = judge(
        obs,
        strict=args.strict,
        include=split_patterns(args.select),
        exclude=split_patterns(args.exclude),
    )
    for r in results:
        print(result_line(r))
    elapsed = time.monotonic() - started
    print_report(results, elapsed, sys.stdout)
    code = 1 if any(r.outcome.is_failure for r in results) else 0
    if args.junit_xml:
        write_junit(args.junit_xml, results, elapsed, "serve")
    if args.json:
        write_json(args.json, results, elapsed, "serve", code)
    return code
