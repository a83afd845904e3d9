"""Structured masks in PyTorch: causal and sliding windows (a band of j - i), lengths (padding
at the end of each batch row) and document ids (packed sequences), kept as rules, not tensors.

Every backend asks the same object for what it needs: a block of the mask (tiled), the whole
mask (math, SDPA with a mask tensor), which blocks are empty, partial or full (flex_attention's
block mask, and the blocks tiled computes: qkv.nn.blocks) and the rule itself for
flex_attention's mask_mod. The rules are qkv.core.masks': written once, for
NumPy, torch and flex alike. No (L, S) tensor is formed except by ``dense()``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from qkv.core.masks import (
    Align,
    band,
    band_allows,
    normalize_window,
    position_offset,
    query_documents,
    same_document,
    within_length,
)
from qkv.nn.sanitize import Reach, reduce_any

Tensor = torch.Tensor
MaskMod = Callable[[Tensor, Tensor, Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class Structure:
    """Which keys each query may see by structure alone (ANDed with any user mask)."""

    n_q: int
    n_k: int
    lo: int | None  # band: query i sees key j when lo <= j - i <= hi (None: unbounded)
    hi: int | None
    lengths: Tensor | None  # (B,) keys per batch row
    query_docs: Tensor | None  # (B, L) or (L,): the document of each query
    key_docs: Tensor | None  # (B, S) or (S,)
    ndim: int  # of the scores (..., L, S): the batch is dim 0 when ndim >= 3
    offset: int = 0  # query i stands at key position i + offset

    @classmethod
    def build(
        cls,
        q: Tensor,
        k: Tensor,
        *,
        causal: Align | None,
        align: Align | None,
        window: int | Sequence[int] | None,
        lengths: Any,
        document_ids: Any,
    ) -> Structure | None:
        """None when no window, lengths or documents are given (causal alone stays a flag).
        ``causal``: the causal mask, if it hides anything; ``align``: where queries stand."""
        if window is None and lengths is None and document_ids is None:
            return None
        n_q, n_k = q.shape[-2], k.shape[-2]
        offset = position_offset(n_q, n_k, align)
        lo, hi = band(offset, causal is not None, normalize_window(window))
        batch = _batch(q, k)
        lens = None if lengths is None else _lengths(lengths, batch, q.device)
        qd = kd = None
        if document_ids is not None:
            kd = _documents(document_ids, batch, n_k, q.device)
            qd = query_documents(kd, torch.arange(n_q, device=q.device) + offset)
        return cls(n_q, n_k, lo, hi, lens, qd, kd, q.dim(), offset)

    @classmethod
    def causal(cls, q: Tensor, k: Tensor, align: Align | None) -> Structure:
        """A causal mask alone (or nothing: every query sees every key) as a structure."""
        n_q, n_k = q.shape[-2], k.shape[-2]
        hi = None if align is None else position_offset(n_q, n_k, align)
        return cls(n_q, n_k, None, hi, None, None, None, q.dim())

    def needs_cleaning(self) -> bool:
        """Whether some query may see no key or some key is seen by no query (then a NaN
        there must not leak: qkv.nn.sanitize). A band decides it from its ends."""
        if self.lengths is not None or self.key_docs is not None:
            return True
        lo, hi, last_q, last_k = self.lo, self.hi, self.n_q - 1, self.n_k - 1
        every_query = (hi is None or hi >= 0) and (lo is None or last_q + lo <= last_k)
        every_key = (lo is None or lo <= 0) and (hi is None or last_k - hi <= last_q)
        return not (every_query and every_key)

    @property
    def has_band(self) -> bool:
        return self.lo is not None or self.hi is not None

    def _batched(self, t: Tensor, tail: int) -> Tensor:
        """(B, *tail dims) -> (B, 1, ..., 1, *tail dims) with the scores' number of dims."""
        return t.reshape(t.shape[0], *(1,) * (self.ndim - 1 - tail), *t.shape[1:])

    def band_block(self, i0: int, i1: int, j0: int, j1: int, device: torch.device) -> Tensor | None:
        """The band's (i1 - i0, j1 - j0) block; None when the band hides nothing in it."""
        if not self.has_band:
            return None
        d_min, d_max = j0 - (i1 - 1), (j1 - 1) - i0
        if (self.lo is None or d_min >= self.lo) and (self.hi is None or d_max <= self.hi):
            return None
        i = torch.arange(i0, i1, device=device)[:, None]
        j = torch.arange(j0, j1, device=device)[None, :]
        allowed: Tensor = band_allows(i, j, self.lo, self.hi)
        return allowed

    def block(
        self, i0: int, i1: int, j0: int, j1: int, device: torch.device, with_band: bool = True
    ) -> Tensor | None:
        """The mask (True = may attend) of queries i0:i1 against keys j0:j1, broadcastable to
        the scores' block (..., i1 - i0, j1 - j0); None when it hides nothing."""
        mask = self.band_block(i0, i1, j0, j1, device) if with_band else None
        if self.lengths is not None:
            j = torch.arange(j0, j1, device=device)
            inside = within_length(j[None, :], self.lengths[:, None])  # (B, Sb)
            inside = self._batched(inside, 1)  # (B, 1, ..., 1, Sb)
            mask = inside if mask is None else mask & inside
        if self.query_docs is not None and self.key_docs is not None:
            same = same_document(self.query_docs[..., i0:i1, None], self.key_docs[..., None, j0:j1])
            same = self._batched(same, 2) if same.dim() == 3 else same
            mask = same if mask is None else mask & same
        return mask

    def dense(self, device: torch.device) -> Tensor:
        """The whole (..., L, S) mask: for the backends that need one (math, SDPA)."""
        mask = self.block(0, self.n_q, 0, self.n_k, device)
        return torch.ones((), dtype=torch.bool, device=device) if mask is None else mask

    def reach(self, q: Tensor, k: Tensor, allowed: Tensor | None, rows: int = 1024) -> Reach:
        """(asks, seen) for qkv.nn.sanitize, of this structure ANDed with a user's boolean mask,
        a slab of rows at a time (no (L, S) tensor); reduced to q's and k's leading shapes."""

        def reach() -> tuple[Tensor, Tensor]:
            asks, seen = [], torch.zeros((), dtype=torch.bool, device=q.device)
            for i0 in range(0, self.n_q, rows):
                i1 = min(i0 + rows, self.n_q)
                b = self.block(i0, i1, 0, self.n_k, q.device)
                if b is None:
                    b = torch.ones((), dtype=torch.bool, device=q.device)
                if allowed is not None:
                    b = b & allowed[..., i0:i1, :]
                b = b.expand(*b.shape[:-2], i1 - i0, self.n_k)
                asks.append(b.any(dim=-1))
                seen = seen | b.any(dim=-2)
            ask = torch.cat(asks, dim=-1) if asks else torch.zeros(0, dtype=torch.bool)
            return reduce_any(ask, q.shape[:-1]), reduce_any(seen, k.shape[:-1])

        return reach

    def blocks(self, bq: int, bk: int, batch: int, device: torch.device) -> tuple[Tensor, Tensor]:
        """(partial, full) booleans (B, 1, L/bq, S/bk) for flex_attention's block mask: a block
        no query may see anything of is neither; a full block lies inside the sequences and
        every query sees every key of it (the kernel skips the mask there). Computed from
        each block's corners and ranges, never from the (L, S) mask."""
        nq, nk = math.ceil(self.n_q / bq), math.ceil(self.n_k / bk)
        i0 = torch.arange(nq, device=device)[:, None] * bq
        j0 = torch.arange(nk, device=device)[None, :] * bk
        i1 = torch.clamp(i0 + bq, max=self.n_q)  # exclusive ends
        j1 = torch.clamp(j0 + bk, max=self.n_k)
        some = torch.ones(1, nq, nk, dtype=torch.bool, device=device)
        every = ((i0 + bq <= self.n_q) & (j0 + bk <= self.n_k)).expand(1, nq, nk)
        if self.has_band:  # j - i runs over [j0 - (i1 - 1), (j1 - 1) - i0] in a block
            d_min, d_max = j0 - (i1 - 1), (j1 - 1) - i0
            lo = d_max if self.lo is None else self.lo  # an absent bound never excludes
            hi = d_min if self.hi is None else self.hi
            some = some & (d_max >= lo) & (d_min <= hi)
            every = every & (d_min >= lo) & (d_max <= hi)
        if self.lengths is not None:
            n = self.lengths[:, None, None]
            some = some & (j0[None] < n)
            every = every & (j1[None] <= n)
        if self.query_docs is not None and self.key_docs is not None:
            q_lo, q_hi = _block_range(self.query_docs, bq, nq)
            k_lo, k_hi = _block_range(self.key_docs, bk, nk)
            some = some & (q_lo[..., :, None] <= k_hi[..., None, :])
            some = some & (k_lo[..., None, :] <= q_hi[..., :, None])
            one = (q_lo == q_hi)[..., :, None] & (k_lo == k_hi)[..., None, :]
            every = every & one & (q_lo[..., :, None] == k_lo[..., None, :])
        some, every = (t.expand(batch, nq, nk) if t.shape[0] == 1 else t for t in (some, every))
        return (some & ~every)[:, None], every[:, None]

    def mask_mod(self, batch: int, device: torch.device) -> MaskMod:
        """The rule as flex_attention's mask_mod(b, h, q_idx, kv_idx). Numbers it needs are
        tensors it closes over: flex lifts them into graph inputs, so new lengths, offsets or
        documents reuse the compiled kernel (only which rules are present is compiled in)."""
        lo = None if self.lo is None else torch.tensor(self.lo, device=device)
        hi = None if self.hi is None else torch.tensor(self.hi, device=device)
        lengths = self.lengths
        qd = kd = None
        if self.query_docs is not None and self.key_docs is not None:
            qd = self.query_docs.expand(batch, self.n_q)
            kd = self.key_docs.expand(batch, self.n_k)

        def mask_mod(b: Tensor, h: Tensor, q_idx: Tensor, kv_idx: Tensor) -> Tensor:
            ok = q_idx >= 0
            if lo is not None or hi is not None:
                ok = ok & band_allows(q_idx, kv_idx, lo, hi)
            if lengths is not None:
                ok = ok & within_length(kv_idx, lengths[b])
            if qd is not None and kd is not None:
                ok = ok & same_document(qd[b, q_idx], kd[b, kv_idx])
            return ok

        return mask_mod


