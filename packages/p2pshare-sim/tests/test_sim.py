"""The simulator in its quick form: a few dozen peers, a few seconds of wall time."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from p2pshare_sim import ScenarioError, World, builtin_names, load, simulate
from p2pshare_sim.network import PAYLOAD_SHARE
from p2pshare_sim.scenario import parse

QUICK = {"peers": 12, "pieces": 24}


def _quick(name: str) -> dict[str, object]:
    return simulate(load(name).with_overrides(**QUICK), seed=7)


def test_flash_crowd_completes_and_respects_the_bound() -> None:
    """No schedule beats Kumar-Ross: a simulated swarm faster than D_min would mean the network
    model creates capacity. Every downloader gets the file; nobody faster than its own link."""
    scenario = load("flash-crowd").with_overrides(**QUICK)
    world = World(scenario, seed=3)
    world.run()
    r = world.recorder.result()
    c = r["completion"]
    assert c["completed"] == 12 and c["incomplete"] == 0
    bound = r["bound"]
    assert r["d"] >= bound["d_min"]
    assert 1.0 <= r["d_over_dmin"] < 10
    assert c["min"] >= bound["slowest_download"]  # (one class: every link is the slowest)
    assert c["min"] <= c["median"] <= c["p95"] <= c["max"] == r["d"]
    for peer in world.peers:
        assert all(peer.have) and peer.swarm.complete
    # every block sent was received, or is still on its way (the run stops at the last one)
    received = sum(p.received for p in world.peers)
    on_the_way = sum(e[4][1] for e in world._queue if e[2] == 1)  # type: ignore[index]
    assert received + on_the_way == sum(p.uploaded for p in world.peers)
    assert sum(p.stored for p in world.peers) == 12 * scenario.file_size
    series = r["series"]
    assert series["completed"][-1] == 12
    assert series["rarest_piece_copies"][0] == 1 and series["rarest_piece_copies"][-1] == 13
    assert all(0 <= u <= 1 for u in series["seeder_utilisation"] + series["swarm_utilisation"])


def test_same_seed_same_numbers_bit_for_bit_whatever_the_hash_seed() -> None:
    """Determinism: the JSON of two runs is identical, even under different PYTHONHASHSEEDs
    (set and dict orders of str/bytes must never leak into the event order)."""
    outputs = []
    for hash_seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=hash_seed)
        command = [sys.executable, "-m", "p2pshare_cli", "simulate", "flash-crowd", "--json"]
        command += ["--peers", "10", "--pieces", "16", "--seed", "5", "--no-progress"]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1]
    result = json.loads(outputs[0])
    assert result["peers"] == 10 and result["pieces"] == 16
    assert set(result["completion"]) >= {"min", "median", "p95", "max"}
    assert isinstance(result["d_over_dmin"], float)


def test_scenario_files_are_checked() -> None:
    base = {"swarm": {"peers": 3, "pieces": 4}, "class": [{"name": "a"}]}
    assert parse(base, "ok").peers == 3
    with pytest.raises(ScenarioError, match="unknown key"):
        parse({**base, "swarm": {"peers": 3, "pieces": 4, "peer": 1}}, "typo")
    with pytest.raises(ScenarioError, match="SwarmConfig"):
        parse({**base, "config": {"upload_slot": 3}}, "typo")
    with pytest.raises(ScenarioError, match="class"):
        parse({"swarm": {"peers": 3, "pieces": 4}}, "no-class")
    with pytest.raises(ScenarioError, match="no scenario"):
        load("no-such-scenario")
    with pytest.raises(ScenarioError, match="valid share"):
        parse({**base, "swarm": {"peers": 3, "pieces": 4, "piece_kib": 3}}, "bad")
    assert "flash-crowd" in builtin_names()


def test_cli_table_plot_and_usage_errors(tmp_path: Path) -> None:
    figure = tmp_path / "run.png"
    command = [sys.executable, "-m", "p2pshare_cli", "simulate", "flash-crowd", "--peers", "6"]
    command += ["--pieces", "8", "--plot", str(figure), "--no-progress"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "D/D_min" in done.stdout and "median" in done.stdout
    assert figure.read_bytes().startswith(b"\x89PNG")
    bad = subprocess.run(
        [sys.executable, "-m", "p2pshare_cli", "simulate", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "flash-crowd" in bad.stderr


def _run(name: str, seed: int = 2) -> tuple[World, dict[str, Any]]:
    world = World(load(name).with_overrides(**QUICK), seed)
    world.run()
    return world, world.recorder.result()


@pytest.mark.parametrize("name", sorted(set(builtin_names()) - {"flash-crowd"}))
def test_every_scenario_runs_in_its_quick_form(name: str) -> None:
    """Each shipped scenario, a dozen peers: everyone completes, nobody beats the bound, and
    the scenario's own effect shows."""
    world, r = _run(name)
    seeder = world.peers[0]
    if name == "seeder-leaves":
        # the seeder super-seeds (spec SEED): its one copy is made of distinct pieces, so the
        # downloaders finish from each other after it left
        assert seeder.left_at is not None and not seeder.alive
        assert seeder.uploaded == world.metainfo.file_size  # (the queue died with it)
        assert seeder.left_at < r["completion"]["min"]
    assert r["completion"]["completed"] == 12 and not r["stalled"]
    assert r["d"] >= r["bound"]["d_min"]
    if name == "corrupt-peers":
        # a ban takes four bad pieces at one downloader (BEH-12); with one-piece pipelines the
        # corrupt peer's pieces spread thinly over a dozen downloaders, so not every run bans
        _, other = _run(name, seed=3)
        assert r["wasted"]["corrupt_bytes"] > 0 and r["bans"] + other["bans"] >= 1
        assert r["classes"]["corrupt"]["peers"] == 1
    elif name == "free-riders":
        assert r["classes"]["free-rider"]["peers"] == 3
        assert r["classes"]["free-rider"]["uploaded_bytes"] == 0
    elif name == "partition-heals":
        partition = world.scenario.partition
        assert partition is not None
        cut = [p for p in world.peers if p.group == 1]
        assert len(cut) == 5  # 40 % of 12
        assert all(p.completed_at is not None and p.completed_at > partition.heal for p in cut)
    elif name == "churn":
        assert len({p.arrived_at for p in world.peers}) == 13  # one at a time
        hasty = World(dataclasses.replace(world.scenario, linger=0.5), 2)
        hasty.run()  # (with 30 s of lingering nobody has left when the last one completes)
        left = [p for p in hasty.peers if p.left_at is not None]
        assert left and all(p.left_at == p.completed_at + 0.5 for p in left)  # type: ignore[operator]
        assert hasty.recorder.completed == 12
        _, other = _run(name, seed=3)
        assert other["completion"] != r["completion"]  # arrivals follow the seed
    elif name == "heterogeneous":
        classes = r["classes"]
        assert classes["fibre"]["median"] < classes["mobile"]["median"]


