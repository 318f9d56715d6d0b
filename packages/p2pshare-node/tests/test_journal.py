"""The verified-piece journal, the download lock and the link-refusing opens (STORE)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from p2pshare_node.dirlock import DownloadLock, LockedError
from p2pshare_node.journal import RECORD, PieceJournal, read_journal
from p2pshare_node.paths import journal_path, part_path, state_path
from p2pshare_node.safeio import (
    NotEnoughSpaceError,
    UnexpectedFileError,
    check_room,
    human_bytes,
    open_for_writing,
)

SHARE = bytes(range(32))


def test_journal_lists_what_was_appended(tmp_path: Path) -> None:
    journal = PieceJournal(tmp_path / "j", SHARE)
    for index in (5, 0, 7, 5):
        journal.append(index)
    journal.sync()
    journal.close()
    assert read_journal(tmp_path / "j", SHARE, 10) == {0, 5, 7}


@given(cut=st.integers(min_value=0, max_value=8 * 6))
def test_a_torn_tail_loses_only_the_torn_record(
    tmp_path_factory: pytest.TempPathFactory, cut: int
) -> None:
    """A crash in the middle of an append leaves a partial record: it alone is skipped."""
    path = tmp_path_factory.mktemp("j") / "j"
    journal = PieceJournal(path, SHARE)
    for index in range(6):
        journal.append(index)
    journal.close()
    data = path.read_bytes()
    path.write_bytes(data[:cut])
    assert read_journal(path, SHARE, 10) == set(range(cut // RECORD.size))


def test_foreign_garbage_and_out_of_range_records_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "j"
    other = PieceJournal(path, bytes(32))  # another share that had the same name
    other.append(1)
    other.close()
    mine = PieceJournal(path, SHARE)
    mine.append(2)
    mine.append(50)  # beyond the piece count
    mine.close()
    with open(path, "ab") as fh:
        fh.write(os.urandom(64))
    assert read_journal(path, SHARE, 10) == {2}
    assert read_journal(tmp_path / "missing", SHARE, 10) == set()


def test_records_reach_the_file_in_one_write_per_flush(tmp_path: Path) -> None:
    """[STORE-4] the node flushes once per batch of actions, before anyone hears of them."""
    journal = PieceJournal(tmp_path / "j", SHARE)
    journal.append(1)
    journal.append(2)
    assert read_journal(tmp_path / "j", SHARE, 10) == set()
    journal.flush()
    assert read_journal(tmp_path / "j", SHARE, 10) == {1, 2}
    journal.flush()  # nothing new: nothing written
    assert (tmp_path / "j").stat().st_size == 2 * RECORD.size
    journal.close()


def test_clear_empties_the_journal(tmp_path: Path) -> None:
    journal = PieceJournal(tmp_path / "j", SHARE)
    journal.append(3)
    journal.clear()
    journal.append(4)
    journal.close()
    assert read_journal(tmp_path / "j", SHARE, 10) == {4}


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX links")
def test_open_for_writing_refuses_links_and_odd_files(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_bytes(b"keep")
    (tmp_path / "sym").symlink_to(target)
    with pytest.raises(UnexpectedFileError, match="symbolic link"):
        open_for_writing(tmp_path / "sym")
    os.link(target, tmp_path / "hard")
    with pytest.raises(UnexpectedFileError, match="hard links"):
        open_for_writing(tmp_path / "hard")
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(UnexpectedFileError, match="not a regular file"):
        open_for_writing(tmp_path / "fifo")
    with pytest.raises(UnexpectedFileError, match="already exists"):
        open_for_writing(target, exclusive=True)
    assert target.read_bytes() == b"keep"


def test_check_room_names_needed_and_free(tmp_path: Path) -> None:
    check_room(tmp_path, 1)
    with pytest.raises(NotEnoughSpaceError) as caught:
        check_room(tmp_path, 1 << 60)
    assert caught.value.needed == 1 << 60 and caught.value.free > 0
    assert human_bytes(1 << 40) == "1.0 TiB" and human_bytes(512) == "512 B"


def test_sidecar_names_fit_even_for_the_longest_names(tmp_path: Path) -> None:
    for name in ("a.bin", "x" * 255, "é" * 127):
        final = tmp_path / name
        for sidecar in (part_path(final), state_path(final), journal_path(final)):
            assert len(sidecar.name.encode()) + len(".12345678.tmp") + 1 <= 255
            assert sidecar.parent == tmp_path
    long_a, long_b = tmp_path / ("x" * 250 + "a"), tmp_path / ("x" * 250 + "b")
    assert part_path(long_a) != part_path(long_b)


def test_lock_is_exclusive_and_names_its_holder(tmp_path: Path) -> None:
    part = tmp_path / "f.part"
    lock = DownloadLock.acquire(part)
    code = (
        "import sys; from pathlib import Path; from p2pshare_node.dirlock import *\n"
        "try:\n DownloadLock.acquire(Path(sys.argv[1]))\nexcept LockedError as e:\n"
        " print(e.holder); sys.exit(3)\n"
    )
    other = subprocess.run(
        [sys.executable, "-c", code, str(part)], capture_output=True, text=True, timeout=30
    )
    assert other.returncode == 3, other.stderr
    assert f"pid {os.getpid()}" in other.stdout
    lock.release()
    again = DownloadLock.acquire(part)  # free once released
    again.release()
    assert not (tmp_path / "f.part.lock").exists()


def test_lock_error_type() -> None:
    error = LockedError(Path("x.lock"), "pid 1 on h")
    assert "pid 1 on h" in str(error)
