"""Frames explained field by field: the core's construct declarations split the bytes, the spec's
layout tables say what each field means (specdoc.py), and mermaid draws who sent what.

Nothing here knows a message layout: add a field to the codec and the spec, and every page that
shows bytes shows it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import specdoc

ERROR_ID = 0x0F
INLINE_BYTES = 32
# handshake fields left out of diagram labels (the tables show them): the rest fits on a line
SUMMARY_SKIPS = frozenset({"version", "peer_id", "share_id", "file_size", "piece_size"})
SUMMARY_SKIPS |= {
    "file_sha1",
    "summary",
}  # longer fields get a hex dump of their own below the table


@dataclass(frozen=True)
class Field:
    offset: int  # in the frame
    data: bytes
    name: str
    value: str  # markdown
    meaning: str  # from the spec


def field_rows(message_id: int, frame: bytes) -> list[tuple[int, bytes, str, str]]:
    """Split one frame into (offset, bytes, field, value) rows using the construct declaration."""
    from construct import Container
    from p2pshare_core.codec import PAYLOADS

    rows: list[tuple[int, bytes, str, str]] = [
        (0, frame[:4], "length", str(int.from_bytes(frame[:4], "big"))),
        (4, frame[4:5], "id", f"0x{message_id:02x}"),
    ]
    struct = PAYLOADS[message_id]
    stream = io.BytesIO(frame[5:])
    context = Container(_parsing=True, _building=False, _sizing=False, _params=Container())
    context._root = context
    for sub in struct.subcons:
        start = stream.tell()
        value = sub._parsereport(stream, context, "(docs)")
        end = stream.tell()
        if sub.name:
            context[sub.name] = value
        if end == start:
            continue
        rows.append((5 + start, frame[5 + start : 5 + end], sub.name or "", show(value)))
    return rows


def show(value: Any) -> str:
    if isinstance(value, bytes):
        text = value.hex()
        return f"`{text[:48]}…` ({len(value)} bytes)" if len(text) > 48 else f"`{text}`"
    if isinstance(value, list):
        return f"{len(value)} entries"
    return f"`{value}`"


def message_name(frame: bytes) -> str:
    from p2pshare_core.codec import MESSAGES

    if len(frame) == 4:
        return "keepalive"
    return MESSAGES[frame[4]].name


def message_name_or_none(frame: bytes) -> str | None:
    """The message a frame holds, or None: not a whole frame, or an unassigned id."""
    from p2pshare_core.codec import MESSAGES

    if len(frame) < 4 or (len(frame) > 4 and frame[4] not in MESSAGES):
        return None
    return message_name(frame)


def fields(frame: bytes) -> list[Field]:
    """Every field of one frame, with the spec's meaning of it."""
    header = specdoc.frame_meanings()
    if len(frame) == 4:
        return [Field(0, frame, "length", "`0`", "a keepalive: " + header[0])]
    meanings = _payload_meanings(frame[4])
    out = []
    for offset, data, name, value in field_rows(frame[4], frame):
        table = header if offset < 5 else {k + 5: v for k, v in meanings.items()}
        covered = [v for k, v in sorted(table.items()) if offset <= k < offset + len(data)]
        if name == "code" and frame[4] == ERROR_ID:
            value += f" (`{error_name(int.from_bytes(data, 'big'))}`)"
        out.append(Field(offset, data, name, value, "; ".join(covered)))
    return out


def _payload_meanings(message_id: int) -> dict[int, str]:
    """The spec's table for this id, or for the message whose layout it shares (reject and
    cancel are laid out as request: the codec declares them with the same construct)."""
    from p2pshare_core.codec import PAYLOADS

    meanings = specdoc.field_meanings(message_id)
    if meanings:
        return meanings
    for other, struct in sorted(PAYLOADS.items()):
        if struct is PAYLOADS[message_id] and specdoc.field_meanings(other):
            return specdoc.field_meanings(other)
    return {}


def table(frame: bytes) -> list[str]:
    """A markdown table of the frame's fields; long fields are dumped in full after it, in a
    collapsed block, so every byte is on the page without drowning the fields."""
    out = ["| offset | bytes | field | value | meaning (spec) |", "|---:|---|---|---|---|"]
    dumps = []
    for f in fields(frame):
        if len(f.data) <= INLINE_BYTES:
            shown = f"`{f.data.hex(' ')}`"
        else:
            shown = f"`{f.data[:8].hex(' ')} …` ({len(f.data)} bytes, below)"
            dumps += [
                f'??? example "`{f.name}`: all {len(f.data)} bytes (offset {f.offset})"',
                "    ```text",
                *("    " + line for line in hexdump(f.data, f.offset)),
                "    ```",
                "",
            ]
        out.append(f"| {f.offset} | {shown} | `{f.name}` | {f.value} | {f.meaning} |")
    return [*out, "", *dumps]


def hexdump(data: bytes, start: int = 0) -> list[str]:
    """Classic 16 bytes a line, frame offsets on the left, printable ASCII on the right."""
    lines = []
    for pos in range(0, len(data), 16):
        chunk = data[pos : pos + 16]
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{start + pos:08x}  {chunk.hex(' '):<47}  {text}")
    return lines


def error_name(code: int) -> str:
    from p2pshare_core.errors import ErrorCode

    try:
        return ErrorCode(code).name
    except ValueError:
        return f"{code} (unknown code)"


def summary(frame: bytes) -> str:
    """One line for a sequence diagram: the message and its short fields."""
    import dataclasses
    from enum import Enum

    from p2pshare_core.codec import decode
    from p2pshare_core.errors import ProtocolError

    name = message_name_or_none(frame)
    if name is None:
        return f"id 0x{frame[4]:02x}, {len(frame) - 5} payload bytes"
    if name == "keepalive":
        return name
    try:
        event = decode(frame[4], frame[5:])
    except ProtocolError as error:
        return f"{name} that does not decode ({error.code.name})"
    parts = []
    for item in dataclasses.fields(event):
        key, value = item.name, getattr(event, item.name)
        if key in SUMMARY_SKIPS:
            continue
        if isinstance(value, Enum) or key == "code":
            parts.append(f"{key} {error_name(value)}")
            continue
        if isinstance(value, bytes):
            if key == "bits":
                parts.append("bits " + "".join(f"{b:08b}" for b in value[:4]))
            elif len(value) > 8:
                parts.append(f"{key} ({len(value)} bytes)")
            else:
                parts.append(f"{key} {value.hex()}")
        elif isinstance(value, (int, str)) and not isinstance(value, bool):
            parts.append(f"{key} {value}")
    text = f"{name} " + ", ".join(parts) if parts else name
    return text.replace(";", ",").replace("#", "").replace("\n", " ")[:90]
