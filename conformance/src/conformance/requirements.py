"""Reading requirement IDs and their level (MUST / SHOULD / MAY) from spec/protocol.md.

The coverage matrix and the coverage test read the live spec, so a new MUST with no case
fails CI the day it is written (h2spec's users asked for exactly this: keeping up with spec
revisions).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REQ_MARK = re.compile(r"^[ \t]*(?:[-*][ \t]+)?\*\*\[([A-Z][A-Z0-9]*-[0-9]+)\]\*\*", re.M)
"""A requirement starts a paragraph or list item with its bold ID (a mention elsewhere does not)."""


@dataclass(frozen=True)
class Requirement:
    id: str
    level: str  # MUST, SHOULD, MAY or INFO
    text: str


def find_spec(start: Path | None = None) -> Path | None:
    """spec/protocol.md in the repository this package or `start` lives in."""
    roots = [start or Path.cwd(), Path(__file__).resolve()]
    for root in roots:
        for parent in [root, *root.parents]:
            candidate = parent / "spec" / "protocol.md"
            if candidate.is_file():
                return candidate
    return None


def level_of(text: str) -> str:
    if re.search(r"\bMUST\b|\bMUST NOT\b|\bREQUIRED\b|\bSHALL\b", text):
        return "MUST"
    if re.search(r"\bSHOULD\b|\bRECOMMENDED\b", text):
        return "SHOULD"
    if re.search(r"\bMAY\b|\bOPTIONAL\b", text):
        return "MAY"
    return "INFO"


def parse_requirements(text: str) -> dict[str, Requirement]:
    """Every **[ID]** marker and the text after it, up to the next marker or blank line."""
    out: dict[str, Requirement] = {}
    marks = list(REQ_MARK.finditer(text))
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        body = text[mark.end() : end]
        para = re.split(r"\n\s*\n|\n#", body, maxsplit=1)[0]
        req = Requirement(mark.group(1), level_of(para), " ".join(para.split())[:300])
        if req.id not in out:
            out[req.id] = req
    return out


INDEX_ROW = re.compile(
    r"^\|\s*([A-Z][A-Z0-9]*-[0-9]+)\s*\|\s*([A-Z ]+?)\s*\|\s*(.*?)\s*\|\s*$", re.M
)


def parse_index(text: str) -> dict[str, str]:
    """Levels from the spec's requirements index table (MUST NOT counts as MUST)."""
    return {m.group(1): m.group(2).split()[0] for m in INDEX_ROW.finditer(text)}


def load_requirements(path: Path | None = None) -> dict[str, Requirement]:
    """Requirements from the spec text; the index table, where present, decides the level."""
    spec = path or find_spec()
    if spec is None:
        return {}
    text = spec.read_text(encoding="utf-8")
    reqs = parse_requirements(text)
    for rid, level in parse_index(text).items():
        if rid in reqs:
            reqs[rid] = Requirement(rid, level, reqs[rid].text)
    return reqs
