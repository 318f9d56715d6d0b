"""Shared test set-up."""

from __future__ import annotations

import os

# Nodes started by tests never multicast on the machine's network (LAN discovery); the
# network-namespace tests turn it back on for their own hosts.
os.environ.setdefault("P2PSHARE_NO_LAN", "1")