def _batch(q: Tensor, k: Tensor) -> int | None:
    """The batch size (dim 0 of the broadcast q and k), or None for scores without one."""
    if q.dim() < 3:
        return None
    return max(q.shape[0], k.shape[0])


def _as_long(values: Any, name: str, device: torch.device) -> Tensor:
    t = values if isinstance(values, torch.Tensor) else torch.as_tensor(values)
    if t.dtype == torch.bool or t.is_floating_point() or t.is_complex():
        raise ValueError(f"{name} must be whole numbers, got {t.dtype}")
    return t.to(device=device, dtype=torch.long)


def _lengths(values: Any, batch: int | None, device: torch.device) -> Tensor:
    if batch is None:
        raise ValueError("lengths need a batch dim: q (batch, ..., L, d)")
    t = _as_long(values, "lengths", device)
    if t.shape != (batch,):
        raise ValueError(
            f"lengths must be one number per batch row ({batch},), got {tuple(t.shape)}"
        )
    if t.numel() and bool((t < 0).any()):
        raise ValueError("lengths must be 0 or more")
    return t


def _documents(values: Any, batch: int | None, n_k: int, device: torch.device) -> Tensor:
    t = _as_long(values, "document_ids", device)
    ok = t.shape == (n_k,) or (batch is not None and t.shape in ((batch, n_k), (1, n_k)))
    if not ok:
        want = f"({n_k},)" if batch is None else f"({n_k},) or ({batch}, {n_k})"
        raise ValueError(f"document_ids must be {want} (keys), got {tuple(t.shape)}")
    return t


def _block_range(docs: Tensor, size: int, blocks: int) -> tuple[Tensor, Tensor]:
    """The smallest and largest document id in each block of ``size`` along the last dim
    (the last block padded with its own last id)."""
    pad = blocks * size - docs.shape[-1]
    if pad:
        docs = torch.cat([docs, docs[..., -1:].expand(*docs.shape[:-1], pad)], dim=-1)
    parts = docs.reshape(*docs.shape[:-1], blocks, size)
    low, high = parts.amin(dim=-1), parts.amax(dim=-1)
    return (low, high) if low.dim() == 2 else (low[None], high[None])
