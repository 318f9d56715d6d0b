"""Declarative expectations: what a case waits for, in a form a replay file can store.

Every read a case does goes through one of these, so a failure's replay file holds the exact
byte writes *and* what was expected after each, and re-checks both without the case's code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from conformance.frames import HARMLESS


@dataclass(frozen=True)
class ExpectMessage:
    """The next meaningful frame is one of `types` with these field values.

    Frames named in `skip` (keepalive, have, peers, choke/unchoke...) may come first: the spec
    lets a target send them at any time, so they are never a failure (h2spec issue 126).
    """

    types: tuple[str, ...]
    fields: tuple[tuple[str, Any], ...] = ()
    skip: tuple[str, ...] = HARMLESS

    def describe(self) -> str:
        what = " or ".join(self.types)
        if self.fields:
            what += "(" + ", ".join(f"{k}={v}" for k, v in self.fields) + ")"
        return what

    def matches(self, name: str, fields: dict[str, Any]) -> bool:
        return name in self.types and all(fields.get(k) == v for k, v in self.fields)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "message",
            "types": list(self.types),
            "fields": dict(self.fields),
            "skip": list(self.skip),
        }


@dataclass(frozen=True)
class ExpectClose:
    """The target closes the connection, after an `error` frame with one of `codes`.

    `codes` None accepts any code. `error_required` False accepts a bare close: used where the
    kernel may discard a sent error frame (a reset after unread bytes) or the spec allows it.
    Other frames before the error are allowed (replies that were already in flight).
    """

    codes: tuple[int, ...] | None
    error_required: bool = True

    def describe(self) -> str:
        if self.codes is None:
            err = "error"
        else:
            from p2pshare_core.errors import ErrorCode

            err = "error(" + "|".join(_code_name(c, ErrorCode) for c in self.codes) + ")"
        return f"{err} then close" if self.error_required else f"close (optionally after {err})"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "close",
            "codes": None if self.codes is None else list(self.codes),
            "error_required": self.error_required,
        }


@dataclass(frozen=True)
class ExpectOpen:
    """The connection stays open (no error, no close) for `seconds`; other frames are fine."""

    seconds: float

    def describe(self) -> str:
        return f"connection stays open for {self.seconds:g}s"

    def to_json(self) -> dict[str, Any]:
        return {"kind": "open", "seconds": self.seconds}


Expectation = ExpectMessage | ExpectClose | ExpectOpen


def _code_name(code: int, enum: Any) -> str:
    try:
        return str(enum(code).name)
    except ValueError:
        return str(code)


def expectation_from_json(data: dict[str, Any]) -> Expectation:
    kind = data.get("kind")
    if kind == "message":
        return ExpectMessage(
            types=tuple(data["types"]),
            fields=tuple(sorted(dict(data.get("fields", {})).items())),
            skip=tuple(data.get("skip", HARMLESS)),
        )
    if kind == "close":
        codes = data.get("codes")
        return ExpectClose(
            codes=None if codes is None else tuple(int(c) for c in codes),
            error_required=bool(data.get("error_required", True)),
        )
    if kind == "open":
        return ExpectOpen(seconds=float(data["seconds"]))
    raise ValueError(f"unknown expectation kind {kind!r}")
