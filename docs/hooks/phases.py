"""The protocol explained one phase at a time, from spec/vectors/frames.json.

Each vector with a `context` describes a small exchange: what the receiving node ("us") sent,
what the peer sent before, then the vector's bytes and what must happen (a first event, or an
error and a closed connection). Each phase page draws those exchanges as sequence diagrams,
annotates the vector's frame field by field (annotate.py), lists the rules of its spec sections
with their one-line summaries (specdoc.py), and tabulates the frames a receiver must refuse.
Only the prose introductions below are written by hand.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import annotate
import specdoc

ROOT = specdoc.ROOT


@dataclass(frozen=True)
class Phase:
    slug: str
    title: str
    intro: str
    sections: tuple[str, ...]
    types: frozenset[str]  # vector message types shown here when no section claims them

    def requirements(self) -> set[str]:
        return {r for n in self.sections for r in specdoc.sections()[n].requirements}


PHASES = (
    Phase(
        "handshake",
        "Connecting and the handshake",
        "A connection starts with one handshake each way. The acceptor sends its own at once; "
        "the dialer may wait to see the acceptor's. A handshake names the share (its ID and "
        "summary) and the sender (peer ID, listen port, capability flags); a receiver checks "
        "the magic, then the version, then the layout, then the share, and refuses anything "
        "else with an error that says which check failed. Duplicate connections between the "
        "same two peers are resolved by comparing peer IDs.",
        ("5", "14"),
        frozenset({"handshake"}),
    ),
    Phase(
        "metainfo",
        "Fetching the metainfo",
        "A downloader that starts from a share link knows only the share ID. The handshake "
        "gives it the file's size, piece size, SHA-1 and name; the piece hashes come in the "
        "metainfo, fetched in chunks and checked against the share ID (its SHA-256) before "
        "anything is trusted.",
        ("8.5", "8.6"),
        frozenset({"metainfo_request", "metainfo_data", "metainfo_reject"}),
    ),
    Phase(
        "bitfield-have",
        "Bitfield and have: who has what",
        "Right after the handshakes each side sends exactly one bitfield: one bit per piece, "
        "most significant bit first, spare bits zero. From then on a `have` announces each "
        "newly verified piece, so each side always knows what the other can serve.",
        ("6", "7.1"),
        frozenset({"bitfield", "have"}),
    ),
    Phase(
        "transfer",
        "Requests, pieces, rejects and cancels",
        "Data moves only on request: a request names a block (piece index, offset, length), and "
        "gets exactly one reply, the block's data or a reject. A cancel withdraws a request "
        "that is no longer needed, and still gets its one reply. Choke and unchoke say whether "
        "requests will be served; interested and not_interested say whether the sender wants "
        "anything.",
        ("7.2", "7.3", "7.4", "7.5", "7.6"),
        frozenset(
            {"request", "piece", "reject", "cancel", "choke", "unchoke", "interested"}
            | {"not_interested"}
        ),
    ),
    Phase(
        "pex",
        "Peer exchange",
        "There is no tracker. Peers tell each other about the other peers they know, in "
        "`peers` messages of at most 50 entries, each an address and a peer ID; a node dials "
        "the ones it does not know yet, and only the peer with the higher ID dials.",
        ("13",),
        frozenset({"peers"}),
    ),
    Phase(
        "framing-errors",
        "Framing, keepalives, closing and errors",
        "Every message is a length-prefixed frame, and a length of zero is a keepalive. A "
        "connection ends with an error message that says why (a code and a reason) and a "
        "close, or with a plain close at a frame boundary; anything malformed gets the error "
        "that names the broken rule.",
        ("4", "12"),
        frozenset({"keepalive", "error", "connection_closed"}),
    ),
    Phase(
        "extensions",
        "Extensions and multi-piece requests",
        "The handshake's flags byte carries capability bits. An extension is in force on a "
        "connection only when both sides advertise it; its message ids are otherwise unassigned "
        "and skipped. The first extension, SPAN (bit 0), requests a run of whole pieces with "
        "one frame and receives them in one frame.",
        ("5.1", "5.2"),
        frozenset({"span_request", "span_data", "span_reject", "span_cancel"}),
    ),
)


def vectors() -> list[dict[str, Any]]:
    doc = json.loads((ROOT / "spec" / "vectors" / "frames.json").read_text(encoding="utf-8"))
    result: list[dict[str, Any]] = doc["vectors"]
    return result


def phase_of(vector: dict[str, Any]) -> Phase | None:
    """The phase whose sections hold the vector's requirement, else the one showing its type."""
    for phase in PHASES:
        if vector["requirement"] in phase.requirements():
            return phase
    kind = vector.get("message", {}).get("type")
    return next((p for p in PHASES if kind in p.types), None)


def pages() -> dict[str, str]:
    grouped: dict[str, list[dict[str, Any]]] = {p.slug: [] for p in PHASES}
    for vector in vectors():
        phase = phase_of(vector)
        if phase is not None:
            grouped[phase.slug].append(vector)
    return {f"protocol/{p.slug}.md": page(p, grouped[p.slug]) for p in PHASES}


