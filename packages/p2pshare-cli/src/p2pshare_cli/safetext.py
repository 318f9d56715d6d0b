"""Text from peers, made safe to show on a terminal or in a log ([SEC-4]).

A peer chooses its error reasons (up to 1 KiB) and a share's name; printed raw, an escape
sequence in them could retitle the terminal, move the cursor or forge a "Completed" line, and a
carriage return or newline could overwrite or fake output. Every string that came from a peer
passes through `printable` before it is shown: printable characters stay, everything else
(C0 and C1 controls, DEL, line and paragraph separators, bidirectional overrides and other
format characters) is shown as a Python-style escape, and the result is cut to a length that
fits a line. JSON output needs none of this (json.dumps escapes everything outside ASCII).
"""

from __future__ import annotations

import dataclasses
from typing import TypeVar

from p2pshare_node import events as ev

MAX_SHOWN = 200
"""Characters of one peer-supplied string shown at most (an ellipsis marks the cut)."""

E = TypeVar("E", bound=ev.NodeEvent)


def printable(text: str, limit: int = MAX_SHOWN) -> str:
    """`text` with every non-printable character escaped, at most `limit` characters."""
    if text.isprintable() and len(text) <= limit:
        return text
    out: list[str] = []
    size = 0
    for char in text:
        if char.isprintable():
            piece = char
        else:
            code = ord(char)
            piece = f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
            if code > 0xFFFF:
                piece = f"\\U{code:08x}"
        if size + len(piece) > limit - 1:
            out.append("…")
            break
        out.append(piece)
        size += len(piece)
    return "".join(out)


def sanitized(event: E) -> E:
    """A copy of `event` whose text fields (and tuples of text) are `printable`."""
    changes: dict[str, object] = {}
    for field in dataclasses.fields(event):
        value = getattr(event, field.name)
        if isinstance(value, str):
            safe = printable(value)
            if safe is not value:
                changes[field.name] = safe
        elif isinstance(value, tuple) and all(isinstance(item, str) for item in value):
            changes[field.name] = tuple(printable(item) for item in value)
    if not changes:
        return event
    copy = dataclasses.replace(event, **changes)  # type: ignore[arg-type]
    object.__setattr__(copy, "time", event.time)
    return copy
