"""Extension SPAN (spec 5.2) on the requester's side: which blocks go out as one span.

The picker hands out blocks; with SPAN in force, runs of consecutive whole pieces become
span requests (one frame, one reply, one disk read at the sender) and everything else stays a
block request. Kept apart from the swarm so the rule is easy to read and to test on its own.
"""

from __future__ import annotations

from collections.abc import Sequence

from .constants import MAX_SPAN_LENGTH
from .picker import Block

__all__ = ["Span", "span_blocks", "span_run", "split_spans"]

Span = tuple[int, int]
"""(index of the first piece, count)."""


def span_run(piece_size: int) -> int:
    """How many whole pieces fit in one span (1: spans are of no use at this piece size)."""
    return max(1, MAX_SPAN_LENGTH // piece_size)


def split_spans(
    blocks: Sequence[Block], piece_size: int, file_size: int, run: int
) -> tuple[list[Span], list[Block]]:
    """Group consecutive whole-piece blocks into spans of 2..run pieces; the rest stay blocks.

    Blocks are taken in file order; a run breaks at a gap, at a partial block, or at `run`
    pieces (the order of requests on a connection does not matter to the protocol).
    """
    spans: list[Span] = []
    singles: list[Block] = []
    start = count = 0
    previous: Block | None = None

    def flush() -> None:
        if count >= 2:
            spans.append((start, count))
        elif previous is not None:
            singles.append(previous)

    for block in sorted(blocks):
        index, offset, length = block
        whole = offset == 0 and length == min(piece_size, file_size - index * piece_size)
        if whole and count and index == start + count and count < run:
            count += 1
            previous = block
            continue
        if count:
            flush()
        if whole:
            start, count, previous = index, 1, block
        else:
            singles.append(block)
            count, previous = 0, None
    if count:
        flush()
    return spans, singles


def span_blocks(span: Span, piece_size: int, file_size: int) -> list[Block]:
    """The whole-piece blocks a span covers, in order (how the picker tracks them)."""
    index, count = span
    return [
        (i, 0, min(piece_size, file_size - i * piece_size)) for i in range(index, index + count)
    ]
