"""Turn trial results into one table of medians with ranges, target checks, JSON and a chart."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.plan import GiB, MiB, Variant
from bench.runner import Result


@dataclass
class Stat:
    median: float
    lo: float
    hi: float
    n: int

    @classmethod
    def of(cls, values: list[float]) -> Stat | None:
        vals = [v for v in values if v is not None]
        if not vals:
            return None
        return cls(statistics.median(vals), min(vals), max(vals), len(vals))

    def fmt(self, digits: int = 2) -> str:
        if self.n == 1:
            return f"{self.median:.{digits}f}"
        return f"{self.median:.{digits}f} [{self.lo:.{digits}f}-{self.hi:.{digits}f}]"

    def as_dict(self) -> dict[str, float]:
        return {"median": self.median, "min": self.lo, "max": self.hi, "n": self.n}


def summarize(variants: list[Variant], results: list[Result]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for v in variants:
        gib = v.size / GiB
        names = list(dict.fromkeys(r.contender for r in results if r.variant == v.key))
        for name in names:
            mine = [r for r in results if r.variant == v.key and r.contender == name]
            good = [r for r in mine if r.ok]
            row: dict[str, Any] = {
                "variant": v.key,
                "scenario": v.scenario,
                "contender": name,
                "runs": len(mine),
                "ok": len(good),
                "errors": sorted({r.error for r in mine if r.error}),
                "seconds": Stat.of([r.seconds for r in good if r.seconds]),
                "mb_per_s": Stat.of([r.mb_per_s for r in good if r.mb_per_s]),
                "startup_s": Stat.of([r.startup_s for r in mine if r.startup_s is not None]),
                "seed_rss_mib": Stat.of([r.seed_peak_rss / MiB for r in good if r.seed_peak_rss]),
                "leech_rss_mib": Stat.of(
                    [max(r.leech_peak_rss) / MiB for r in good if r.leech_peak_rss]
                ),
                "seed_cpu_per_gib": Stat.of(
                    [r.seed_cpu_serving_s / gib for r in good if r.seed_cpu_serving_s is not None]
                )
                if v.leechers
                else None,
                "leech_cpu_per_gib": Stat.of(
                    [statistics.mean(r.leech_cpu_s) / gib for r in good if r.leech_cpu_s]
                ),
                "d_over_dmin": Stat.of(
                    [r.seconds / r.d_min_s for r in good if r.d_min_s and r.seconds is not None]
                ),
            }
            rows.append(row)
    add_ratios(rows)
    return rows


def median_of(rows: list[dict[str, Any]], variant: str, name: str, key: str) -> float | None:
    for row in rows:
        if row["variant"] == variant and row["contender"] == name and row[key] is not None:
            return float(row[key].median)
    return None


def add_ratios(rows: list[dict[str, Any]]) -> None:
    """Speed ratios from median times: X/Y = time(Y) / time(X); > 1 means X is faster."""
    for row in rows:
        row["vs_libtorrent"] = row["vs_bareloop"] = None
        mine = median_of(rows, row["variant"], row["contender"], "seconds")
        if mine is None:
            continue
        for other, key in (("libtorrent", "vs_libtorrent"), ("bareloop", "vs_bareloop")):
            theirs = median_of(rows, row["variant"], other, "seconds")
            if theirs is not None and other != row["contender"]:
                row[key] = theirs / mine


def _median(key: str, fmt: str) -> Any:
    return lambda r: format(r[key].median, fmt) if r[key] else ""


COLUMNS = [
    ("contender", 10, lambda r: r["contender"]),
    ("ok", 5, lambda r: f"{r['ok']}/{r['runs']}"),
    ("time s", 20, lambda r: r["seconds"].fmt(2) if r["seconds"] else "-"),
    ("MB/s", 16, lambda r: r["mb_per_s"].fmt(0) if r["mb_per_s"] else "-"),
    ("x lt", 5, lambda r: f"{r['vs_libtorrent']:.2f}" if r["vs_libtorrent"] else ""),
    ("x bare", 6, lambda r: f"{r['vs_bareloop']:.2f}" if r["vs_bareloop"] else ""),
    ("D/Dmin", 6, _median("d_over_dmin", ".2f")),
    ("start s", 7, _median("startup_s", ".2f")),
    ("seedRSS", 7, _median("seed_rss_mib", ".0f")),
    ("leechRSS", 8, _median("leech_rss_mib", ".0f")),
    ("seedCPU/G", 9, _median("seed_cpu_per_gib", ".2f")),
    ("leechCPU/G", 10, _median("leech_cpu_per_gib", ".2f")),
]


def table(rows: list[dict[str, Any]]) -> str:
    head = "  ".join(name.ljust(width) for name, width, _ in COLUMNS)
    lines = [head, "-" * len(head)]
    current = None
    for row in rows:
        if row["variant"] != current:
            current = row["variant"]
            lines.append(f"({current})")
        lines.append("  ".join(str(get(row)).ljust(width) for _, width, get in COLUMNS).rstrip())
        for err in row["errors"][:2]:
            lines.append(f"    ! {err[:160]}")
    return "\n".join(lines)


def targets(variants: list[Variant], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The targets of issue #14, each with the measured value and pass/fail.

    Every target is a ratio to what the same invocation measured (libtorrent, the bare loop),
    except peak RSS and the per-piece memory, which are absolute.
    """
    out: list[dict[str, Any]] = []

    def check(what: str, value: float | None, op: str, limit: float) -> None:
        passed = None if value is None else (value >= limit if op == ">=" else value <= limit)
        out.append({"target": what, "value": value, "op": op, "limit": limit, "pass": passed})

    def mine(v: Variant, key: str) -> Any:  # a float, or a Stat
        for row in rows:
            if row["variant"] == v.key and row["contender"] == "p2pshare":
                return row[key]
        return None

    def over_lt(v: Variant, key: str) -> float | None:
        """p2pshare's median of `key` / libtorrent's in the same variant."""
        ours = median_of(rows, v.key, "p2pshare", key)
        theirs = median_of(rows, v.key, "libtorrent", key)
        return ours / theirs if ours is not None and theirs else None

    d_rows: dict[int, dict[str, Any]] = {}
    for v in variants:
        if v.scenario == "s":
            check(f"(f: {v.label}) p2pshare/libtorrent start-up", over_lt(v, "startup_s"),
                  "<=", 0.75)  # fmt: skip
        elif v.scenario == "a":
            check(f"(a: {v.label}) p2pshare/libtorrent speed", mine(v, "vs_libtorrent"), ">=", 2.0)
            check(f"(a: {v.label}) p2pshare/bareloop speed", mine(v, "vs_bareloop"), ">=", 0.8)
        elif v.scenario == "b":
            check(f"(b: {v.label}) p2pshare/libtorrent speed", mine(v, "vs_libtorrent"), ">=", 1.5)
        elif v.scenario == "c":
            dd = mine(v, "d_over_dmin")
            check(f"(c: {v.label}) p2pshare D/D_min", dd.median if dd else None, "<=", 1.10)
        elif v.scenario == "d":
            row = next(
                (r for r in rows if r["variant"] == v.key and r["contender"] == "p2pshare"), None
            )
            if row is None:
                continue
            d_rows[v.size] = row
            check(f"(d: {v.label}) leecher CPU/GiB p2pshare/libtorrent",
                  over_lt(v, "leech_cpu_per_gib"), "<=", 1.0)  # fmt: skip
            check(f"(d: {v.label}) seeder CPU/GiB p2pshare/libtorrent",
                  over_lt(v, "seed_cpu_per_gib"), "<=", 0.5)  # fmt: skip
            for key in ("seed_rss_mib", "leech_rss_mib"):
                stat = row[key]
                check(f"(d: {v.label}) p2pshare {key}", stat.median if stat else None, "<=", 48.0)
    if len(d_rows) == 2:
        (small_size, small), (big_size, big) = sorted(d_rows.items())
        big_v = next(v for v in variants if v.scenario == "d" and v.size == big_size)
        check(f"(e: {big_v.label}) p2pshare/libtorrent speed", big["vs_libtorrent"], ">=", 2.0)
        piece = big_v.piece_size
        extra = big_size // piece - small_size // piece
        for key in ("seed_rss_mib", "leech_rss_mib"):
            if small[key] and big[key] and extra > 0:
                per_piece = (big[key].median - small[key].median) * MiB / extra - 32
                check(f"(d) {key.split('_')[0]}er bytes/piece beyond its 32-byte hash",
                      per_piece, "<=", 16.0)  # fmt: skip
    return out


