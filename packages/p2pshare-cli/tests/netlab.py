"""Test hosts on one machine: network namespaces joined by a bridge, with shaped, lossy links.

    async with NetLab(hosts=3) as lab:          # (or the `netlab` fixture's factory)
        lab.shape(0, rate="8mbit")              # host 0 uploads at most 8 Mbit/s
        lab.lose(1, per_mille=10)               # host 1 drops 1 % of what it sends
        proc = lab.spawn(2, "get", link)        # a PeerProcess running inside host 2
        lab.cut(2); lab.restore(2)              # unplug and replug host 2's cable

Layout: a "switch" namespace holds a Linux bridge; each host is a namespace with one veth
whose other end is plugged into the bridge. The machine's own network is never touched: the
namespaces have no route out of the switch (the bridge's address, the hosts' default gateway,
leads nowhere), so test traffic stays on the test hosts. The default route is there so that a
node finds "the address others reach" the way it does on a real LAN (advertise.py). The bridge
passes multicast (snooping off) for LAN discovery.

Links are shaped without netem (not in this kernel): `tc tbf` caps a host's upload, an nftables
`numgen random` rule drops a share of its packets, and `ip link set down` cuts it off.
Everything is torn down on exit, even when the test fails; namespaces left by a run that was
killed are removed by the next one (their names carry the creating process id).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from types import TracebackType

from p2pshare_cli.procs import PeerProcess

PREFIX = "p2pl"
SUBNET = "10.231.0"  # inside the test namespaces only; never routed anywhere
GATEWAY = f"{SUBNET}.254"
COMMAND_TIMEOUT = 10.0


def missing() -> str | None:
    """Why network-namespace tests cannot run here (None: they can)."""
    if sys.platform != "linux":
        return "network namespaces are Linux only"
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "tc", "nft"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (Debian: iproute2, nftables)"
    return None


def _run(*argv: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip()}")
    return done.stdout


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_leftovers(prefix: str = PREFIX) -> None:
    """Delete namespaces of earlier runs whose process is gone (a killed test run)."""
    for line in _run("ip", "netns", "list").splitlines():
        name = line.split()[0] if line.split() else ""
        parts = name.split("-")
        stale = len(parts) >= 3 and parts[0] == prefix and parts[1].isdigit()
        if stale and not _alive(int(parts[1])):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)


class NetLab:
    """`hosts` namespaces on one bridge; addresses SUBNET.1, SUBNET.2, ... in order.

    Namespace names start with `prefix` (one without "-"), so labs of different users of the
    machine never collide and each cleans up only its own leftovers."""

    _serial = 0

    def __init__(self, hosts: int, prefix: str = PREFIX) -> None:
        NetLab._serial += 1
        self.prefix = prefix
        self.tag = f"{prefix}-{os.getpid()}-{NetLab._serial}"
        self.switch = f"{self.tag}-sw"
        self.names = [f"{self.tag}-h{i}" for i in range(hosts)]
        self.addresses = [f"{SUBNET}.{i + 1}" for i in range(hosts)]
        self.procs: list[PeerProcess] = []

    # --- set-up and tear-down ------------------------------------------------------------------
    def up(self) -> NetLab:
        clean_leftovers(self.prefix)
        try:
            _run("ip", "netns", "add", self.switch)
            self._in(self.switch, "ip", "link", "set", "lo", "up")
            self._in(self.switch, "ip", "link", "add", "br0", "type", "bridge")
            self._in(
                self.switch, "ip", "link", "set", "br0", "type", "bridge", "mcast_snooping", "0"
            )
            self._in(self.switch, "ip", "addr", "add", f"{GATEWAY}/24", "dev", "br0")
            self._in(self.switch, "ip", "link", "set", "br0", "up")
            for i, (name, address) in enumerate(zip(self.names, self.addresses, strict=True)):
                self._add_host(i, name, address)
        except BaseException:
            self.down()
            raise
        return self

    def _add_host(self, i: int, name: str, address: str) -> None:
        _run("ip", "netns", "add", name)
        inside, outside = f"h{i}", f"s{i}"
        _run("ip", "link", "add", inside, "netns", name, "type", "veth", "peer", outside,
             "netns", self.switch)  # fmt: skip
        self._in(self.switch, "ip", "link", "set", outside, "master", "br0")
        self._in(self.switch, "ip", "link", "set", outside, "up")
        self._in(name, "ip", "link", "set", "lo", "up")
        self._in(name, "ip", "addr", "add", f"{address}/24", "dev", inside)
        self._in(name, "ip", "link", "set", inside, "up")
        self._in(name, "ip", "route", "add", "default", "via", GATEWAY)
        self._in(name, "ip", "route", "add", "224.0.0.0/4", "dev", inside)

    def down(self) -> None:
        for name in [*self.names, self.switch]:
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)

    async def __aenter__(self) -> NetLab:
        return self.up()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for proc in self.procs:
            with contextlib.suppress(Exception):
                await proc.stop()
        self.down()

    # --- what tests do ---------------------------------------------------------------------------
    def _in(self, namespace: str, *argv: str) -> str:
        return _run("ip", "netns", "exec", namespace, *argv)

    def run(self, host: int, *argv: str) -> str:
        """Run a command inside a host (its output; RuntimeError if it fails)."""
        return self._in(self.names[host], *argv)

    async def spawn(self, host: int, *args: str, name: str | None = None) -> PeerProcess:
        """Start `p2pshare ARGS` inside a host (add --json yourself to get events)."""
        proc = PeerProcess(
            name or f"host{host}",
            list(args),
            prefix=["ip", "netns", "exec", self.names[host]],
            env={"P2PSHARE_NO_LAN": "0"},  # (the test hosts' LAN is ours: discovery on)
        )
        self.procs.append(proc)
        await proc.start()
        return proc

    def shape(self, host: int, rate: str, burst: str = "64kb") -> None:
        """Cap what a host sends (its upload) to `rate` (tc syntax: 8mbit, 512kbit...)."""
        self.run(host, "tc", "qdisc", "replace", "dev", f"h{host}", "root", "tbf", "rate", rate,
                 "burst", burst, "latency", "400ms")  # fmt: skip

    def lose(self, host: int, per_mille: int) -> None:
        """Drop `per_mille` out of 1000 packets a host sends, at random."""
        rules = (
            "table inet lab {\n"
            " chain out { type filter hook output priority 0; policy accept;\n"
            f"  numgen random mod 1000 < {per_mille} drop\n"
            " }\n"
            "}\n"
        )
        subprocess.run(
            ["ip", "netns", "exec", self.names[host], "nft", "-f", "-"],
            input=rules,
            text=True,
            check=True,
            capture_output=True,
            timeout=COMMAND_TIMEOUT,
        )

    def cut(self, host: int) -> None:
        """Unplug a host: its switch port goes down (packets in flight are lost)."""
        self._in(self.switch, "ip", "link", "set", f"s{host}", "down")

    def restore(self, host: int) -> None:
        self._in(self.switch, "ip", "link", "set", f"s{host}", "up")
