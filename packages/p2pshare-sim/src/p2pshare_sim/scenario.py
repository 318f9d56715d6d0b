"""Scenario files: a swarm to simulate, as a small declarative TOML file.

A scenario names the population (seeders and classes of downloaders with their link capacities,
latency and behaviour), how they arrive and leave, the share's geometry, the network's loss and
events such as a partition. Everything is validated here, once, so the simulator can trust it.
Units are the ones people quote: Mbit/s, milliseconds, seconds, KiB.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from p2pshare_core.config import SwarmConfig
from p2pshare_core.metainfo import is_valid_piece_size

__all__ = ["Partition", "PeerClass", "Scenario", "ScenarioError", "builtin_names", "load"]

MBIT = 1_000_000 / 8  # bytes/s in one Mbit/s


class ScenarioError(ValueError):
    """The scenario file is missing, unreadable or describes something impossible."""


@dataclass(frozen=True, slots=True)
class PeerClass:
    """A kind of peer: its access link and how it behaves."""

    name: str
    share: float  # fraction of the downloaders in this class
    upload: float  # bytes/s
    download: float  # bytes/s
    latency: float  # one-way access latency, seconds (a link's latency is the sum of its ends')
    # seconds a frame waits in the access link's buffer while the upload is saturated: a
    # loss-based TCP keeps a busy uplink's buffer filled (bufferbloat), so a handshake, a
    # request or a block sent then queues behind the other connections' data
    queue: float = 0.0
    free_rider: bool = False  # never uploads: no upload slots, no upload capacity
    corrupt: bool = False  # serves blocks that fail the piece hash
    super_seed: bool = False  # a seeder that super-seeds (SwarmConfig.super_seeding, spec SEED)


@dataclass(frozen=True, slots=True)
class Partition:
    """At `start`, a `fraction` of the downloaders is cut off from everyone else until `heal`."""

    start: float
    heal: float
    fraction: float


@dataclass(frozen=True, slots=True)
class Scenario:
    """One swarm to simulate (see the files in `p2pshare_sim/scenarios/`)."""

    name: str
    description: str
    peers: int  # downloaders (seeders come on top)
    pieces: int
    piece_size: int  # bytes
    seeders: int
    seeder: PeerClass
    classes: tuple[PeerClass, ...]
    arrival: str = "flash"  # "flash": all at t=0; "poisson": one every 1/arrival_rate s on average;
    # "at": downloader i arrives at arrival_times[i] (a replay of measured start times)
    arrival_rate: float = 1.0  # downloaders per second (poisson)
    arrival_times: tuple[float, ...] = ()
    # what a joining downloader is told: "tracker" (tracker_peers random present peers) or
    # "seeders" (the seeders' addresses only, as a share link names its seeder)
    bootstrap: str = "tracker"
    # downloaders start with the share ID only and fetch the metainfo from their peers (as
    # `p2pshare get LINK` does); false: every peer knows it from the start
    fetch_metainfo: bool = False
    linger: float | None = None  # seconds a downloader seeds after completing (None: stays)
    seeder_copies: float | None = None  # seeders leave after uploading this many copies
    partition: Partition | None = None
    loss: float = 0.0  # random packet loss on every link (0..0.2)
    hash_rate: float = 500e6  # bytes/s a peer hashes (SHA-256 per piece, SHA-1 of the file)
    tracker_peers: int = 20  # addresses a joining peer gets (random present peers)
    max_time: float = 36_000.0  # simulated seconds before giving up
    config: dict[str, Any] = field(default_factory=dict)  # SwarmConfig overrides

    @property
    def file_size(self) -> int:
        return self.pieces * self.piece_size

    def swarm_config(self, peer_class: PeerClass) -> SwarmConfig:
        """The core's configuration for a peer of `peer_class` (free riders: no upload slot)."""
        changes = dict(self.config)
        if peer_class.free_rider:
            changes["upload_slots"] = 0
        if peer_class.super_seed:
            changes["super_seeding"] = True
        return dataclasses.replace(SwarmConfig(), **changes)

    def with_overrides(self, *, peers: int | None = None, pieces: int | None = None) -> Scenario:
        """The same scenario with the command line's --peers / --pieces."""
        changes: dict[str, Any] = {}
        if peers is not None:
            changes["peers"] = peers
        if pieces is not None:
            changes["pieces"] = pieces
        result = dataclasses.replace(self, **changes)
        _check(result)
        return result


def builtin_names() -> list[str]:
    """The scenarios shipped with the package, by name (file name without .toml)."""
    folder = resources.files("p2pshare_sim") / "scenarios"
    return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


def load(where: str | Path) -> Scenario:
    """A scenario from a file path, or the name of a shipped one (`flash-crowd`)."""
    path = Path(where)
    if path.is_file():
        text, name = path.read_text(encoding="utf-8"), path.stem
    else:
        name = str(where).removesuffix(".toml")
        resource = resources.files("p2pshare_sim") / "scenarios" / f"{name}.toml"
        if "/" in name or "\\" in name or not resource.is_file():
            known = ", ".join(builtin_names())
            raise ScenarioError(f"no scenario file {where!r} (shipped scenarios: {known})")
        text = resource.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{where}: {exc}") from None
    return parse(data, name)


def parse(data: dict[str, Any], name: str) -> Scenario:
    """A scenario from a decoded TOML document."""
    try:
        return _parse(dict(data), name)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ScenarioError):
            raise
        raise ScenarioError(f"scenario {name!r}: {exc}") from None


