"""Choosing cases: --select/--exclude by case name, section or requirement ID; --strict."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable

from conformance.registry import Case


def matches(case: Case, pattern: str) -> bool:
    """True if `pattern` names this case, its section or one of its requirement IDs.

    Patterns are shell globs ("transfer/*", "FRAME-*"); a bare case name ("starts-choked"),
    a section ("transfer") or a requirement ID ("MSG-3") matches exactly.
    """
    pat = pattern.strip()
    if not pat:
        return False
    names = [case.name, case.name.split("/", 1)[-1], case.section, *case.requirements]
    for name in names:
        if fnmatch.fnmatchcase(name, pat) or name == pat:
            return True
        if fnmatch.fnmatchcase(name.lower(), pat.lower()):
            return True
    return case.name.startswith(pat.rstrip("/") + "/")


def split_patterns(values: Iterable[str]) -> list[str]:
    """Accept repeated options and comma-separated lists alike."""
    return [p for v in values for p in v.split(",") if p.strip()]


def select(
    cases: list[Case], *, include: list[str], exclude: list[str], strict: bool
) -> list[Case]:
    """The cases to run, in catalogue order. SHOULD cases run only with --strict."""
    chosen = []
    for c in cases:
        if c.level == "SHOULD" and not strict:
            continue
        if include and not any(matches(c, p) for p in include):
            continue
        if any(matches(c, p) for p in exclude):
            continue
        chosen.append(c)
    return chosen
