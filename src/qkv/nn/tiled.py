"""The tiled backend: the FlashAttention algorithm, written in PyTorch to be read.

Forward: for each block of queries, walk over blocks of keys keeping, per query row, the
running maximum m, the running sum (total) of exp(s - m) and the running output acc. When a new
block raises the maximum, the old sum and output are rescaled by exp(m_old - m_new). At the
end, output = acc / total and logsumexp = m + log(total). That rule lives in qkv.nn.merge, which
ring attention shares. The (L, S) matrix never exists: memory is O(N · block) beyond the inputs
and outputs.

Backward (a custom autograd Function, as in FlashAttention) saves only q, k, v, the output
and the logsumexp, and recomputes each block's weights p = exp(s - lse) to get

    dv += pᵀ do        dp = do vᵀ        ds = p ∘ (dp - rowsum(do ∘ o))
    dq += ds k · scale                   dk += dsᵀ q · scale

Scores are kept in base 2 (q is pre-multiplied by log2 e) because exp2 is several times
cheaper than exp on CPUs; logsumexp is returned in natural log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from qkv.nn.masks import broadcast_shape, offset_mask
from qkv.nn.merge import LOG2E, NEG_INF, OnlineSoftmax
from qkv.nn.structure import Structure

# (8 heads x 256 x 512) float32 scores are 4 MB a block: they stay in a CPU's cache, and the
# blocks are large enough that the Python loop costs little (benchmarks/attention_cpu.py).
BLOCK_Q, BLOCK_K = 256, 512


class _Masks:
    """Block masks (True = may attend); causal ones are cached by their diagonal's position.
    A structure (windows, lengths, documents: qkv.nn.structure) gives its own blocks."""

    def __init__(
        self,
        allowed: torch.Tensor | None,
        offset: int | None,
        structure: Structure | None,
        device: torch.device,
    ):
        self.allowed, self.offset, self.structure, self.device = allowed, offset, structure, device
        self._causal: dict[tuple[int, int, int], torch.Tensor] = {}
        self._band_blocks: dict[tuple[int, int, int], torch.Tensor | None] = {}

    def __call__(self, i0: int, i1: int, j0: int, j1: int) -> torch.Tensor | None:
        """The mask for queries i0:i1 and keys j0:j1; None when all may attend."""
        mask = None
        if self.offset is not None and j1 - 1 > i0 + self.offset:  # crosses the diagonal
            # key j0 + c is visible to query i0 + r when c - r <= i0 - j0 + offset
            key = (i0 - j0 + self.offset, i1 - i0, j1 - j0)
            mask = self._causal.get(key)
            if mask is None:
                mask = self._causal[key] = offset_mask(key[1], key[2], key[0], self.device)
        if self.structure is not None:
            mask = self._band(i0, i1, j0, j1)
            s = self.structure.block(i0, i1, j0, j1, self.device, with_band=False)
            if s is not None:
                mask = s if mask is None else s & mask
        if self.allowed is not None:
            a = self.allowed[..., i0:i1, j0:j1]
            mask = a if mask is None else a & mask
        return mask

    def _band(self, i0: int, i1: int, j0: int, j1: int) -> torch.Tensor | None:
        """The structure's band block, cached by its position against the diagonal."""
        assert self.structure is not None
        key = (i0 - j0, i1 - i0, j1 - j0)
        if key not in self._band_blocks:
            self._band_blocks[key] = self.structure.band_block(i0, i1, j0, j1, self.device)
        return self._band_blocks[key]


def _key_span(tiling: Tiling, i0: int, i1: int, n_keys: int) -> tuple[int, int]:
    """Keys outside this are masked for every query in i0:i1 (causal, a window, lengths):
    skip their blocks."""
    if tiling.structure is not None:
        return tiling.structure.key_span(i0, i1)
    offset = tiling.offset
    return 0, (n_keys if offset is None else max(0, min(n_keys, i1 + offset)))


