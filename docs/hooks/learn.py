"""mkdocs hook: the pages for people learning the protocol, generated from what is real.

- explanation/connection.md <- one connection between two reference nodes, recorded by the
                               build (capture.py), every frame annotated (annotate.py)
- protocol/*.md             <- one page per phase: the rules of its spec sections (specdoc.py)
                               and the vectors of spec/vectors/frames.json, each drawn as the
                               exchange its context describes and its bytes annotated
"""

from __future__ import annotations

import sys
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

sys.path.insert(0, str(Path(__file__).parent))

import annotate
import capture
import phases
import specdoc


def on_files(files: Files, config: MkDocsConfig) -> Files:
    pages = {"explanation/connection.md": connection_page(capture.record())}
    pages.update(phases.pages())
    for uri, content in pages.items():
        files.append(File.generated(config, uri, content=content))
    return files


def connection_page(recording: capture.Recording) -> str:
    probes, transfer = capture.connections(recording)[:-1], capture.connections(recording)[-1]
    frames = capture.frames(recording, transfer)
    data = capture.file_bytes()
    pieces = -(-len(data) // capture.PIECE_SIZE)
    out = [
        "# The illustrated connection",
        "",
        '!!! note "Recorded by the docs build"',
        "    Every byte below was sent by the reference implementation: two `p2pshare_node.Node`s",
        "    on loopback, recorded by a relay between them when this site was built",
        "    (`docs/hooks/capture.py`). The tables split each frame with the core's codec and",
        "    explain each field with the words of the spec's layout tables.",
        "",
        f"A seeder shares `{capture.FILE_NAME}`: {len(data)} bytes of text, {pieces} pieces of"
        f" {capture.PIECE_SIZE} bytes (the last one short). Its peer ID is"
        f" `{capture.SEEDER_ID.hex()}`. A downloader with peer ID"
        f" `{capture.DOWNLOADER_ID.hex()}` is given only the share link",
        "",
        f"    {recording.share_link}",
        "",
        "so it knows the share ID and one address, not the file's name, size or piece hashes.",
        "It fetches the metainfo from the seeder, then the file, then shuts down.",
        "",
    ]
    if probes:
        count = sum(len(capture.frames(recording, c)) for c in probes)
        out += [
            f"Before this connection the downloader opened {len(probes)} short probe"
            f" connection(s) to the same address, to check that it answers ({count} frames from"
            " the seeder: its handshake and bitfield, which an acceptor sends at once,"
            f" {specdoc.link('HS-11', 1)}). This page follows the connection that carried the"
            " file.",
            "",
        ]
    out += ["## The whole exchange", "", "```mermaid", "sequenceDiagram"]
    out += ["    participant D as downloader (dials)", "    participant S as seeder (accepts)"]
    for number, frame in enumerate(frames, 1):
        arrow = "S->>D" if frame.from_seeder else "D->>S"
        out.append(f"    {arrow}: {number}. {annotate.summary(frame.data)}")
    out += ["```", "", "## Frame by frame", ""]
    for number, frame in enumerate(frames, 1):
        who = "seeder → downloader" if frame.from_seeder else "downloader → seeder"
        name = annotate.message_name(frame.data)
        out += [f"### {number}. {who}: `{name}`", ""]
        if len(frame.data) > 4:
            section = specdoc.section_of(frame.data[4])
            rules = ", ".join(specdoc.link(r, 1) for r in section.requirements)
            title = section.title.split(" ", 1)[1]
            out += [f"Spec {section.link(1)} *{title}*: {rules}", ""]
        out += annotate.table(frame.data)
        if name == "metainfo_data":
            out += metainfo_check(frame.data[13:], recording.share_link)
        elif name in ("span_data", "piece"):
            out += piece_checks(frames, frame.data)
    return "\n".join(out)


def metainfo_check(data: bytes, link: str) -> list[str]:
    """The metainfo chunk, field by field (spec 8.1), and the check that makes it trusted."""
    import hashlib

    from p2pshare_core.metainfo import Metainfo

    meta = Metainfo.decode(data)
    values = {"name_len": len(meta.name.encode()), "n": meta.piece_count}
    out = [
        "The chunk is the whole metainfo (it fits in one), in its canonical encoding"
        f" ({specdoc.sections()['8.1'].link(1)}):",
        "",
        "| offset | bytes | field | meaning (spec) |",
        "|---:|---|---|---|",
    ]
    pos = 0
    for field, size, meaning in specdoc.metainfo_layout():
        count = eval_size(size, values)
        chunk = data[pos : pos + count]
        shown = chunk.hex(" ") if count <= 20 else f"{chunk[:8].hex(' ')} … ({count} bytes)"
        out.append(f"| {pos} | `{shown}` | `{field}` | {meaning} |")
        pos += count
    digest = hashlib.sha256(data).hexdigest()
    agrees = "the same" if link.endswith(digest) else "NOT the same"
    out += [
        "",
        f"Its SHA-256 is `{digest}`: {agrees} as the share ID in the link"
        f" ({specdoc.link('META-3', 1)}), so the downloader trusts its {meta.piece_count}"
        " piece hashes, and through them every byte that follows.",
        "",
    ]
    return out


def eval_size(size: str, values: dict[str, int]) -> int:
    """A size cell of a spec table: "4", "name_len", "32 x n"."""
    total = 1
    for factor in size.replace("×", "x").split(" x "):
        factor = factor.strip()
        total *= int(factor) if factor.isdigit() else values[factor]
    return total


def piece_checks(frames: list[capture.Frame], data_frame: bytes) -> list[str]:
    """Each piece in a data frame against its hash from the metainfo that came before."""
    import hashlib

    from p2pshare_core.codec import decode
    from p2pshare_core.metainfo import Metainfo

    blob = next(f.data[13:] for f in frames if annotate.message_name(f.data) == "metainfo_data")
    meta = Metainfo.decode(blob)
    event = decode(data_frame[4], data_frame[5:])
    first = event.index  # type: ignore[union-attr]
    payload: bytes = event.data  # type: ignore[union-attr]
    out = ["Each piece is checked on its own against its hash in the metainfo:", ""]
    out += ["| piece | bytes of the file | SHA-256 | matches |", "|---:|---|---|---|"]
    pos = 0
    index = first
    while pos < len(payload):
        length = meta.piece_length(index)
        digest = hashlib.sha256(payload[pos : pos + length]).digest()
        ok = "yes" if digest == meta.piece_hashes[index] else "**no**"
        start = meta.piece_offset(index)
        out.append(f"| {index} | {start}..{start + length - 1} | `{digest.hex()[:32]}…` | {ok} |")
        pos += length
        index += 1
    return [*out, ""]
