"""What the docs read out of spec/protocol.md: sections, requirement IDs with their one-line
summaries (section 18), and the meaning of every field of every message (the layout tables).

Pages explain bytes with these words instead of their own, so an explanation cannot drift from
the normative text. Every requirement has a stable anchor on the rendered spec: `#hs-5`.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from markdown.extensions.toc import slugify

ROOT = Path(__file__).resolve().parents[2]
SPEC_PAGE = "reference/protocol.md"
REQUIREMENT = re.compile(r"\*\*\[([A-Z]+-\d+)\]\*\*")
HEADING = re.compile(r"^(#{2,4}) (.+)$")


def spec_text() -> str:
    return (ROOT / "spec" / "protocol.md").read_text(encoding="utf-8")


def anchor(requirement: str) -> str:
    """The stable anchor of a requirement on the rendered spec: HS-5 -> hs-5."""
    return requirement.lower()


def with_anchors(text: str) -> str:
    """The spec's markdown, each requirement's bold tag given its id (attr_list), and each ID in
    the requirements index linked to it. The text itself is unchanged."""
    text = REQUIREMENT.sub(lambda m: f"**[{m[1]}]**{{ #{anchor(m[1])} }}", text)
    # "[RFC 2119] [RFC 8174]" is a citation, not a reference-style link: escaped, it renders
    # the same and no link resolver looks for a target named "RFC 8174".
    text = text.replace("[RFC ", "\\[RFC ")
    return re.sub(
        r"^\| ([A-Z]+-\d+) \|",
        lambda m: f"| [{m[1]}](#{anchor(m[1])}) |",
        text,
        flags=re.MULTILINE,
    )


def link(requirement: str, depth: int) -> str:
    """A markdown link to a requirement, from a page `depth` folders below the docs root; its
    title is the requirement's summary from the index."""
    summary = summaries().get(requirement, "").replace('"', "'")
    return f'[{requirement}]({"../" * depth}{SPEC_PAGE}#{anchor(requirement)} "{summary}")'


@functools.cache
def summaries() -> dict[str, str]:
    """Requirement ID -> its level and summary, from the requirements index (section 18)."""
    out = {}
    for line in spec_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and re.fullmatch(r"[A-Z]+-\d+", cells[0]):
            out[cells[0]] = f"{cells[1]}: {cells[2]}"
    return out


@dataclass(frozen=True)
class Section:
    number: str  # "7.1"
    title: str  # "7.1 have (0x02)"
    lines: tuple[str, ...]  # its text up to the next heading of any level

    @property
    def slug(self) -> str:
        slug: str = slugify(self.title, "-")
        return slug

    @property
    def requirements(self) -> list[str]:
        return REQUIREMENT.findall("\n".join(self.lines))

    def link(self, depth: int) -> str:
        return f"[§{self.number}]({'../' * depth}{SPEC_PAGE}#{self.slug})"


@functools.cache
def sections() -> dict[str, Section]:
    """Numbered sections by number ("5", "5.1", "7.1", ...)."""
    out: dict[str, Section] = {}
    title: str | None = None
    body: list[str] = []
    for line in [*spec_text().splitlines(), "## end"]:
        match = HEADING.match(line)
        if not match:
            body.append(line)
            continue
        if title is not None:
            number = title.split(" ", 1)[0].rstrip(".")
            if re.fullmatch(r"\d+(\.\d+)*", number):
                out[number] = Section(number, title, tuple(body))
        title, body = match[2], []
    return out


def section_of(message_id: int) -> Section:
    """The section that lays out a message id (the one with its `<1: id=0x..>` layout, or for a
    message that shares another's layout, the section named in the frame table)."""
    for section in sections().values():
        if any(_layout_line(line, message_id) for line in section.lines):
            return section
    number = _frame_table()[message_id][0]
    return sections()[number]


def _layout_line(line: str, message_id: int) -> bool:
    return f"id=0x{message_id:02X}>" in line or f"id 0x{message_id:02X}" in line


@functools.cache
def _frame_table() -> dict[int, tuple[str, str]]:
    """The message id table of section 4: id -> (section number, name)."""
    out = {}
    for line in sections()["4"].lines:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and re.fullmatch(r"0x[0-9A-F]{2}", cells[0]):
            out[int(cells[0], 16)] = (cells[2].split(" ", 1)[0], cells[1])
    return out


def field_meanings(message_id: int) -> dict[int, str]:
    """Payload offset -> meaning, from the layout table that follows the message's layout line
    (a message that shares another's layout, such as reject, has none of its own: None)."""
    lines = [line for s in sections().values() for line in s.lines]
    for i, line in enumerate(lines):
        if _layout_line(line, message_id) and "<1: id" in line:
            return _table_after(lines, i)
    return {}


def frame_meanings() -> dict[int, str]:
    """Frame offset -> meaning for the frame header (the table of FRAME-1)."""
    lines = list(sections()["4"].lines)
    start = next(i for i, line in enumerate(lines) if "[FRAME-1]" in line)
    return _table_after(lines, start)


def _table_after(lines: list[str], start: int) -> dict[int, str]:
    """The first table after lines[start], before the next message's layout line: offset ->
    meaning (prefixed with the field's name where the table has a field column)."""
    out: dict[int, str] = {}
    in_table = False
    for line in lines[start + 1 :]:
        if line.startswith("|"):
            in_table = True
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if cells[0].isdigit():
                name = f"`{cells[3]}`: " if len(cells) == 5 else ""
                out[int(cells[0])] = name + cells[-1]
        elif in_table or "<1: id=" in line:
            break
    return out


def metainfo_layout() -> list[tuple[str, str, str]]:
    """The canonical metainfo encoding's table (section 8.1): (field, size, meaning) in order;
    size is a number of bytes or an expression of earlier fields ("name_len", "32 x n")."""
    out = []
    for line in sections()["8.1"].lines:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0][:1].isdigit():
            out.append((cells[3], cells[1], cells[4]))
    return out
