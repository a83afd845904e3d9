"""How a sequence is cut among the P ranks of a ring, and put back.

    contiguous  rank r holds rows [r·n, (r+1)·n) of a sequence of N = P·n rows
    zigzag      the sequence is cut into 2P chunks of c = N / 2P; rank r holds chunks r and
                2P − 1 − r, in that order

Under a causal mask the contiguous layout gives the last rank P times the work of the first
(its queries see every key); zigzag pairs an early chunk with a late one, so that every rank
does the same work. Without a causal mask or a mask, the layout changes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch

Layout = Literal["zigzag", "contiguous"]
LAYOUTS: tuple[Layout, ...] = ("zigzag", "contiguous")


@dataclass(frozen=True)
class Segment:
    """A run of consecutive sequence positions that a rank holds."""

    start: int  # the sequence position of its first row
    local: int  # where its first row lies in the rank's shard
    length: int


def segments(layout: Layout, rank: int, world: int, n: int) -> tuple[Segment, ...]:
    """The segments of rank's shard of n rows (n per rank, N = world·n in all)."""
    if layout == "contiguous":
        return (Segment(rank * n, 0, n),)
    c = n // 2
    return (Segment(rank * c, 0, c), Segment((2 * world - 1 - rank) * c, c, c))


def pieces(segs: tuple[Segment, ...], size: int) -> list[tuple[Segment, ...]]:
    """The shard cut into pieces that hold block j (at most size rows) of every segment.

    Every rank's shard has segments of the same lengths, so every shard has as many pieces,
    of the same sizes: piece j of each rank travels in round j of the ring.
    """
    length = segs[0].length
    out = []
    for j0 in range(0, length, size):
        n = min(size, length - j0)
        out.append(tuple(Segment(s.start + j0, s.local + j0, n) for s in segs))
    return out


def default_piece(n_keys: int, n_segments: int, least: int) -> int:
    """Rows per segment of a piece: a piece is about 1/16 of the shard (the ring adds about
    three pieces of memory), but no less than ``least`` rows per segment (fewer, larger
    messages and matrix products), and no more than the segment."""
    length = n_keys // n_segments
    return min(length, max(least, math.ceil(n_keys / 16 / n_segments)))


def _check(x: torch.Tensor, world_size: int, dim: int) -> int:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"expected a torch.Tensor, got {type(x).__name__}")
    if not -x.dim() <= dim < x.dim():
        raise ValueError(f"dim {dim} is out of range for a tensor of shape {tuple(x.shape)}")
    n = x.shape[dim]
    if world_size < 1 or n % (2 * world_size):
        raise ValueError(
            f"zigzag needs a length divisible by 2 × world_size = {2 * world_size}; "
            f"dim {dim} of {tuple(x.shape)} has {n}"
        )
    return n


def zigzag_shard(x: torch.Tensor, rank: int, world_size: int, dim: int = -2) -> torch.Tensor:
    """Rank's zigzag shard of a whole sequence x along dim: chunks rank and 2P − 1 − rank."""
    n = _check(x, world_size, dim)
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, {world_size}), not {rank}")
    segs = segments("zigzag", rank, world_size, n // world_size)
    return torch.cat([x.narrow(dim, s.start, s.length) for s in segs], dim=dim)


def zigzag_unshard(shards: Sequence[torch.Tensor], dim: int = -2) -> torch.Tensor:
    """The whole sequence from every rank's zigzag shard, in rank order."""
    world = len(shards)
    if world == 0:
        raise ValueError("zigzag_unshard needs the shards of every rank, got none")
    shapes = {tuple(s.shape) for s in shards}
    if len(shapes) != 1:
        raise ValueError(f"the shards differ in shape: {sorted(shapes)}")
    n = _check(shards[0], 1, dim)
    parts = [
        (seg.start, shard.narrow(dim, seg.local, seg.length))
        for rank, shard in enumerate(shards)
        for seg in segments("zigzag", rank, world, n)
    ]
    return torch.cat([t for _, t in sorted(parts, key=lambda p: p[0])], dim=dim)
