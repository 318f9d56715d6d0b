"""Drop-behind: a download streams through the page cache instead of filling it.

A download writes each byte once and reads it back soon after, for the piece hash and the file's
SHA-1. Once both hashes have passed and the pages are on disk, keeping them cached only pushes
other programs' data out of memory, and once memory is full every new write waits for the kernel
to reclaim a page: an 8 GiB download on the 24 GiB benchmark machine (with the 8 GiB source
cached too) took 5.8 CPU s/GiB without drop-behind and 3.1 with it, at 1.9x the speed. On a VM
whose freed memory goes back to the host (free-page reporting), even a small download pays a
host fault for every fresh page; there, writing 1 GiB in 64 KiB blocks took 1.4 CPU s plainly
and 0.3 CPU s with drop-behind (when the freed memory had not gone back yet, both took ~0.25).

So now and then a worker thread flushes the file and tells the OS it may drop the clean pages
more than `keep` bytes behind the file hash, which only ever reads verified pieces, so it is
behind the piece hashes too (the recent pieces stay cached for the peers that still ask for
them). Nothing can be lost: the OS drops only clean pages, and a dropped block a peer asks for
later is simply read from disk. Where the OS has no posix_fadvise (Windows, macOS) only the
flush happens.
"""

from __future__ import annotations

from collections.abc import Callable

from p2pshare_node.treestore import Store

KEEP_BYTES = 32 * 1024 * 1024  # recently verified data left cached for peers that ask for it


class DropBehind:
    """Flushes a download and drops its cached pages behind the hashes (one call at a time)."""

    def __init__(
        self, store: Store, hashed_upto: Callable[[], int], keep: int = KEEP_BYTES
    ) -> None:
        self.store = store
        self.keep = keep
        self._hashed_upto = hashed_upto  # how far the file's SHA-1 has read (any thread)
        self.dropped = 0  # the file's pages before this offset have been released

    def flush(self) -> None:
        """Run on a worker thread: flush, then release what lies `keep` bytes behind the hash."""
        self.store.sync_quietly()
        end = self._hashed_upto() - self.keep
        if end > self.dropped:
            self.store.drop_cached(self.dropped, end - self.dropped)
            self.dropped = end