def _parse(data: dict[str, Any], name: str) -> Scenario:
    swarm = dict(data.pop("swarm", {}))
    seeder = _peer_class("seeder", dict(data.pop("seeder", {})), share=1.0)
    raw_classes = data.pop("class", [])
    classes = tuple(_peer_class(c.pop("name", f"class{i}"), c) for i, c in enumerate(raw_classes))
    if not classes:
        raise ScenarioError(f"scenario {name!r}: at least one [[class]] of downloaders")
    partition = None
    if "partition" in data:
        part = dict(data.pop("partition"))
        partition = Partition(
            float(part.pop("start")), float(part.pop("heal")), float(part.pop("fraction"))
        )
        _no_extra("partition", part)
    description = str(data.pop("description", ""))
    config = dict(data.pop("config", {}))
    _no_extra("the top level", data)
    known = {f.name for f in dataclasses.fields(SwarmConfig)}
    for key in config:
        if key not in known:
            raise ScenarioError(f"[config] {key!r} is not a SwarmConfig field")
    scenario = Scenario(
        name=name,
        description=description,
        peers=int(swarm.pop("peers")),
        pieces=int(swarm.pop("pieces")),
        piece_size=int(swarm.pop("piece_kib", 256)) * 1024,
        seeders=int(swarm.pop("seeders", 1)),
        seeder=seeder,
        classes=classes,
        arrival=str(swarm.pop("arrival", "flash")),
        arrival_rate=float(swarm.pop("arrival_rate", 1.0)),
        arrival_times=tuple(float(t) for t in swarm.pop("arrival_times", ())),
        bootstrap=str(swarm.pop("bootstrap", "tracker")),
        fetch_metainfo=bool(swarm.pop("fetch_metainfo", False)),
        linger=_optional_float(swarm.pop("linger", None)),
        seeder_copies=_optional_float(swarm.pop("seeder_copies", None)),
        partition=partition,
        loss=float(swarm.pop("loss", 0.0)),
        hash_rate=float(swarm.pop("hash_mbyte_per_s", 500)) * 1e6,
        tracker_peers=int(swarm.pop("tracker_peers", 20)),
        max_time=float(swarm.pop("max_time", 36_000.0)),
        config=config,
    )
    _no_extra("[swarm]", swarm)
    _check(scenario)
    return scenario


def _peer_class(name: str, table: dict[str, Any], share: float | None = None) -> PeerClass:
    result = PeerClass(
        name=name,
        share=float(table.pop("share", 1.0 if share is None else share)),
        upload=float(table.pop("upload_mbit", 10.0)) * MBIT,
        download=float(table.pop("download_mbit", 100.0)) * MBIT,
        latency=float(table.pop("latency_ms", 20.0)) / 1000,
        queue=float(table.pop("queue_ms", 0.0)) / 1000,
        free_rider=bool(table.pop("free_rider", False)),
        corrupt=bool(table.pop("corrupt", False)),
        super_seed=bool(table.pop("super_seed", False)),
    )
    _no_extra(f"class {name!r}", table)
    if min(result.upload, result.latency, result.share, result.queue) < 0 or result.download <= 0:
        raise ScenarioError(f"class {name!r}: capacities and latency must be positive")
    return result


def _optional_float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def _no_extra(where: str, table: dict[str, Any]) -> None:
    if table:
        raise ScenarioError(f"unknown key(s) in {where}: {', '.join(sorted(table))}")


def _check(s: Scenario) -> None:
    if s.peers < 1 or s.seeders < 1:
        raise ScenarioError("need at least one downloader and one seeder")
    if s.pieces < 1 or not is_valid_piece_size(s.piece_size):
        raise ScenarioError(f"{s.pieces} pieces of {s.piece_size} bytes is not a valid share")
    if s.arrival not in ("flash", "poisson", "at") or s.arrival_rate <= 0:
        raise ScenarioError("arrival is 'flash', 'poisson' (with arrival_rate > 0) or 'at'")
    if (s.arrival == "at") != bool(s.arrival_times):
        raise ScenarioError("arrival_times go with arrival = 'at' (and it needs them)")
    if s.arrival == "at" and (len(s.arrival_times) != s.peers or min(s.arrival_times) < 0):
        raise ScenarioError(f"arrival_times: one time >= 0 per downloader ({s.peers})")
    if s.bootstrap not in ("tracker", "seeders"):
        raise ScenarioError("bootstrap is 'tracker' or 'seeders'")
    if not 0 <= s.loss <= 0.2:
        raise ScenarioError("loss must be within 0..0.2")
    if sum(c.share for c in s.classes) <= 0:
        raise ScenarioError("the classes' shares add up to nothing")
    if s.hash_rate <= 0 or s.tracker_peers < 1 or s.max_time <= 0:
        raise ScenarioError("hash rate, tracker_peers and max_time must be positive")
    if s.seeder.free_rider or s.seeder.corrupt or s.seeder.upload <= 0:
        raise ScenarioError("a seeder must upload, honestly")
    if any(c.super_seed for c in s.classes):
        raise ScenarioError("only the [seeder] table may super-seed (a downloader has no copy)")
    p = s.partition
    if p is not None and not (0 <= p.start < p.heal and 0 < p.fraction < 1):
        raise ScenarioError("partition: 0 <= start < heal, 0 < fraction < 1")
