"""mkdocs hook: pages generated from the sources of truth, so the docs cannot drift from them.

- reference/protocol.md        <- spec/protocol.md (verbatim)
- reference/wire-format.md     <- spec/vectors/frames.json, annotated field by field with the core's
                                  construct declarations (the same vectors the tests decode)
- explanation/state-machine.md <- p2pshare_core.states.TRANSITIONS (the live table)
- reference/cli.md             <- the click command tree's own --help texts
- tutorials/first-share.md     <- its `share` output block: the real command, run by the build
- guides/folders.md            <- spec/vectors/tree.json (folder shares, byte by byte)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).parent))

import annotate  # noqa: E402
import specdoc  # noqa: E402


def on_files(files: Files, config: MkDocsConfig) -> Files:
    pages = {
        "reference/protocol.md": protocol_page(),
        "reference/wire-format.md": wire_format_page(),
        "explanation/state-machine.md": state_machine_page(),
        "reference/cli.md": cli_page(),
        "reference/lan-discovery.md": lan_discovery_page(),
        "guides/folders.md": folders_page(),
    }
    for uri, content in pages.items():
        files.append(File.generated(config, uri, content=content))
    return files


# --- local peer discovery, from spec/vectors/lsd.json ----------------------------------------


def lan_discovery_page() -> str:
    """How nodes find each other on a LAN: the announce, byte by byte, from the vectors."""
    doc = json.loads((ROOT / "spec" / "vectors" / "lsd.json").read_text(encoding="utf-8"))
    out = [
        "# LAN discovery",
        "",
        "`p2pshare get SHAREID` (or `p2pshare:///SHAREID`) needs no address: nodes on the same",
        "LAN announce the shares they take part in by UDP multicast (spec section 13.1, LSD), and",
        "a downloader dials the ones that serve its share. `--no-lan` turns it off; a node that",
        "listens on loopback only never announces. An announce is a hint, never trusted: the",
        "handshake and the metainfo are verified as for any peer.",
        "",
        "A node that does not know the share yet announces it with the SEEKING flag; a node that",
        "serves it answers with its own announce within a second, instead of at its next",
        "minute. Receivers look at one datagram per sender per second, keep bounded tables, and",
        "ignore anything that is not exactly an announce.",
        "",
        "## The announce, byte by byte",
        "",
        "Generated from `spec/vectors/lsd.json` (the same vectors the core's tests decode).",
        "",
    ]
    for vector in doc["vectors"]:
        data = bytes.fromhex(vector["hex"])
        out.append(f"### `{vector['name']}` ({'valid' if vector['valid'] else 'ignored'})")
        out.append("")
        if vector["valid"]:
            ann = vector["announce"]
            ids = ", ".join(s[:16] + "…" for s in ann["share_ids"])
            seeking = "SEEKING" if ann["seeking"] else "serving"
            out.append(f"port {ann['port']}, cookie `{ann['cookie']}`, {seeking}, shares: {ids}")
        else:
            out.append(f"Ignored without an answer ([{vector['requirement']}]).")
        out += ["", "```text", *_lsd_fields(data), "```", ""]
    return "\n".join(out)


def _lsd_fields(data: bytes) -> list[str]:
    """Each field of an announce on its own line: its bytes, then what they are."""
    fields = [("magic", 4), ("version", 1), ("flags", 1), ("cookie", 8), ("port", 2), ("count", 1)]
    lines, pos = [], 0
    for name, size in fields:
        chunk = data[pos : pos + size]
        if not chunk:
            break
        value = (
            int.from_bytes(chunk, "big") if name in ("version", "flags", "port", "count") else ""
        )
        lines.append(f"{chunk.hex(' '):<24} {name} {value}".rstrip())
        pos += size
    while pos < len(data):
        chunk = data[pos : pos + 32]
        label = "share_id" if len(chunk) == 32 else "(trailing bytes)"
        lines.append(f"{chunk[:8].hex(' ')} … ({len(chunk)} bytes) {label}")
        pos += 32
    return lines


# --- the tutorial's output, from a real run ------------------------------------------------

TUTORIAL = "tutorials/first-share.md"
TUTORIAL_SIZE = 20 * 1024 * 1024


def on_page_markdown(markdown: str, page: Any, config: MkDocsConfig, files: Files) -> str:
    """Put the real output of `p2pshare share` into the tutorial, so it cannot go stale."""
    if page.file.src_uri != TUTORIAL:
        return markdown
    output, link = share_output()
    block = "```text\n" + output + "\n```"
    return markdown.replace("<!-- share-output -->", block).replace("{{ link }}", link)


def share_output() -> tuple[str, str]:
    """Run `p2pshare share movie.bin` (a fixed 20 MiB file, so the share ID is stable; the
    address advertised as 192.168.1.20) until it says it serves; its stdout and its link."""
    import random
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        movie = Path(tmp) / "movie.bin"
        movie.write_bytes(random.Random(20).randbytes(TUTORIAL_SIZE))
        argv = [sys.executable, "-m", "p2pshare_cli", "share", "movie.bin"]
        argv += ["--host", "127.0.0.1", "--advertise", "192.168.1.20"]
        proc = subprocess.Popen(argv, cwd=tmp, stdout=subprocess.PIPE, text=True)
        lines: list[str] = []
        try:
            assert proc.stdout is not None
            for line in proc.stdout:  # (bounded: the process is killed below in any case)
                lines.append(line.rstrip("\n"))
                if line.startswith("Serving until") or len(lines) > 20:
                    break
        finally:
            proc.kill()
            proc.wait(10)
    link = next(line.split(": ", 1)[1] for line in lines if line.startswith("Link: "))
    return "\n".join(lines), link


# --- spec -----------------------------------------------------------------------------------


def protocol_page() -> str:
    text = (ROOT / "spec" / "protocol.md").read_text(encoding="utf-8")
    note = (
        '!!! note "Generated"\n    This page is `spec/protocol.md`, the normative text, '
        "copied verbatim at build time. Every requirement has a stable anchor: "
        "`#hs-5` is HS-5.\n\n"
    )
    head, _, rest = text.partition("\n")
    return f"{head}\n\n{note}{specdoc.with_anchors(rest)}"


# --- wire format from the vectors -----------------------------------------------------------


def _rows_for(frame: bytes, skipped: bool = False) -> list[tuple[int, bytes, str, str]]:
    """Rows for any frame: a keepalive, an unassigned id (skipped whole), or a known message."""
    from p2pshare_core.codec import PAYLOADS

    length = int.from_bytes(frame[:4], "big")
    if length == 0:
        return [(0, frame[:4], "length", "`0` (keepalive)")]
    if frame[4] not in PAYLOADS or skipped:
        what = "an extension's, not in force here" if skipped else "unassigned"
        return [
            (0, frame[:4], "length", f"`{length}`"),
            (4, frame[4:5], "id", f"`0x{frame[4]:02x}` ({what})"),
            (5, frame[5 : 4 + length], "payload", "skipped unread by the receiver"),
        ] + (
            [(4 + length, frame[4 + length :], "next frame", "parsed normally")]
            if len(frame) > 4 + length
            else []
        )
    return annotate.field_rows(frame[4], frame)


def _hexdump(data: bytes) -> str:
    text = data.hex(" ")
    return text if len(text) <= 60 else text[:57] + " …"


def _skipped(vector: dict[str, Any], frame: bytes) -> bool:
    """A vector whose first frame is an extension's, skipped because it is not in force."""
    from p2pshare_core.codec import MESSAGES

    fmt = MESSAGES.get(frame[4]) if len(frame) > 4 else None
    return fmt is not None and fmt.name != vector["message"]["type"]