def test_a_replayed_lab_run_arrives_on_time_from_a_link_and_fetches_the_metainfo() -> None:
    """What scripts/validate.py replays: downloaders arriving at measured times, each given
    only the seeder's address (a share link) and the share ID, not the metainfo."""
    base = load("six-hosts-lossy-lan").with_overrides(pieces=16)
    assert base.bootstrap == "seeders" and base.fetch_metainfo and base.peers == 5
    times = (0.0, 0.25, 0.5, 1.0, 3.0)
    scenario = dataclasses.replace(base, arrival="at", arrival_times=times)
    world = World(scenario, seed=4)
    world.run()
    leechers = world.peers[1:]
    assert [p.arrived_at for p in leechers] == list(times)
    assert all(p.completed_at is not None for p in leechers)
    assert all(p.swarm.metainfo == world.metainfo for p in leechers)  # fetched, and verified
    # told only of the seeder, every downloader still met others (by PEX)
    assert all(any(not link.dst.seeder for link in p.links.values()) for p in leechers)
    table = {"swarm": {"peers": 2, "pieces": 4}, "class": [{"name": "a"}]}
    with pytest.raises(ScenarioError, match="arrival_times"):
        parse({**table, "swarm": {"peers": 2, "pieces": 4, "arrival": "at"}}, "missing")
    with pytest.raises(ScenarioError, match="one time"):
        parse(
            {**table, "swarm": {"peers": 2, "pieces": 4, "arrival": "at", "arrival_times": [1]}},
            "short",
        )
    with pytest.raises(ScenarioError, match="bootstrap"):
        parse({**table, "swarm": {"peers": 2, "pieces": 4, "bootstrap": "dht"}}, "bad")


def test_a_seeder_leaving_after_one_copy_without_super_seeding_kills_the_swarm() -> None:
    """What the simulator found (#19): a plain seeder's one copy is mostly the same pieces sent
    to several downloaders (they all start from nothing and pick blind): the pieces it never
    sent are lost, and the run says so instead of idling to max_time."""
    scenario = load("seeder-leaves").with_overrides(**QUICK)
    plain = dataclasses.replace(
        scenario, seeder=dataclasses.replace(scenario.seeder, super_seed=False)
    )
    world = World(plain, 2)
    world.run()
    r = world.recorder.result()
    assert world.peers[0].uploaded == world.metainfo.file_size and not world.peers[0].alive
    assert r["stalled"] and min(world.copies) == 0
    assert r["completion"]["completed"] == 0 and r["d_over_dmin"] is None


def test_link_rates_carry_headers_and_a_busy_uplink_queues() -> None:
    """A scenario's rates are link rates: payload gets PAYLOAD_SHARE of them (the headers of
    every packet take the rest), and the bound is computed on that. A saturated uplink with a
    buffer (queue_ms) delays what it sends by that much."""
    base = load("flash-crowd").with_overrides(peers=1, pieces=16)
    plain = World(base, seed=1)
    plain.run()
    rate = base.seeder.upload * PAYLOAD_SHARE  # (100 Mbit/s seeder, 100 Mbit/s download)
    assert plain.recorder.bound.d_min == pytest.approx(base.file_size / rate)
    done = plain.peers[1].completed_at
    assert done is not None and done >= base.file_size / rate
    seeder = dataclasses.replace(base.seeder, queue=0.25)
    queued = World(dataclasses.replace(base, seeder=seeder), seed=1)
    queued.run()
    later = queued.peers[1].completed_at
    assert later is not None and later >= done + 0.25
    with pytest.raises(ScenarioError, match="positive"):
        parse({"swarm": {"peers": 1, "pieces": 4}, "class": [{"queue_ms": -1}]}, "bad")