def _query_span(tiling: Tiling, j0: int, j1: int, n_queries: int) -> tuple[int, int]:
    """Queries outside this see none of the keys j0:j1."""
    if tiling.structure is not None:
        return tiling.structure.query_span(j0, j1)
    return (0 if tiling.offset is None else max(0, j0 - tiling.offset)), n_queries


Tensor = torch.Tensor
OptTensor = torch.Tensor | None


@dataclass(frozen=True)
class Tiling:
    """What every block needs besides q, k, v: the masks, the scale, the block sizes."""

    allowed: OptTensor  # boolean mask (True = may attend), broadcast against the scores
    bias: OptTensor  # float mask added to the scaled scores
    scale: float
    offset: int | None  # causal: query i sees key j <= i + offset; None: not causal
    block_q: int = BLOCK_Q
    block_k: int = BLOCK_K
    structure: Structure | None = None  # windows, lengths, documents (and causal with them)

    def masks(self, device: torch.device) -> _Masks:
        return _Masks(self.allowed, self.offset, self.structure, device)


def _scores(
    qb: Tensor,
    kt: Tensor,
    bias: OptTensor,
    masks: _Masks,
    i0: int,
    i1: int,
    j0: int,
    j1: int,
) -> Tensor:
    """Block scores in base-2 units, masked with -inf."""
    s = torch.matmul(qb, kt[..., j0:j1])
    if bias is not None:
        s.add_(bias[..., i0:i1, j0:j1], alpha=LOG2E)
    mask = masks(i0, i1, j0, j1)
    if mask is not None:
        s.masked_fill_(~mask, NEG_INF)
    return s


def accumulate(q: Tensor, k: Tensor, v: Tensor, tiling: Tiling, state: OnlineSoftmax) -> None:
    """Fold keys k (..., S, d) and values v (..., S, dv) into the running softmax of the
    queries q (..., L, d): state holds their L rows (qkv.nn.merge)."""
    bias, scale = tiling.bias, tiling.scale
    block_q, block_k = tiling.block_q, tiling.block_k
    n_q, n_k = q.shape[-2], k.shape[-2]
    kt = k.transpose(-1, -2)
    masks = tiling.masks(q.device)
    for i0 in range(0, n_q, block_q):
        i1 = min(i0 + block_q, n_q)
        run = state.rows(i0, i1)
        qb = q[..., i0:i1, :] * (scale * LOG2E)  # per block: no scaled copy of all of q
        start, end = _key_span(tiling, i0, i1, n_k)
        for j0 in range(start - start % block_k, end, block_k):
            j1 = min(j0 + block_k, n_k)
            s = _scores(qb, kt, bias, masks, i0, i1, j0, j1)
            shift = run.rebase(s.amax(dim=-1, keepdim=True))
            p = s.sub_(shift).exp2_()  # in place: s is not needed again
            run.add(p.sum(dim=-1, keepdim=True), torch.matmul(p, v[..., j0:j1, :]))


def forward(q: Tensor, k: Tensor, v: Tensor, tiling: Tiling) -> tuple[Tensor, Tensor]:
    """(output, logsumexp) of float32 q (..., L, d), k (..., S, d), v (..., S, dv)."""
    batch = broadcast_shape(q.shape[:-2], k.shape[:-2]) or ()
    state = OnlineSoftmax.empty(batch, q.shape[-2], v.shape[-1], like=q)
    accumulate(q, k, v, tiling, state)
    return state.finish()


def delta(out: Tensor, dout: Tensor, dlse: OptTensor) -> Tensor:
    """rowsum(do ∘ o) (..., L), less the logsumexp's gradient (d lse / d s = p joins it)."""
    d = (dout * out).sum(dim=-1)
    return d if dlse is None else d - dlse