def wire_format_page() -> str:
    vectors = json.loads((ROOT / "spec" / "vectors" / "frames.json").read_text(encoding="utf-8"))
    out = [
        "# Wire format by example",
        "",
        '!!! note "Generated"',
        "    Every table below is built at docs-build time from `spec/vectors/frames.json`,",
        "    the vectors the core's test suite decodes and re-encodes byte for byte, split into",
        "    fields by the core's own `construct` declarations, each field explained with the",
        "    words of the spec's layout table. If the codec and the vectors disagreed, the tests",
        "    would fail before this page could be wrong.",
        "",
        "Every frame is `<4: length><1: id><payload>`; `length` counts the id and the payload.",
        "A length of zero is a keepalive.",
        "",
    ]
    valid = [v for v in vectors["vectors"] if "message" in v and v["hex"]]
    invalid = [v for v in vectors["vectors"] if "error" in v]
    from p2pshare_core.codec import PAYLOADS

    by_type: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for vector in valid:
        frame = bytes.fromhex(vector["hex"])
        if len(frame) == 4:
            key = (-1, "`keepalive`")
        elif frame[4] in PAYLOADS and not _skipped(vector, frame):
            key = (frame[4], f"`{vector['message']['type']}` (id 0x{frame[4]:02x})")
        else:
            key = (256, "Unassigned ids (and extensions not in force): skipped")
        by_type.setdefault(key, []).append(vector)
    for (_, title), group in sorted(by_type.items()):
        out += [f"## {title}", ""]
        for vector in group:
            frame = bytes.fromhex(vector["hex"])
            rule = specdoc.link(vector["requirement"], 1)
            out += [f"### {vector['name']}", "", f"Requirement: {rule}", ""]
            whole = len(frame) == 4 + int.from_bytes(frame[:4], "big")
            if whole and len(frame) > 4 and frame[4] in PAYLOADS and not _skipped(vector, frame):
                out += annotate.table(frame)  # each field with the spec's meaning
                continue
            out += ["| offset | bytes | field | value |", "|---:|---|---|---|"]
            for offset, chunk, field, value in _rows_for(frame, _skipped(vector, frame)):
                out.append(f"| {offset} | `{_hexdump(chunk)}` | {field} | {value} |")
            out.append("")
    out += [
        "## Frames a receiver must refuse",
        "",
        "| vector | requirement | bytes | error |",
        "|---|---|---|---|",
    ]
    for vector in invalid:
        out.append(
            f"| `{vector['name']}` | `{vector['requirement']}` | "
            f"`{_hexdump(bytes.fromhex(vector['hex']))}` | `{vector['error']}` |"
        )
    out.append("")
    return "\n".join(out)


