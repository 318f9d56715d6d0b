"""p2pshare package: the asyncio node around the sans-IO core.

The names a program needs to run a node are re-exported here; the modules stay importable
on their own (`p2pshare_node.node`, `p2pshare_node.events`, ...).
"""

from p2pshare_node.config import NodeConfig
from p2pshare_node.errors import ErrorKind, NodeError
from p2pshare_node.node import Node

__all__ = ["ErrorKind", "Node", "NodeConfig", "NodeError"]
