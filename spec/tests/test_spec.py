"""Consistency checks on spec/protocol.md and the JSON test vectors.

Why: requirement IDs are cited by code, tests, conformance checks and docs, so the spec must keep
them unique, tagged with exactly one BCP 14 level, listed in the index, and every vector must
point at an ID that exists. Run `python spec/tests/test_spec.py --index` to print the index.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

SPEC_DIR = Path(__file__).resolve().parent.parent
PROTOCOL = SPEC_DIR / "protocol.md"
VECTORS = SPEC_DIR / "vectors"

TAG = re.compile(r"^(?:[-*]\s+)?\*\*\[([A-Z]+-[0-9]+)\]\*\*")
KEYWORD = re.compile(
    r"\b(MUST NOT|MUST|SHOULD NOT|SHOULD|MAY|SHALL NOT|SHALL|REQUIRED|"
    r"RECOMMENDED|NOT RECOMMENDED|OPTIONAL)\b"
)
ALLOWED = ("MUST", "MUST NOT", "SHOULD", "SHOULD NOT", "MAY")
RANK = {"MUST": 3, "MUST NOT": 3, "SHOULD": 2, "SHOULD NOT": 2, "MAY": 1}
PREFIXES = {
    "TERM",
    "FRAME",
    "HS",
    "BF",
    "MSG",
    "SEED",
    "META",
    "NAME",
    "LINK",
    "STATE",
    "ERR",
    "PEX",
    "DUP",
    "BEH",
    "SEC",
    "STORE",
    "EXT",
    "LSD",
    "SPAN",
    "TREE",
}
INDEX_HEADING = "## 18. Requirements index"
CONVENTIONS_HEADING = "## 1. Conventions and terminology (TERM)"


@dataclass(frozen=True)
class Requirement:
    rid: str
    text: str
    line: int

    @property
    def keywords(self) -> list[str]:
        return KEYWORD.findall(self.text)

    @property
    def strongest_rank(self) -> int:
        return max((RANK.get(k, 0) for k in self.keywords), default=0)


def _lines() -> list[str]:
    return PROTOCOL.read_text(encoding="utf-8").splitlines()


def _body_end(lines: list[str]) -> int:
    return lines.index(INDEX_HEADING)


def parse_requirements() -> list[Requirement]:
    """Each tagged paragraph runs from its tag line to the next blank line or tag line."""
    lines = _lines()
    reqs: list[Requirement] = []
    end = _body_end(lines)
    i = 0
    while i < end:
        match = TAG.match(lines[i])
        if not match:
            i += 1
            continue
        start = i
        text = [lines[i]]
        i += 1
        while i < end and lines[i].strip() and not TAG.match(lines[i]):
            text.append(lines[i])
            i += 1
        reqs.append(Requirement(match.group(1), " ".join(t.strip() for t in text), start + 1))
    return reqs


def parse_index() -> dict[str, tuple[str, str]]:
    lines = _lines()
    rows: dict[str, tuple[str, str]] = {}
    for line in lines[_body_end(lines) :]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and re.fullmatch(r"[A-Z]+-[0-9]+", cells[0]):
            assert cells[0] not in rows, f"{cells[0]} listed twice in the index"
            rows[cells[0]] = (cells[1], cells[2])
    return rows


def load_vectors() -> list[tuple[str, dict[str, object]]]:
    out: list[tuple[str, dict[str, object]]] = []
    for path in sorted(VECTORS.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        out.extend((path.name, v) for v in data["vectors"])
    return out


def test_ids_are_unique_and_well_formed() -> None:
    reqs = parse_requirements()
    ids = [r.rid for r in reqs]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    assert not dupes, f"duplicate requirement IDs: {dupes}"
    assert len(ids) >= 70
    for r in reqs:
        assert r.rid.split("-")[0] in PREFIXES, f"{r.rid}: unknown prefix"


def test_ids_are_numbered_in_order_within_each_prefix() -> None:
    seen: dict[str, list[int]] = {}
    for r in parse_requirements():
        prefix, num = r.rid.split("-")
        seen.setdefault(prefix, []).append(int(num))
    for prefix, nums in seen.items():
        assert nums == list(range(1, len(nums) + 1)), f"{prefix} numbering has gaps: {nums}"


def test_every_requirement_has_a_bcp14_keyword() -> None:
    for r in parse_requirements():
        assert r.keywords, f"{r.rid} (line {r.line}) has no BCP 14 keyword"
        bad = [k for k in r.keywords if k not in ALLOWED]
        assert not bad, f"{r.rid}: use only MUST/MUST NOT/SHOULD/SHOULD NOT/MAY, found {bad}"


def test_index_lists_every_requirement_with_its_level() -> None:
    reqs = {r.rid: r for r in parse_requirements()}
    index = parse_index()
    assert set(index) == set(reqs), (
        f"missing from index: {sorted(set(reqs) - set(index))}; "
        f"index-only: {sorted(set(index) - set(reqs))}"
    )
    for rid, (level, summary) in index.items():
        req = reqs[rid]
        assert level in ALLOWED, f"{rid}: bad level {level!r}"
        assert level in req.keywords, f"{rid}: index level {level} does not occur in the text"
        assert RANK[level] == req.strongest_rank, f"{rid}: {level} is not the strongest keyword"
        assert summary, f"{rid}: empty summary"


def test_keywords_only_inside_requirements() -> None:
    """An untagged MUST would be a requirement nobody can cite."""
    lines = _lines()
    end = _body_end(lines)
    conv_start = lines.index(CONVENTIONS_HEADING)
    conv_end = next(i for i in range(conv_start + 1, end) if lines[i].startswith("Terms:"))
    inside = set()
    for r in parse_requirements():
        i = r.line - 1
        while i < end and lines[i].strip() and (i == r.line - 1 or not TAG.match(lines[i])):
            inside.add(i)
            i += 1
    stray = [
        f"line {i + 1}: {lines[i].strip()[:80]}"
        for i in range(end)
        if KEYWORD.search(lines[i]) and i not in inside and not conv_start <= i < conv_end
    ]
    assert not stray, "BCP 14 keywords outside tagged requirements:\n" + "\n".join(stray)


def test_every_vector_cites_an_existing_requirement() -> None:
    ids = {r.rid for r in parse_requirements()}
    vectors = load_vectors()
    assert len(vectors) >= 60
    for fname, v in vectors:
        assert v["requirement"] in ids, f"{fname}:{v.get('name')}: unknown {v['requirement']}"


def test_vector_names_are_unique_per_file() -> None:
    seen: set[tuple[str, object]] = set()
    for fname, v in load_vectors():
        key = (fname, v["name"])
        assert key not in seen, f"duplicate vector name {key}"
        seen.add(key)


def test_references_to_ids_in_prose_exist() -> None:
    ids = {r.rid for r in parse_requirements()}
    text = PROTOCOL.read_text(encoding="utf-8")
    cited = set(re.findall(r"\b((?:" + "|".join(PREFIXES) + r")-[0-9]+)\b", text))
    assert cited <= ids, f"prose cites unknown IDs: {sorted(cited - ids)}"


def test_vector_files_are_up_to_date() -> None:
    """The committed JSON must be exactly what generate.py produces."""
    result = subprocess.run(
        [sys.executable, str(VECTORS / "generate.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_worked_examples_match_the_vectors() -> None:
    """The hex in Section 17 is the same as the vectors', so the prose cannot drift."""
    text = PROTOCOL.read_text(encoding="utf-8")
    frames = {v["name"]: v for _, v in load_vectors() if "hex" in v}
    for name in ("handshake-example", "request-example"):
        assert f"`{frames[name]['hex']}`" in text, f"Section 17 does not show vector {name}"
    meta = json.loads((VECTORS / "metainfo.json").read_text(encoding="utf-8"))
    example = next(v for v in meta["vectors"] if v["name"] == "example-1mb")
    assert example["share_id"] in text
    assert example["metainfo"]["file_sha1"] in text


def print_index() -> None:
    index = parse_index()
    for r in parse_requirements():
        level, summary = index.get(r.rid, ("?", "?"))
        print(f"{r.rid:9} {level:10} {summary}")


if __name__ == "__main__":
    if "--index" in sys.argv:
        print_index()
    else:
        sys.exit(pytest.main([__file__, "-q"]))