# --- state machine from the live table ------------------------------------------------------


def state_machine_page() -> str:
    from p2pshare_core.states import TRANSITIONS

    out = [
        "# The connection state machine",
        "",
        '!!! note "Generated"',
        "    Drawn at docs-build time from `p2pshare_core.states.TRANSITIONS`, the one table the",
        "    `Connection` class consults. Each direction of a connection (what we send, what we",
        "    receive) runs this machine on its own; any message missing from a state's row is a",
        "    protocol error (`UNEXPECTED_MESSAGE`) and moves that direction to `ERROR`.",
        "",
        "```mermaid",
        "stateDiagram-v2",
    ]
    table: list[str] = ["| state | message | next state |", "|---|---|---|"]
    for state, row in TRANSITIONS.items():
        grouped: dict[str, list[str]] = {}
        for message, target in row.items():
            grouped.setdefault(target.name, []).append(message.__name__)
            table.append(f"| `{state.name}` | `{message.__name__}` | `{target.name}` |")
        for target_name, names in grouped.items():
            label = ", ".join(names) if len(names) <= 3 else f"{len(names)} message types"
            out.append(f"    {state.name} --> {target_name}: {label}")
    out += ["```", "", "## The table", "", *table, ""]
    return "\n".join(out)


# --- CLI reference from click ---------------------------------------------------------------


def cli_page() -> str:
    import click
    from p2pshare_cli.main import cli

    out = [
        "# CLI reference",
        "",
        '!!! note "Generated"',
        "    Rendered at docs-build time from the `p2pshare` command's own help texts.",
        "",
    ]

    def walk(command: click.Command, path: list[str]) -> None:
        with click.Context(command, info_name=" ".join(path)) as ctx:
            out.extend([f"## `{' '.join(path)}`", "", "```text", command.get_help(ctx), "```", ""])
        if isinstance(command, click.Group):
            for name in command.list_commands(click.Context(command)):
                sub = command.get_command(click.Context(command), name)
                if sub is not None and not sub.hidden:
                    walk(sub, [*path, name])

    walk(cli, ["p2pshare"])
    out += json_events_section()
    return "\n".join(out)


