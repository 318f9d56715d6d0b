"""Start the reference node as one mutant: `python launch.py MUTANT share FILE --port 0`.

Applies the mutant's patch to the core, and its tunables to the SwarmConfig the node builds,
then runs the ordinary `p2pshare` command line with the remaining arguments.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def main() -> None:
    from catalogue import by_name

    mutant = by_name(sys.argv[1])
    mutant.apply()
    if mutant.tunables:
        from p2pshare_node import node

        node.SwarmConfig = functools.partial(node.SwarmConfig, **mutant.tunables)  # type: ignore[misc]
    from p2pshare_cli.main import cli

    args = sys.argv[2:] + [arg for fault in mutant.faults for arg in ("--fault", fault)]
    if sys.argv[2] == "share":
        args += list(mutant.node_args)
    cli.main(args=args, prog_name="p2pshare")


if __name__ == "__main__":
    main()
