"""Serve mode against the reference downloader (`p2pshare get`), healthy and broken."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conformance.outcomes import Outcome
from conformance.serve.cli import judge, run_serve
from conformance.serve.trees import HOSTILE_TREES
from conftest import P2PSHARE

pytestmark = pytest.mark.slow


def _download(
    tmp_path: Path, *extra: str, timeout: float = 30, scenario: str = "swarm"
) -> dict[str, Outcome]:
    if not P2PSHARE.exists():
        pytest.skip("p2pshare CLI not installed in .venv")
    procs: list[subprocess.Popen[bytes]] = []

    def launch(link: str) -> None:
        out = tmp_path / "dl"
        out.mkdir()
        procs.append(
            subprocess.Popen(
                # no --exit-when-done: it keeps seeding, so the entry peer can fetch pieces back
                [str(P2PSHARE), "get", link, "-o", str(out), "--host", "127.0.0.1", *extra],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )

    try:
        obs = run_serve(size=512 * 1024, timeout=timeout, on_link=launch, scenario=scenario)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
            proc.wait(10)
    return {r.name: r.outcome for r in judge(obs, strict=True)}


def test_reference_downloader_passes(tmp_path: Path) -> None:
    outcomes = _download(tmp_path)
    must = {
        n: o
        for n, o in outcomes.items()
        if n not in ("serve/dials-lower-ids", "serve/refetches-elsewhere")
    }
    assert all(o in (Outcome.PASS, Outcome.UNSUPPORTED) for o in must.values()), outcomes
    assert outcomes["serve/completes"] == Outcome.PASS


def test_downloader_that_never_sends_have_is_caught(tmp_path: Path) -> None:
    outcomes = _download(tmp_path, "--fault", "no-have", timeout=8)
    assert outcomes["serve/completes"].is_failure, outcomes


def test_downloader_serving_corrupt_data_is_caught(tmp_path: Path) -> None:
    outcomes = _download(tmp_path, "--fault", "corrupt")
    assert outcomes["serve/serves-verified-data"].is_failure, outcomes


def test_reference_downloader_refuses_a_wrong_link(tmp_path: Path) -> None:
    outcomes = _download(tmp_path, timeout=15, scenario="wrong-link")
    assert outcomes["serve/link-share-checked"] == Outcome.PASS, outcomes


def test_downloader_from_a_bare_address_refuses_an_unsafe_name(tmp_path: Path) -> None:
    """The share comes from the peer's handshake, so only the downloader's own HS-10 check
    stands between "../escape.bin" and its disk."""
    outcomes = _download(tmp_path, timeout=10, scenario="unsafe-name")
    assert outcomes["serve/unsafe-name-refused"] == Outcome.PASS, outcomes


@pytest.mark.parametrize("scenario", sorted(HOSTILE_TREES))
def test_reference_downloader_refuses_hostile_trees(tmp_path: Path, scenario: str) -> None:
    """Every hostile tree (`..`, absolute, backslash, duplicate, case collision, a file where a
    folder is, too many files), hashing to the link's share ID, is refused by the real `get`
    with BAD_METAINFO, and nothing at all is written, inside the folder or beside it."""
    before = {p for p in tmp_path.parent.iterdir()}
    # (it returns as soon as the downloader hangs up; 65 537 entries take a while on a busy CI)
    outcomes = _download(tmp_path, timeout=45, scenario=scenario)
    assert outcomes["serve/hostile-tree-refused"] == Outcome.PASS, outcomes
    assert [p.name for p in tmp_path.iterdir()] == ["dl"]
    assert not any((tmp_path / "dl").iterdir())
    assert {p for p in tmp_path.parent.iterdir()} == before


def test_reference_downloader_fetches_a_tree(tmp_path: Path) -> None:
    """The fake swarm serves a folder: the reference downloader completes it cleanly."""
    outcomes = _download(tmp_path, scenario="tree")
    assert outcomes["serve/tree-handled"] == Outcome.PASS, outcomes
    assert outcomes["serve/completes"] == Outcome.PASS, outcomes
    assert outcomes["serve/no-violations"] == Outcome.PASS, outcomes
    assert (tmp_path / "dl" / "conformance" / "empty dir").is_dir()