def json_events_section() -> list[str]:
    """Every `--json` event, with its fields, from p2pshare_node/events.py itself: the classes,
    their docstrings, and each field's type and comment (read with ast, not typed here)."""
    import ast

    from p2pshare_node import events as ev

    source = (ROOT / "packages/p2pshare-node/src/p2pshare_node/events.py").read_text("utf-8")
    lines = source.splitlines()
    out = [
        "## `--json` events {#json-events}",
        "",
        "With `--json`, `share` and `get` print one JSON object per line on stdout, each with",
        '`"event"` (its kind) and `"time"` (seconds since the node started). Progress lines are',
        "printed when something changed, and at least every 10 s while nothing does; a reader",
        "too slow to keep up sees the newest progress only, and an `output-dropped` line with",
        "a count if other lines had to be dropped. Generated from `p2pshare_node/events.py`.",
        "",
    ]
    for node in ast.parse(source).body:
        if not isinstance(node, ast.ClassDef) or node.name == "NodeEvent":
            continue
        cls = getattr(ev, node.name, None)
        if not (isinstance(cls, type) and issubclass(cls, ev.NodeEvent)):
            continue
        doc = ast.get_docstring(node) or ""
        out += [f"### `{cls.kind}`", ""]
        if doc:
            out += [doc.split("\n\n")[0].replace("\n", " "), ""]
        out += ["| field | type | meaning |", "|---|---|---|"]
        for item in node.body:
            if not isinstance(item, ast.AnnAssign) or not isinstance(item.target, ast.Name):
                continue
            if item.target.id == "kind":
                continue
            text = lines[item.lineno - 1]
            comment = text.split("#", 1)[1].strip() if "#" in text else ""
            kind = ast.unparse(item.annotation).replace("|", "\\|")
            out.append(f"| `{item.target.id}` | `{kind}` | {comment} |")
        out.append("")
    return out


# --- folder shares, from spec/vectors/tree.json ---------------------------------------------


