"""Serve mode: the suite plays a small swarm and checks an implementation's downloader."""