def targets_text(checks: list[dict[str, Any]]) -> str:
    lines = ["Targets:"]
    for c in checks:
        mark = {True: "PASS", False: "FAIL", None: "n/a "}[c["pass"]]
        value = "-" if c["value"] is None else f"{c['value']:.2f}"
        lines.append(f"  {mark}  {c['target']}: {value} (want {c['op']} {c['limit']})")
    return "\n".join(lines)


def to_jsonable(obj: Any) -> Any:
    if isinstance(obj, Stat):
        return obj.as_dict()
    if isinstance(obj, dict):
        return {k: to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_jsonable(v) for v in obj]
    return obj


def write_json(path: Path, doc: dict[str, Any]) -> None:
    path.write_text(json.dumps(to_jsonable(doc), indent=2) + "\n")


def write_chart(path: Path, rows: list[dict[str, Any]]) -> bool:
    """Bar chart of median MB/s per scenario and contender, whiskers at min/max."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    rows = [r for r in rows if r["mb_per_s"] is not None]
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    order = ["p2pshare", "libtorrent", "bareloop", "jsonb64"]
    names = sorted({r["contender"] for r in rows}, key=lambda n: [*order, n].index(n))
    if not variants:
        return False
    fig, ax = plt.subplots(figsize=(max(8, 2.2 * len(variants)), 5))
    width = 0.8 / max(1, len(names))
    for j, name in enumerate(names):
        xs, ys, lo, hi = [], [], [], []
        for i, var in enumerate(variants):
            for r in rows:
                if r["variant"] == var and r["contender"] == name:
                    s = r["mb_per_s"]
                    xs.append(i + j * width)
                    ys.append(s.median)
                    lo.append(s.median - s.lo)
                    hi.append(s.hi - s.median)
        ax.bar(xs, ys, width, yerr=[lo, hi], capsize=3, label=name)
    ax.set_xticks([i + width * (len(names) - 1) / 2 for i in range(len(variants))])
    ax.set_xticklabels([v.replace(", ", "\n", 1) for v in variants], fontsize=7)
    ax.set_ylabel("MB/s (all leechers, 10^6 B/s), median, min-max")
    ax.set_title("p2pshare benchmark")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