def accumulate_grads(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    lse: Tensor,
    *,
    delta: Tensor,
    dout: Tensor,
    tiling: Tiling,
    grads: tuple[Tensor, Tensor, Tensor],
) -> None:
    """Add these keys' share of (dq, dk, dv) into grads (broadcast shapes), recomputing each
    block's weights from the final logsumexp; delta comes from :func:`delta`."""
    bias, scale = tiling.bias, tiling.scale
    block_q, block_k = tiling.block_q, tiling.block_k
    n_q, n_k = q.shape[-2], k.shape[-2]
    dq, dk, dv = grads
    lse2 = torch.where(torch.isfinite(lse), lse * LOG2E, float("inf"))  # empty rows: p = 0
    kt = k.transpose(-1, -2)
    masks = tiling.masks(q.device)
    for j0 in range(0, n_k, block_k):
        j1 = min(j0 + block_k, n_k)
        first, last = _query_span(tiling, j0, j1, n_q)  # the others see none of it
        for i0 in range(first - first % block_q, last, block_q):
            i1 = min(i0 + block_q, n_q)
            qb = q[..., i0:i1, :] * (scale * LOG2E)
            p = _scores(qb, kt, bias, masks, i0, i1, j0, j1)
            p.sub_(lse2[..., i0:i1, None]).exp2_()  # the block's weights, recomputed
            do = dout[..., i0:i1, :]
            dv[..., j0:j1, :] += torch.matmul(p.transpose(-1, -2), do)
            ds = torch.matmul(do, v[..., j0:j1, :].transpose(-1, -2))  # dp
            ds.sub_(delta[..., i0:i1, None]).mul_(p)
            dq[..., i0:i1, :].add_(torch.matmul(ds, k[..., j0:j1, :]), alpha=scale)
            dk[..., j0:j1, :].add_(
                torch.matmul(ds.transpose(-1, -2), q[..., i0:i1, :]), alpha=scale
            )


def backward(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    out: Tensor,
    lse: Tensor,
    *,
    dout: Tensor,
    dlse: OptTensor,
    tiling: Tiling,
) -> tuple[Tensor, Tensor, Tensor]:
    """(dq, dk, dv) in the broadcast shapes, recomputing each block's weights."""
    batch = broadcast_shape(q.shape[:-2], k.shape[:-2]) or ()
    d = delta(out, dout, dlse)  # first: its (..., L, dv) product is gone before the gradients
    grads = (
        q.new_zeros(*batch, q.shape[-2], q.shape[-1]),
        q.new_zeros(*batch, k.shape[-2], k.shape[-1]),
        q.new_zeros(*batch, k.shape[-2], v.shape[-1]),
    )
    accumulate_grads(q, k, v, lse, delta=d, dout=dout, tiling=tiling, grads=grads)
    return grads


def reduce_to(grad: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Sum a gradient over the dimensions its input was broadcast along (GQA groups)."""
    while grad.dim() > len(shape):
        grad = grad.sum(0)
    dims = [i for i, (g, s) in enumerate(zip(grad.shape, shape, strict=True)) if s == 1 and g != 1]
    return grad.sum(dims, keepdim=True) if dims else grad


class TiledAttention(torch.autograd.Function):
    """Autograd wrapper: saves q, k, v, output and logsumexp; recomputes blocks backward."""

    @staticmethod
    def forward(ctx: Any, q: Tensor, k: Tensor, v: Tensor, tiling: Tiling) -> tuple[Tensor, Tensor]:
        out, lse = forward(q, k, v, tiling)
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.tiling = tiling
        return out, lse

    @staticmethod
    def backward(ctx: Any, dout: Tensor, dlse: Tensor) -> tuple[OptTensor, ...]:
        q, k, v, out, lse = ctx.saved_tensors
        dq, dk, dv = backward(
            q, k, v, out, lse, dout=dout.contiguous(), dlse=dlse, tiling=ctx.tiling
        )
        return reduce_to(dq, q.shape), reduce_to(dk, k.shape), reduce_to(dv, v.shape), None


def attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    allowed: OptTensor,
    bias: OptTensor,
    scale: float,
    causal_offset: int | None,
    structure: Structure | None = None,
) -> tuple[Tensor, Tensor]:
    """(output, logsumexp); differentiable in q, k and v."""
    tiling = Tiling(allowed, bias, scale, causal_offset, structure=structure)
    out, lse = TiledAttention.apply(q, k, v, tiling)  # type: ignore[no-untyped-call]
    return out, lse
