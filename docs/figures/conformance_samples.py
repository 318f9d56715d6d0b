"""The conformance guide's sample output, from real runs (docs/conformance.md embeds it).

- run-reference.txt  the start and the end of a default run against the reference node
- failure.txt        a run against a seeder that corrupts every piece it serves (the broken
                     seeder of the suite's own tests): its section table, its first failure
                     and its summary, cut from the report by the report's own markers
- replay.txt         replaying a failure from its replay file (a seeder that drops the
                     connection on an unassigned message id)
- model.txt          the model case's shrunk failure against a seeder that closes without an
                     error frame
- serve.txt          what `python -m conformance serve` prints while it waits for a downloader

Run it from a checkout, then commit what it wrote:
    .venv/bin/python docs/figures/conformance_samples.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "conformance"
FAILURES = ("FAIL: ", "CLOSED: ", "TIMEOUT: ", "ERROR: ")  # how the report starts a failure
ENV = {**os.environ, "P2PSHARE_NO_LAN": "1", "COLUMNS": "100"}


def suite(*args: str) -> tuple[int, list[str]]:
    argv = [sys.executable, "-m", "conformance", *args]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=ENV, cwd=ROOT)
    return done.returncode, done.stdout.splitlines()


def reference_run(tmp: Path) -> list[str]:
    """`p2pshare share` a 1 MB file (as the guide's step 1), run the whole suite against it."""
    shared = tmp / "some-file.bin"
    shared.write_bytes(bytes(i % 251 for i in range(1_000_000)))
    argv = [sys.executable, "-m", "p2pshare_cli", "share", str(shared), "--host", "127.0.0.1"]
    argv += ["--max-per-host", "100", "--json"]
    node = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=ENV
    )
    try:
        assert node.stdout is not None
        port = None
        for line in node.stdout:  # (bounded: the node prints `started` first)
            event = json.loads(line)
            if event.get("event") == "started":
                port = event["listen_port"]
                break
        code, lines = suite("--target", f"127.0.0.1:{port}")
    finally:
        node.terminate()
        node.wait(30)
    if code != 0:
        raise SystemExit("the reference node failed the suite:\n" + "\n".join(lines[-40:]))
    return [*lines[:2], "  ...", lines[-1]]


def broken_run(tmp: Path, fault: str, select: str) -> tuple[list[str], list[str]]:
    """Run cases against the suite's own broken seeder: the report's section table, its first
    failure (cut where the report starts each failure) and summary; then that failure replayed."""
    sys.path.insert(0, str(ROOT / "conformance" / "tests"))
    from broken.seeder import Seeder

    replays = tmp / fault
    with Seeder(fault=fault) as bad:
        target = f"127.0.0.1:{bad.port}"
        _, lines = suite("--target", target, "--select", select, "--replay-dir", str(replays))
        table = lines.index(next(line for line in lines if line.startswith("section ")))
        blank = lines.index("", table)
        fails = [i for i, line in enumerate(lines) if line.startswith(FAILURES)]
        stop = fails[1] if len(fails) > 1 else len(lines) - 2
        failure = [*lines[table:blank], "", *lines[fails[0] : stop], "", lines[-1]]
        replay = next(line for line in failure if line.strip().startswith("replay:"))
        _, replayed = suite("--target", target, "--replay", replay.split("--replay ", 1)[1])
    shown = str(replays) + "/"
    return [line.replace(shown, "conformance-failures/") for line in failure], [
        line.replace(shown, "conformance-failures/") for line in replayed
    ]


def model_failure(tmp: Path) -> list[str]:
    failure, _ = broken_run(tmp, "silent-close", "model")
    start = next(i for i, line in enumerate(failure) if line.startswith(FAILURES))
    end = next(i for i, line in enumerate(failure) if line.startswith("    actual:"))
    return failure[start : end + 1]  # (the wire log that follows is shown in failure.txt)


def serve_banner() -> list[str]:
    """`serve` prints its link and waits for a downloader: its lines up to the waiting one."""
    argv = [sys.executable, "-m", "conformance", "serve"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=ENV, cwd=ROOT)
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # (bounded below; the process is ended in any case)
            lines.append(line.rstrip("\n"))
            if line.startswith("waiting") or len(lines) > 20:
                break
    finally:
        proc.terminate()
        proc.wait(30)
    return lines


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="p2pshare-docs-conformance-") as name:
        tmp = Path(name)
        outputs = {"run-reference.txt": reference_run(tmp)}
        outputs["failure.txt"], _ = broken_run(tmp, "corrupt-piece", "transfer")
        # (a replay of that failure passes: issue noted in the docs helper's report; replays are
        # shown with a fault the replay does reproduce)
        _, outputs["replay.txt"] = broken_run(tmp, "closes-on-unknown", "unknown-id-skipped")
        outputs["model.txt"] = model_failure(tmp)
        outputs["serve.txt"] = ["$ python -m conformance serve", *serve_banner()]
    for file, lines in outputs.items():
        (OUT / file).write_text("\n".join(line.rstrip() for line in lines) + "\n", "utf-8")
    print(f"wrote {', '.join(outputs)} into {OUT}")


if __name__ == "__main__":
    main()