def page(phase: Phase, group: list[dict[str, Any]]) -> str:
    out = [f"# {phase.title}", "", phase.intro, ""]
    out += [
        '!!! note "Generated"',
        "    The rules are the spec's own requirement IDs with their summaries; the exchanges",
        "    and bytes are the vectors of `spec/vectors/frames.json` (which every implementation",
        "    can test itself against), split by the core's codec.",
        "",
        "## The rules",
        "",
    ]
    for number in phase.sections:
        section = specdoc.sections()[number]
        out += [f"**{section.link(1)} {section.title.split(' ', 1)[1]}**", ""]
        for requirement in section.requirements:
            out.append(f"- {specdoc.link(requirement, 1)}: {specdoc.summaries()[requirement]}")
        out.append("")
    valid = [v for v in group if "message" in v and v["hex"]]
    refused = [v for v in group if "error" in v]
    if valid:
        out += ["## Exchanges, byte by byte", ""]
    drawn: set[str] = set()
    for vector in valid:
        kind = vector["message"]["type"]
        out += example(vector, draw=kind not in drawn)
        if "context" in vector:  # (a codec vector has no exchange to draw)
            drawn.add(kind)
    if refused:
        out += [
            "## Frames a receiver must refuse",
            "",
            "| vector | rule | bytes | the receiver fails with |",
            "|---|---|---|---|",
        ]
        for vector in refused:
            data = bytes.fromhex(vector["hex"])
            shown = data[:24].hex(" ") + (" …" if len(data) > 24 else "")
            out.append(
                f"| `{vector['name']}` | {specdoc.link(vector['requirement'], 1)} | "
                f"`{shown}` | `{vector['error']}` |"
            )
        out.append("")
    return "\n".join(out)


def example(vector: dict[str, Any], draw: bool) -> list[str]:
    """One vector: the exchange (a diagram for the first vector of each message type, one line
    for the next ones, which differ in a field or two), then its bytes annotated."""
    out = [f"### `{vector['name']}`", "", f"Rule: {specdoc.link(vector['requirement'], 1)}", ""]
    frames, rest = split(bytes.fromhex(vector["hex"]))
    if "context" in vector and draw:
        out += diagram(vector, frames, rest)
    elif "context" in vector:
        steps = exchange(vector, frames, rest)
        out += ["Exchange: " + "; ".join(f"{who} {what}" for who, what in steps) + ".", ""]
    first = frames[0] if frames else b""
    if annotate.message_name_or_none(first) == vector["message"]["type"]:
        out += annotate.table(first)
    else:
        out += ["```text", *annotate.hexdump(bytes.fromhex(vector["hex"])), "```", ""]
    return out


def split(data: bytes) -> tuple[list[bytes], bytes]:
    """Whole frames, and what is left after the last one."""
    frames = []
    while len(data) >= 4 and len(data) >= 4 + int.from_bytes(data[:4], "big"):
        end = 4 + int.from_bytes(data[:4], "big")
        frames.append(data[:end])
        data = data[end:]
    return frames, data


def exchange(vector: dict[str, Any], frames: list[bytes], rest: bytes) -> list[tuple[str, str]]:
    """The exchange the vector's context describes, as (who, what) steps: "us" is the receiver
    the vector tests, "peer" the sender of its bytes."""
    context = vector["context"]
    received, _ = split(bytes.fromhex(context["received_hex"]))
    sent = context["sent"]
    steps = [("us →", _summary(m)) for m in sent[:2]]
    steps += [("peer →", annotate.summary(f)) for f in received]
    steps += [("us →", _summary(m)) for m in sent[2:] + context.get("sent_after", [])]
    steps += [("peer →", annotate.summary(f)) for f in frames]
    if rest:
        steps.append(("peer →", f"{len(rest)} bytes of a frame that never ends"))
    if context["eof"]:
        steps.append(("peer:", "closes the connection"))
    if "error" in vector:
        steps.append(("us →", f"error {vector['error']}, then close"))
    else:
        steps.append(("us:", f"first event {vector['message']['type']}"))
    return fold(steps)


def fold(steps: list[tuple[str, str]], keep: int = 2) -> list[tuple[str, str]]:
    """Long runs of one message the same way (a vector that fills the request limit sends
    hundreds) shown as their first and last ones and a count."""
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(steps):
        j = i
        key = (steps[i][0], steps[i][1].split(" ", 1)[0])
        while j + 1 < len(steps) and (steps[j + 1][0], steps[j + 1][1].split(" ", 1)[0]) == key:
            j += 1
        run = steps[i : j + 1]
        if len(run) > 2 * keep + 1:
            middle = (key[0], f"... {len(run) - keep - 1} more {key[1]} frames ...")
            run = [*run[:keep], middle, run[-1]]
        out += run
        i = j + 1
    return out


def diagram(vector: dict[str, Any], frames: list[bytes], rest: bytes) -> list[str]:
    """The exchange as a sequence diagram."""
    arrows = {"us →": "U->>P", "peer →": "P->>U", "peer:": "Note over P", "us:": "Note over U"}
    out = ["```mermaid", "sequenceDiagram"]
    out += ["    participant P as peer", f"    participant U as us ({vector['context']['role']})"]
    for who, what in exchange(vector, frames, rest):
        arrow = "U-xP" if what.startswith("error ") and who == "us →" else arrows[who]
        out.append(f"    {arrow}: {what}")
    return [*out, "```", ""]


def _summary(message: dict[str, Any]) -> str:
    parts = [f"{k} {v}" for k, v in message.items() if k != "type" and isinstance(v, int)]
    if message["type"] == "handshake":
        parts = [f"flags {message['flags']}"]
    return f"{message['type']} " + ", ".join(parts) if parts else message["type"]
