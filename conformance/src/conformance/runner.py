"""Run cases one by one against a target, each on fresh connections, and collect results."""

from __future__ import annotations

import dataclasses
import random
import time
import traceback
import zlib
from collections.abc import Callable
from pathlib import Path

from conformance import craft
from conformance.context import CaseContext, Options, TargetInfo
from conformance.outcomes import CaseResult, CaseStop, Outcome
from conformance.registry import Case
from conformance.replay import save_replay
from conformance.session import Session, check_piece_hash, open_session
from conformance.wire import Trace


def case_seed(opts: Options, name: str) -> int:
    """A per-case seed: stable for one --seed, different between cases."""
    return (opts.seed or 0) ^ zlib.crc32(name.encode())


def run_case(case: Case, opts: Options, target: TargetInfo) -> CaseResult:
    """Run one case and, for hostile ones, check the target still serves afterwards."""
    trace = Trace(verbose=opts.verbose)
    ctx = CaseContext(
        opts=opts, target=target, rng=random.Random(case_seed(opts, case.name)), trace=trace
    )
    started = time.monotonic()
    result = CaseResult(case.name, case.section, case.requirements, case.level, Outcome.PASS)
    try:
        case.func(ctx)
    except CaseStop as stop:
        result.outcome = stop.outcome
        result.message, result.expected, result.actual = stop.message, stop.expected, stop.actual
    except Exception as exc:  # a bug in the suite, not in the target: say so loudly
        result.outcome = Outcome.ERROR
        result.message = f"suite error: {exc!r}"
        result.actual = traceback.format_exc(limit=6)
    finally:
        ctx.close_all()
    if case.health_check and result.outcome in (Outcome.PASS, Outcome.UNSUPPORTED):
        problem = health_check(opts, target)
        if problem:
            result.outcome = Outcome.FAIL
            result.message = f"target unhealthy after this case: {problem}"
            result.expected = "a fresh connection is accepted and served"
            result.actual = problem
    result.duration = time.monotonic() - started
    result.wire_log = trace.log
    ctx.trace.steps.append({"op": "end"})
    replay_dir = opts_replay_dir(opts)
    if result.outcome.is_failure and replay_dir is not None:
        result.replay_path = str(save_replay(replay_dir, case, opts, result, trace))
    return result


def opts_replay_dir(opts: Options) -> Path | None:
    return Path(opts.replay_dir) if opts.replay_dir else None


def health_check(opts: Options, target: TargetInfo) -> str | None:
    """None if a fresh connection gets a handshake and a correct block; else what went wrong."""
    if opts.upload_rate and target.pieces_held():
        # a throttled target may still be paying for a block the case made it send
        piece = target.summary.piece_length(target.pieces_held()[0])
        opts = dataclasses.replace(opts, timeout=opts.timeout + 2 * piece / opts.upload_rate)
    trace = Trace(verbose=opts.verbose)
    ctx = CaseContext(opts=opts, target=target, rng=random.Random(1), trace=trace)
    try:
        session = _open_with_backoff(ctx, opts)
        if target.metainfo is not None and target.pieces_held():
            index = target.pieces_held()[0]
            # Interested and the request at once, without waiting for an unchoke: a target
            # that chokes us proves it is alive by its reject (fetch_piece then says
            # unsupported), and one that never unchokes costs no timeout per hostile case.
            session.write(craft.interested())
            check_piece_hash(ctx, index, session.fetch_piece(index))
        return None
    except CaseStop as stop:
        if stop.outcome == Outcome.UNSUPPORTED:
            return None
        return f"{stop.outcome.value}: {stop.message} (expected {stop.expected}, got {stop.actual})"
    finally:
        ctx.close_all()


def _open_with_backoff(ctx: CaseContext, opts: Options) -> Session:
    """A session, redialing with backoff while the target refuses with TOO_MANY_CONNECTIONS:
    the connections the case just closed may still count for a moment (DUP-8)."""
    deadline = time.monotonic() + max(5.0, 2 * opts.timeout)
    delay = 0.05
    while True:
        try:
            return open_session(ctx)
        except CaseStop:
            last = ctx.last_frame()
            refused = last is not None and last.name == "error" and last.fields.get("code") == 17
            if not refused or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)
        delay *= 2


def run_all(
    cases: list[Case],
    opts: Options,
    target: TargetInfo,
    on_result: Callable[[CaseResult], None] | None = None,
) -> list[CaseResult]:
    results = []
    for case in cases:
        result = run_case(case, opts, target)
        results.append(result)
        if on_result:
            on_result(result)
    return results
