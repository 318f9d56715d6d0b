"""p2pshare package."""
