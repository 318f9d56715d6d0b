"""Which scenarios run, at which sizes, piece sizes, swarm shapes and rate caps.

Scenario letters follow the performance issue: (a) 1->1 at two piece sizes, (b) 1->4,
(c) 1->8 with capped uploads against the fluid-model bound, (d) memory and CPU per GiB at two
file sizes, (s) seeder start-up: `share` of a file to the first successful handshake, (t) folder
shares (issue #18): a tree of 10 000 small files and one of a few large files, 1 -> 1, with the
seeder's start-up (hashing the tree until it answers a handshake) in the same trials.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

ALL_SCENARIOS = ("a", "b", "c", "d", "s", "t")
SMALL_FILES = 10_000
SMALL_FILE_SIZE = 4 * KiB
LARGE_FILES = 4


@dataclass(frozen=True)
class Variant:
    """One row of the result table: a swarm shape that every listed contender runs."""

    scenario: str
    label: str
    size: int
    piece_size: int
    leechers: int
    contenders: tuple[str, ...]
    seed_rate: int = 0
    leech_rate: int = 0
    files: int = 0  # a folder share of this many files (0: a single file)

    @property
    def key(self) -> str:
        return f"{self.scenario}: {self.label}"

    def d_min(self) -> float | None:
        """Kumar & Ross fluid-model minimum distribution time, for capped swarms only.

        D_min = max(F/u_s, F/d_min, N*F/(u_s + sum u_i)); downloads are uncapped (d_min = inf).
        """
        if not self.seed_rate:
            return None
        f, n = float(self.size), self.leechers
        total_up = self.seed_rate + n * self.leech_rate
        return max(f / self.seed_rate, n * f / total_up)


def with_baseline(v: Variant) -> Variant:
    """The same variant with the 'baseline' build (--baseline) running wherever p2pshare does."""
    if "p2pshare" not in v.contenders:
        return v
    return dataclasses.replace(v, contenders=(*v.contenders, "baseline"))


def fmt_size(n: int) -> str:
    for unit, scale in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} B"


def capped_rates(size: int, leechers: int, target_d_min: float) -> tuple[int, int]:
    """Seeder cap u_s and leecher cap u_i = u_s/2 so that D_min == target_d_min.

    With u_i = u_s/2 the swarm term N*F/(u_s + N*u_s/2) dominates F/u_s for N >= 2, so the
    leechers must upload most of the data: a real test of piece exchange, not of the seeder.
    """
    u_s = leechers * size / ((1 + leechers / 2) * target_d_min)
    u_s = int(u_s) // KiB * KiB
    return u_s, u_s // 2


def build(
    scenarios: tuple[str, ...], size: int, quick: bool, c_size: int | None, c_dmin: float | None
) -> list[Variant]:
    every = ("p2pshare", "libtorrent", "bareloop", "jsonb64")
    fast = ("p2pshare", "libtorrent", "bareloop")
    out: list[Variant] = []
    if "s" in scenarios:
        out.append(Variant("s", f"share start-up, {fmt_size(size)}", size, 64 * KiB, 0, fast))
    if "a" in scenarios:
        for ps in (64 * KiB, 1 * MiB):
            label = f"1->1 {fmt_size(size)}, {fmt_size(ps)} pieces"
            out.append(Variant("a", label, size, ps, 1, every))
    if "b" in scenarios:
        out.append(Variant("b", f"1->4 {fmt_size(size)}, 64 KiB pieces", size, 64 * KiB, 4, every))
    if "c" in scenarios:
        cs = c_size or (size if quick else max(size // 4, 16 * MiB))
        target = c_dmin or (2.0 if quick else 25.0)  # (quick: a smoke test, see README)
        u_s, u_i = capped_rates(cs, 8, target)
        label = f"1->8 {fmt_size(cs)}, caps seed {u_s / 1e6:.1f} / peer {u_i / 1e6:.1f} MB/s"
        caps = ("p2pshare", "libtorrent")
        out.append(Variant("c", label, cs, 64 * KiB, 8, caps, seed_rate=u_s, leech_rate=u_i))
    if "t" in scenarios:  # (only p2pshare and libtorrent share folders)
        trees = ("p2pshare", "libtorrent")
        files = SMALL_FILES // 10 if quick else SMALL_FILES  # (quick: a smoke test, < 1 min)
        small = files * SMALL_FILE_SIZE
        label = f"1->1 folder of {files} files of {fmt_size(SMALL_FILE_SIZE)}"
        out.append(Variant("t", label, small, 64 * KiB, 1, trees, files=files))
        label = f"1->1 folder of {LARGE_FILES} files, {fmt_size(size)} in all"
        out.append(Variant("t", label, size, 64 * KiB, 1, trees, files=LARGE_FILES))
    if "d" in scenarios:
        for s in (size, (4 if quick else 8) * size):
            out.append(Variant("d", f"1->1 {fmt_size(s)} resources", s, 64 * KiB, 1, fast))
    return out