def folders_page() -> str:
    """Folder (multi-file) shares: how to use them, and their bytes from the vectors."""
    doc = json.loads((ROOT / "spec" / "vectors" / "tree.json").read_text(encoding="utf-8"))
    vectors = {v["name"]: v for v in doc["vectors"]}
    example = vectors["tree-example"]
    tree, summary = example["tree"], example["summary"]
    data = bytes.fromhex(example["hex"])
    out = [
        "# Folder shares",
        "",
        "`p2pshare share FOLDER` shares a whole directory tree as one share: one link, one share",
        "ID, one swarm. `p2pshare get LINK` recreates the tree under the output folder.",
        "",
        "```text",
        "p2pshare share photos/            # prints the link and the folder's digest",
        "p2pshare info photos/             # the file list, each file's SHA-1, the share ID",
        "p2pshare verify photos/ LINK      # is this folder that share? (each file's SHA-1)",
        "p2pshare get LINK -o downloads    # -> downloads/photos/...",
        "```",
        "",
        "- **What is shared**: regular files and empty folders. A symbolic link inside the",
        "  folder is skipped with a warning and never followed; so are devices, FIFOs and",
        "  sockets. A folder whose names no peer could store as they are (two names that differ",
        "  only by case or Unicode normalisation, an unsafe name such as `CON` or `a:b`, too",
        "  deep, too long, too many files) is refused with the reason, never renamed.",
        "- **One digest**: the share ID covers every path, size and byte of the tree; `share`",
        '  and `get` print it ("folder digest"), `info` lists each file\'s SHA-1 as well.',
        "- **While downloading** the tree is written into the folder `NAME.part` beside the",
        "  final name, every file at its full size, after the free-space check for the whole",
        "  tree. When every piece and every file's SHA-1 is verified, `NAME.part` is renamed",
        "  to `NAME`. Progress shows `N/M files`; `--json` prints a `file-done` event per file.",
        "- **Resume** works across the tree: stop (or kill) `get` and run it again, and only",
        "  what was not verified is fetched.",
        "- **`--force`**: without it, an existing `NAME` is refused. With it, the verified",
        "  files are moved into the existing folder one by one, each replacing the file of the",
        "  same path; nothing else in that folder is touched or removed.",
        "- **Nothing outside the output folder**: every path of the metainfo is checked by",
        "  the spec's TREE rules before anything is created (no `..`, no absolute path, no",
        "  separator or device name inside a component, no collisions), and every file and",
        "  folder is opened without following symbolic links.",
        "- **Peers without folder support** (version 1.0 and 1.1 nodes) refuse a folder share",
        "  at the handshake with `BAD_METAINFO`: its name ends with `/`, which no file name has.",
        "",
        "## Limits",
        "",
        "| what | limit |",
        "|---|---|",
        "| files and empty folders | 65 536 (MAX_TREE_ENTRIES) |",
        "| folders in a path | 32 components (MAX_TREE_DEPTH) |",
        "| path length | 1 024 bytes of UTF-8 (MAX_TREE_PATH_LENGTH) |",
        "| one name | a SAFE NAME, 1..255 bytes (Section 9 of the spec) |",
        "| total size, pieces | as a single file: 8 TiB, 131 072 pieces |",
        "| the metainfo | 4 194 598 bytes: a long file list makes the pieces larger |",
        "",
        "## Why pieces run across files",
        "",
        "The files are concatenated in the order of the file list and cut into pieces as one",
        "file would be (BitTorrent v1 style), so every rule of the protocol applies to a tree",
        "unchanged and 10 000 small files make a few large pieces rather than 10 000 small",
        "ones. Each file's SHA-1 in the file list lets a single file be checked on its own.",
        "Section 8.7 of the spec gives the full reasoning.",
        "",
        "## The example tree, byte by byte",
        "",
        "Generated from `spec/vectors/tree.json` (vector `tree-example`, which the core's tests "
        f"decode): the folder `{tree['name']}`, piece size {tree['piece_size']}, "
        f"{tree['total_size']} bytes in {len(tree['entries'])} entries, "
        f"{len(tree['piece_hashes'])} pieces, share ID `{example['share_id']}`.",
        "",
        "| entry | kind | size | starts at | pieces |",
        "|---|---|---|---|---|",
    ]
    ps = tree["piece_size"]
    for entry in tree["entries"]:
        kind = "empty folder" if entry["kind"] else "file"
        start, size = entry["start"], entry["size"]
        pieces = f"{start // ps}..{(start + size - 1) // ps}" if size else "none"
        out.append(f"| `{entry['path']}` | {kind} | {size} | {start} | {pieces} |")
    out += ["", "```text", *_tree_fields(data, len(tree["entries"]), ps), "```", ""]
    tag = summary["file_sha1"]
    out += [
        "## In the handshake",
        "",
        "The handshake's summary fields describe the tree: the name is the root folder's name",
        f"followed by `/` (`{summary['name']}`), the size is the total ({summary['file_size']}),",
        "and in place of a file's SHA-1 it carries the *tree tag*: the size of the tree",
        f"metainfo ({summary['metainfo_size']} bytes) in 4 bytes, then 16 zero bytes: `{tag}`.",
        "That size is what the metainfo exchange fetches.",
        "",
        "## Hostile trees the vectors refuse",
        "",
        "| vector | rule |",
        "|---|---|",
    ]
    for vector in doc["vectors"]:
        if vector["kind"] == "encoding" and "error" in vector:
            out.append(f"| `{vector['name']}` | {vector['requirement']} |")
    return "\n".join(out) + "\n"


def _tree_fields(data: bytes, count: int, piece_size: int) -> list[str]:
    """Each field of a tree metainfo on its own line: its bytes, then what they are."""
    lines: list[str] = []
    pos = 0

    def field(size: int, what: str) -> bytes:
        nonlocal pos
        raw = data[pos : pos + size]
        shown = raw.hex(" ") if size <= 24 else raw[:24].hex(" ") + " …"
        lines.append(f"{pos:6d}  {shown:<74}  {what}")
        pos += size
        return raw

    field(4, 'magic "P2PT"')
    field(1, "version 1")
    total = int.from_bytes(field(8, "total_size"), "big")
    field(4, "piece_size")
    field(4, f"entry_count = {count}")
    name_len = int.from_bytes(field(2, "name_len"), "big")
    field(name_len, f"name {data[pos : pos + name_len].decode()!r}")
    for _ in range(count):
        kind = field(1, "kind (0 file, 1 empty folder)")[0]
        field(8, "size")
        field(20, "sha1" if kind == 0 else "sha1 (zeros: a folder)")
        path_len = int.from_bytes(field(2, "path_len"), "big")
        field(path_len, f"path {data[pos : pos + path_len].decode()!r}")
    for index in range(-(-total // piece_size)):
        field(32, f"SHA-256 of piece {index}")
    return lines
