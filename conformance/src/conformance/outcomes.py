"""Case outcomes and the exceptions cases raise to report them.

Five outcomes, as h2spec and Autobahn taught users to expect: a wrong reply (`fail`) is a
different finding from the target hanging up (`closed`) or never answering (`timeout`), and a
feature the target does not offer is `unsupported`, not a failure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    CLOSED = "closed"
    TIMEOUT = "timeout"
    UNSUPPORTED = "unsupported"
    ERROR = "error"  # the suite itself crashed: a bug in the suite, reported loudly

    @property
    def is_failure(self) -> bool:
        return self in (Outcome.FAIL, Outcome.CLOSED, Outcome.TIMEOUT, Outcome.ERROR)


class CaseStop(Exception):
    """Base: ends a case with an outcome other than pass."""

    outcome: Outcome = Outcome.FAIL

    def __init__(self, message: str, *, expected: str = "", actual: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.expected = expected
        self.actual = actual


class Fail(CaseStop):
    """The target answered, but wrongly."""

    outcome = Outcome.FAIL


class Closed(CaseStop):
    """The target closed the connection where the spec wants an answer."""

    outcome = Outcome.CLOSED


class Timeout(CaseStop):
    """Nothing arrived before the deadline."""

    outcome = Outcome.TIMEOUT


class Unsupported(CaseStop):
    """The target does not offer what the case needs (e.g. has no piece to serve)."""

    outcome = Outcome.UNSUPPORTED


@dataclass
class CaseResult:
    """What one case did: the verdict plus enough detail to act on it."""

    name: str
    section: str
    requirements: tuple[str, ...]
    level: str
    outcome: Outcome
    message: str = ""
    expected: str = ""
    actual: str = ""
    duration: float = 0.0
    wire_log: list[str] = field(default_factory=list)
    replay_path: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "section": self.section,
            "requirements": list(self.requirements),
            "level": self.level,
            "outcome": self.outcome.value,
            "message": self.message,
            "expected": self.expected,
            "actual": self.actual,
            "duration": round(self.duration, 4),
            "replay": self.replay_path,
            "wire_log": self.wire_log,
        }
