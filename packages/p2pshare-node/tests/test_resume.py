"""The resume state file: readable JSON, atomic, and never trusted blindly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from p2pshare_core.metainfo import Metainfo
from p2pshare_node.resume import BadStateError, ResumeState, find_state, load_state, save_state


def _meta(name: str = "f.bin") -> Metainfo:
    return Metainfo(name, 100_000, 16_384, b"\1" * 20, tuple(bytes([i]) * 32 for i in range(7)))


def test_round_trip_and_human_readable(tmp_path: Path) -> None:
    state = ResumeState(
        metainfo=_meta(), link="p2pshare://h:1/ab", verified=frozenset({0, 1, 2, 5})
    )
    path = tmp_path / "f.bin.part.json"
    save_state(path, state)
    doc = json.loads(path.read_text())
    assert doc["verified"] == "0-2,5"
    assert doc["name"] == "f.bin" and doc["size"] == 100_000
    assert doc["share_id"] == state.share_id.hex()
    assert load_state(path) == state
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin.part.json"]  # no temp file left


def test_find_state_by_share_id(tmp_path: Path) -> None:
    wanted = ResumeState(metainfo=_meta("a.bin"), link="", verified=frozenset({1}))
    other = ResumeState(metainfo=_meta("b.bin"), link="", verified=frozenset())
    save_state(tmp_path / "a.bin.part.json", wanted)
    save_state(tmp_path / "b.bin.part.json", other)
    (tmp_path / "c.bin.part.json").write_text("{not json")
    found = find_state(tmp_path, wanted.share_id)
    assert found is not None and found[1] == wanted
    assert find_state(tmp_path, b"\0" * 32) is None


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(verified="0-99"),
        lambda d: d.update(share_id="00" * 32),
        lambda d: d.update(metainfo="!!!"),
        lambda d: d.update(version=9),
        lambda d: d.pop("metainfo"),
    ],
)
def test_tampered_state_is_rejected(tmp_path: Path, mutate) -> None:  # type: ignore[no-untyped-def]
    state = ResumeState(metainfo=_meta(), link="", verified=frozenset({0}))
    doc = json.loads(state.to_json())
    mutate(doc)
    path = tmp_path / "s.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(BadStateError):
        load_state(path)
