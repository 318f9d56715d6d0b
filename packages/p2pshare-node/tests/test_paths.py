"""A file name from a peer never becomes a path outside the download folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from p2pshare_node.paths import UnsafeNameError, part_path, safe_output_path, state_path


@pytest.mark.parametrize(
    "name",
    ["../evil", "..", ".", "a/b", "a\\b", "/etc/passwd", "C:evil", "con.txt", "x\x00y", "", "dot."],
)
def test_unsafe_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(UnsafeNameError):
        safe_output_path(tmp_path, name)


def test_plain_name_stays_inside(tmp_path: Path) -> None:
    path = safe_output_path(tmp_path, "movie.mkv")
    assert path == tmp_path.resolve() / "movie.mkv"
    assert part_path(path).name == "movie.mkv.part"
    assert state_path(path).name == "movie.mkv.part.json"


def test_symlinked_name_is_not_resolved_to_its_target(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    inside = tmp_path / "dl"
    outside.mkdir()
    inside.mkdir()
    try:
        (inside / "link").symlink_to(outside / "target")
    except (OSError, NotImplementedError):
        pytest.skip("symlinks not available")
    path = safe_output_path(inside, "link")
    # the link itself, never its target: the node then refuses it as an existing file, and
    # opens every file it writes without following links (safeio)
    assert path == inside.resolve() / "link" and path.is_symlink()
