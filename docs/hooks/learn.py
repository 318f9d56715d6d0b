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
            out += [f"Spec {section.link(1)} *{section.title}*: {rules}", ""]
        out += annotate.table(frame.data)
    return "\n".join(out)
