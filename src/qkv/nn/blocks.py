"""The tiled backend's blocks: how large, and which of them there is anything to compute in.

Sizes. A block's scores (batch x block_q x block_k numbers) are passed over a few times
besides the two matrix products (the maximum, the shift, exp2, the sum). Larger blocks mean
fewer operators called from Python for the same scores and larger products; smaller ones
stay in a core's cache (2 MB of L2 here) and each worker holds less. BLOCK_BYTES is the size
measured best per dtype by benchmarks/tiled_blocks.py (below); a wider batch makes the
blocks shorter, so that the bytes stay the same.

Which. A block no query of it may see any key of is never touched, in either pass; a block
every query of which sees every key needs no mask. Both are decided once a call, from the
causal mask's diagonal, the structure's rules (qkv.nn.structure.Structure.blocks, as flex's
block mask) and a boolean mask's own blocks, never from an (L, S) tensor that was not given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from qkv.nn.structure import Structure

# Score-block bytes per element size, and the key-block length: benchmarks/tiled_blocks.py,
# 2026-12-08, these 2 cores idle, N = 4096, B 1, H 8, d 64, ratios to SDPA (median of 5):
#   float32  1 MB 0.69-0.72, 2 MB 0.75-0.79, 4 MB 0.74-0.83 (fwd; fwd+bwd, causal or not)
#   float64  1 MB 0.72-0.75, 2 MB 0.82-0.84, 4 MB 0.88-0.91
# Each worker holds a block or two: at 4 MB in float32 that is 16 MB more than SDPA's peak
# forward and backward, against 5% more speed; 2 MB keeps it within 1.1x of SDPA's there.
BLOCK_BYTES = {4: 2 << 20, 8: 4 << 20}
BLOCK_K = 256
LEAST_Q, LEAST_K = 16, 64  # below these the matrix products lose more than the cache saves


def block_sizes(batch: int, n_q: int, n_k: int, dtype: torch.dtype) -> tuple[int, int]:
    """(block_q, block_k) for scores of ``batch`` (..., n_q, n_k) in ``dtype``: about
    BLOCK_BYTES of scores a block, never longer than the sequences."""
    elements = BLOCK_BYTES.get(torch.empty((), dtype=dtype).element_size(), 1 << 20)
    elements //= torch.empty((), dtype=dtype).element_size() * max(1, batch)
    block_k = min(_ceil16(n_k), max(LEAST_K, min(BLOCK_K, elements // LEAST_Q)))
    block_q = min(_ceil16(n_q), max(LEAST_Q, _floor_pow2(elements // block_k)))
    return block_q, block_k


def _ceil16(n: int) -> int:
    return max(16, -(-n // 16) * 16)


def _floor_pow2(n: int) -> int:
    return 1 << max(0, n.bit_length() - 1)


Pairs = tuple[tuple[int, bool], ...]  # (the other side's block, whether it is full)


@dataclass(frozen=True)
class BlockMap:
    """The live blocks of a (..., n_q, n_k) attention cut into block_q x block_k tiles."""

    block_q: int
    block_k: int
    n_q: int
    n_k: int
    rows: tuple[Pairs, ...]  # per query block: its live key blocks, and whether each is full
    cols: tuple[Pairs, ...]  # per key block: its live query blocks, and whether each is full

    @classmethod
    def build(
        cls,
        n_q: int,
        n_k: int,
        block_q: int,
        block_k: int,
        *,
        offset: int | None = None,
        structure: Structure | None = None,
        allowed: torch.Tensor | None = None,
    ) -> BlockMap:
        """From a causal diagonal (query i sees key j <= i + offset), a structure and a
        boolean mask (True = may attend), each optional; all are ANDed."""
        nq, nk = math.ceil(n_q / block_q), math.ceil(n_k / block_k)
        live = torch.ones(nq, nk, dtype=torch.bool)
        full = torch.ones(nq, nk, dtype=torch.bool)
        if offset is not None:
            i0 = torch.arange(nq)[:, None] * block_q
            j0 = torch.arange(nk)[None, :] * block_k
            i1 = torch.clamp(i0 + block_q, max=n_q)
            j1 = torch.clamp(j0 + block_k, max=n_k)
            live &= j0 <= i1 - 1 + offset
            full &= j1 - 1 <= i0 + offset
        if structure is not None:
            some, every = _structure_blocks(structure, block_q, block_k)
            live &= some
            full &= every
        if allowed is not None:
            some, every = pooled(allowed, block_q, block_k)
            live &= some
            full &= every
        full &= live
        lv, fl = live.tolist(), full.tolist()
        rows = tuple(tuple((j, fl[i][j]) for j in range(nk) if lv[i][j]) for i in range(nq))
        cols = tuple(tuple((i, fl[i][j]) for i in range(nq) if lv[i][j]) for j in range(nk))
        return cls(block_q, block_k, n_q, n_k, rows, cols)

    @property
    def live(self) -> int:
        """How many blocks are computed."""
        return sum(len(r) for r in self.rows)


def _structure_blocks(s: Structure, bq: int, bk: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(some, every) (nq, nk) over the whole batch: a block is live when some batch row sees
    something in it, full when every batch row sees all of it."""
    rules = (t for t in (s.lengths, s.key_docs) if t is not None)
    device = next(rules, torch.empty(0)).device
    partial, every = (t[:, 0] for t in s.blocks(bq, bk, 1, device))  # (B or 1, nq, nk)
    some, every = (partial | every).any(dim=0).cpu(), every.all(dim=0).cpu()
    if s.lengths is None and s.key_docs is None:
        _edges_full(s, bq, bk, every)
    return some, every


def _edges_full(s: Structure, bq: int, bk: int, every: torch.Tensor) -> None:
    """Structure.blocks never calls a block at the sequences' ends full (flex pads them); a
    band that hides nothing in one makes it full here."""
    nq, nk = every.shape
    last_row = range(nk) if s.n_q % bq else range(0)
    last_col = range(nq) if s.n_k % bk else range(0)
    edges = {(nq - 1, j) for j in last_row} | {(i, nk - 1) for i in last_col}
    for i, j in edges:
        i0, j0 = i * bq, j * bk
        i1, j1 = min(i0 + bq, s.n_q), min(j0 + bk, s.n_k)
        if s.band_block(i0, i1, j0, j1, torch.device("cpu")) is None:
            every[i, j] = True


def pooled(allowed: torch.Tensor, bq: int, bk: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(any, all) of a boolean (..., L or 1, S or 1) mask over each block and every leading
    dim, as (nq or 1, nk or 1): its rows and columns padded to whole blocks with what changes
    neither."""
    rows, cols = allowed.shape[-2], allowed.shape[-1]
    m = allowed.reshape(-1, rows, cols)
    tq, tk = min(bq, rows), min(bk, cols)  # a dim of 1 broadcasts: one block of 1
    pq, pk = -rows % tq, -cols % tk
    out = []
    for pad, reduce in ((False, torch.any), (True, torch.all)):
        t = torch.nn.functional.pad(m, (0, pk, 0, pq), value=pad) if pq or pk else m
        t = t.reshape(t.shape[0], t.shape[1] // tq, tq, t.shape[2] // tk, tk)
        out.append(reduce(reduce(reduce(t, dim=4), dim=2), dim=0).cpu())
    return out[0], out[1]
