"""Extension SPAN between real processes: used when both offer it, and a node started with
--no-extensions (plain version 1) still downloads from and serves to one that has it [EXT-3]."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from .conftest import DONE_TIMEOUT, Swarm, link_to, sha1_file

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


@pytest.mark.parametrize(
    ("seed_flags", "get_flags", "expected"),
    [((), (), ["span"]), (("--no-extensions",), (), []), ((), ("--no-extensions",), [])],
    ids=["both", "plain-seeder", "plain-downloader"],
)
async def test_extensions_in_force_only_when_both_offer_them(
    swarm: Swarm,
    source: tuple[Path, str],
    seed_flags: tuple[str, ...],
    get_flags: tuple[str, ...],
    expected: list[str],
) -> None:
    path, digest = source
    seeder, link = await swarm.seed("seeder", path, *seed_flags)
    getter = await swarm.get("getter", link, *get_flags)
    done = await getter.wait_for("completed", DONE_TIMEOUT)
    assert sha1_file(Path(done["path"])) == digest
    for proc in (seeder, getter):
        (up,) = proc.all("peer-connected")
        assert up["extensions"] == expected


async def test_a_plain_node_between_two_span_nodes(swarm: Swarm, source: tuple[Path, str]) -> None:
    """seeder (span) -> middle (plain) -> last (span): the last one is told only of the middle,
    and every connection works in the mode both of its ends allow."""
    path, digest = source
    _, link = await swarm.seed("seeder", path, "--max-upload-rate", "1MiB")
    middle = await swarm.get("middle", link, "--no-extensions", "--seed")  # stays for "last"
    last = await swarm.get("last", link_to(middle, link))
    done = await asyncio.gather(*(p.wait_for("completed", DONE_TIMEOUT) for p in (middle, last)))
    assert all(sha1_file(Path(e["path"])) == digest for e in done)
    for event in middle.all("peer-connected"):
        assert event["extensions"] == []
    modes = {tuple(e["extensions"]) for e in last.all("peer-connected")}
    assert () in modes  # with the middle one
