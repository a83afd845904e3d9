"""The tiled backend: the FlashAttention algorithm, written in PyTorch to be read.

Forward: for each block of queries, walk over blocks of keys keeping, per query row, the
running maximum m, the running sum (total) of exp(s - m) and the running output acc. When a new
block raises the maximum, the old sum and output are rescaled by exp(m_old - m_new). At the
end, output = acc / total and logsumexp = m + log(total). That rule lives in qkv.nn.merge, which
ring attention shares. Once every row of a query block has seen a key, the next blocks are
taken against the m the rows already have, without their own maximum or a rescaling (as
FlashAttention-4 rescales only when it must): exp2(s - m) may then exceed 1, and a block whose
weights overflow is taken again the exact way. The (L, S) matrix never exists: memory is
O(N · block) beyond the inputs and outputs.

Backward (a custom autograd Function, as in FlashAttention) saves only q, k, v, the output
and the logsumexp, and recomputes each block's weights p = exp(s - lse) to get

    dv += pᵀ do        dp = do vᵀ        ds = p ∘ (dp - rowsum(do ∘ o))
    dq += ds k · scale                   dk += dsᵀ q · scale

Scores are kept in base 2 (q is pre-multiplied by log2 e) because exp2 is several times
cheaper than exp on CPUs; logsumexp is returned in natural log.

Blocks are sized to a core's cache and only those with something visible in them are computed
(qkv.nn.blocks). On the CPU the blocks are shared out among worker threads (qkv.nn.workers):
forward, each query block is one worker's; backward, each key block is (dk and dv are its
own; dq's rows, which every key block adds to, are locked while one adds). Everything runs in
float32 or wider, autocast or not.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import torch

from qkv.nn import blockwise
from qkv.nn.blocks import BlockMap, block_sizes
from qkv.nn.masks import broadcast_shape, offset_mask
from qkv.nn.merge import LOG2E, NEG_INF, OnlineSoftmax
from qkv.nn.structure import Structure
from qkv.nn.workers import parallel_for, threads_for


class _Masks:
    """Block masks, applied to a block's scores: -inf where a query may not attend.

    Two ways, the same result where the scores are finite: a 0 / -inf float bias added (a
    vectorised pass, 0.1 ns a score here), or masked_fill (exact whatever the scores hold,
    but 3.8 ns a score: torch's CPU kernel for it is not vectorised, as where's is not).
    ``additive`` says the scores cannot be inf or NaN (checked once a call: :func:`_finite_scores`),
    so the bias is used; causal and band blocks are cached by their diagonal's position. A
    structure (windows, lengths, documents: qkv.nn.structure) gives its own blocks."""

    def __init__(
        self,
        allowed: torch.Tensor | None,
        offset: int | None,
        structure: Structure | None,
        like: torch.Tensor,
        additive: bool,
    ):
        self.allowed, self.offset, self.structure = allowed, offset, structure
        self.device, self.dtype, self.additive = like.device, like.dtype, additive
        self._diagonal: dict[tuple[int, int, int], tuple[torch.Tensor | None, ...]] = {}

    def apply(self, s: torch.Tensor, i0: int, i1: int, j0: int, j1: int) -> None:
        """Mask the scores s of queries i0:i1 against keys j0:j1 in place."""
        diagonal, bias = self._diagonal_part(i0, i1, j0, j1)
        rest = None
        if self.structure is not None:
            rest = self.structure.block(i0, i1, j0, j1, self.device, with_band=False)
        if self.allowed is not None:
            a = self.allowed[..., i0:i1, j0:j1]
            rest = a if rest is None else rest & a
        if not self.additive:
            mask = diagonal if rest is None else (rest if diagonal is None else rest & diagonal)
            if mask is not None:
                s.masked_fill_(~mask, NEG_INF)
            return
        if bias is not None:
            s.add_(bias)
        if rest is not None:
            s.add_(self._bias(rest))

    def _diagonal_part(
        self, i0: int, i1: int, j0: int, j1: int
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The causal or band mask of the block and its bias, cached by the block's position
        against the diagonal (None, None when it hides nothing here)."""
        key = (i0 - j0, i1 - i0, j1 - j0)
        hit = self._diagonal.get(key)
        if hit is None:
            mask = None
            if self.structure is not None:
                mask = self.structure.band_block(i0, i1, j0, j1, self.device)
            elif self.offset is not None and j1 - 1 > i0 + self.offset:  # crosses the diagonal
                # key j0 + c is visible to query i0 + r when c - r <= i0 - j0 + offset
                mask = offset_mask(i1 - i0, j1 - j0, i0 - j0 + self.offset, self.device)
            hit = self._diagonal[key] = (mask, None if mask is None else self._bias(mask))
        return hit[0], hit[1]

    def _bias(self, mask: torch.Tensor) -> torch.Tensor:
        zero = torch.zeros((), dtype=self.dtype, device=self.device)
        return torch.where(mask, zero, torch.full_like(zero, NEG_INF))


def _largest(t: torch.Tensor) -> float:
    """max |t| (NaN if t holds one), without a copy of t (abs() would make one)."""
    low, high = torch.aminmax(t)
    return max(-float(low), float(high)) if bool(low == low) and bool(high == high) else math.nan


def _finite_scores(q: torch.Tensor, k: torch.Tensor, c: float, *more: torch.Tensor | None) -> bool:
    """Whether every score q kᵀ · c (plus the other terms, e.g. a float mask, which may hold
    -inf) is finite or -inf: then a -inf bias masks exactly as masked_fill would (inf - inf
    and NaN are what an added bias would let through). From max |q| · max |k| · d bounding
    every dot product: two passes over q and k, not over the scores."""
    if q.numel() == 0 or k.numel() == 0:
        return True
    top = _largest(q) * _largest(k) * q.shape[-1] * abs(c)
    for t in more:
        if t is not None and t.numel():
            top += max(0.0, float(t.amax()))
    return math.isfinite(top) and top < 2.0**100


Tensor = torch.Tensor
OptTensor = torch.Tensor | None


class _Scratch(threading.local):
    """Each worker's buffers for one call. Every block is written into the same memory:
    allocating and freeing block after block grew the heap (glibc keeps what it is given back
    at that size), to twice the peak of what was alive."""

    def __init__(self) -> None:
        self.buffers: dict[str, Tensor] = {}

    def take(self, name: str, shape: tuple[int, ...], like: Tensor) -> Tensor:
        """A contiguous (shape) tensor in like's dtype and device, its values undefined."""
        n = math.prod(shape)
        buf = self.buffers.get(name)
        if buf is None or buf.numel() < n:
            buf = self.buffers[name] = like.new_empty(n)
        return buf[:n].view(shape)


@dataclass(frozen=True)
class Tiling:
    """What every block needs besides q, k, v: the masks, the scale, the block sizes."""

    allowed: OptTensor  # boolean mask (True = may attend), broadcast against the scores
    bias: OptTensor  # float mask added to the scaled scores
    scale: float
    offset: int | None  # causal: query i sees key j <= i + offset; None: not causal
    block_q: int | None = None  # None: qkv.nn.blocks.block_sizes
    block_k: int | None = None
    structure: Structure | None = None  # windows, lengths, documents (and causal with them)

    def masks(self, q: Tensor, k: Tensor, *terms: Tensor | None) -> _Masks:
        """The block masks of q against k, as biases when every score is finite (the terms
        are what else is added to the scores, in base-2 units)."""
        additive = _finite_scores(q, k, self.scale * LOG2E, self.bias, *terms)
        return _Masks(self.allowed, self.offset, self.structure, q, additive)

    def blocks(self, q: Tensor, k: Tensor) -> BlockMap:
        """The blocks of q against k that hold something to compute, and their sizes."""
        n_q, n_k = q.shape[-2], k.shape[-2]
        batch = 1
        for size in broadcast_shape(q.shape[:-2], k.shape[:-2]) or ():
            batch *= size
        bq, bk = block_sizes(batch, n_q, n_k, q.dtype)
        return BlockMap.build(
            n_q,
            n_k,
            self.block_q or bq,
            self.block_k or bk,
            offset=self.offset,
            structure=self.structure,
            allowed=self.allowed,
        )


def _heaviest_first(pairs: tuple[tuple[tuple[int, bool], ...], ...]) -> list[int]:
    """The blocks with work, those with the most first: the last to be taken are short, so
    that no worker is left finishing a long one alone."""
    return sorted((i for i, p in enumerate(pairs) if p), key=lambda i: -len(pairs[i]))


def accumulate(q: Tensor, k: Tensor, v: Tensor, tiling: Tiling, state: OnlineSoftmax) -> None:
    """Fold keys k (..., S, d) and values v (..., S, dv) into the running softmax of the
    queries q (..., L, d): state holds their L rows (qkv.nn.merge)."""
    bias = tiling.bias
    n_q, n_k = q.shape[-2], k.shape[-2]
    blocks = tiling.blocks(q, k)
    bq, bk = blocks.block_q, blocks.block_k
    kt = k.transpose(-1, -2)
    spans = [(j0, min(j0 + bk, n_k)) for j0 in range(0, n_k, bk)]
    kts = [kt[..., j0:j1] for j0, j1 in spans]  # views, cut once for every row
    vs = [v[..., j0:j1, :] for j0, j1 in spans]
    masks = tiling.masks(q, k)
    c = tiling.scale * LOG2E
    batch = tuple(state.acc.shape[:-2])
    scratch = _Scratch()

    def row(i: int) -> None:
        i0, i1 = i * bq, min(i * bq + bq, n_q)
        run = state.rows(i0, i1)
        # per block: no scaled copy of all of q
        qb = torch.mul(q[..., i0:i1, :], c, out=scratch.take("q", _rows(q, i1 - i0), q))
        settled = False  # every row has seen a key: its m can serve the next blocks
        for j, full in blocks.rows[i]:
            j0, j1 = spans[j]
            s = scratch.take("s", (*batch, i1 - i0, j1 - j0), q)

            def scores() -> Tensor:  # in base-2 units, masked
                torch.matmul(qb, kts[j], out=s)  # noqa: B023 (called in this iteration)
                if bias is not None:
                    s.add_(bias[..., i0:i1, j0:j1], alpha=LOG2E)  # noqa: B023
                if not full:  # noqa: B023
                    masks.apply(s, i0, i1, j0, j1)  # noqa: B023
                return s  # noqa: B023

            # against the rows' m as it stands: no maximum of the block, no rescaling
            if settled and run.add_if_finite(scores().sub_(run.m).exp2_(), vs[j]):
                continue
            shift = run.rebase(scores().amax(dim=-1, keepdim=True))
            run.add_weights(s.sub_(shift).exp2_(), vs[j])  # in place: s is not needed again
            settled = settled or bool((run.total > 0).all())

    rows = _heaviest_first(blocks.rows)
    parallel_for(row, rows, min(threads_for(q.device), len(rows)))


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


def _rows(t: Tensor, n: int, extra: int = 0) -> tuple[int, ...]:
    """The shape of n rows of t (..., rows, m), with extra columns."""
    return (*t.shape[:-2], n, t.shape[-1] + extra)


def _with_column(t: Tensor, column: Tensor | float, times: float = 1.0, *, out: Tensor) -> Tensor:
    """out (..., n, m + 1) = t · times (..., n, m) with a last column (..., n) appended."""
    torch.mul(t, times, out=out[..., :-1])
    out[..., -1] = column
    return out


def _add_product(into: Tensor, a: Tensor, b: Tensor, alpha: float, temp: Tensor) -> None:
    """into += alpha · a b, through temp (into's shape) for the product."""
    into.add_(torch.matmul(a, b, out=temp), alpha=alpha)


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
    blocks = tiling.blocks(q, k)
    # -lse in base 2; an empty row (lse = -inf) gets -inf, so that its p is 0
    neg_lse2 = torch.where(torch.isfinite(lse), lse * -LOG2E, NEG_INF)
    masks = tiling.masks(q, k, neg_lse2)
    work = _Backward(q, k, v, neg_lse2, delta, dout, tiling, grads, blocks, masks)
    cols = _heaviest_first(blocks.cols)
    parallel_for(work.column, cols, min(threads_for(q.device), len(cols)))


@dataclass
class _Backward:
    """One backward call's blocks, a key block (a column) at a time.

    Two subtractions ride in the matrix products: q carries a last column -lse and k one of
    1s, so that q kᵀ comes out as s - lse; dout carries -delta and v 1s, so that dout vᵀ comes
    out as dp - delta. What is left for each block is exp2 and one product."""

    q: Tensor
    k: Tensor
    v: Tensor
    neg_lse2: Tensor
    delta: Tensor
    dout: Tensor
    tiling: Tiling
    grads: tuple[Tensor, Tensor, Tensor]
    blocks: BlockMap
    masks: _Masks

    def __post_init__(self) -> None:
        self.locks = [threading.Lock() for _ in self.blocks.rows]  # dq's rows: every column's
        self.scratch = _Scratch()
        self.batch = tuple(self.grads[0].shape[:-2])

    def column(self, j: int) -> None:
        """dk and dv of key block j, and its share of dq."""
        k, v, scale, take = self.k, self.v, self.tiling.scale, self.scratch.take
        bq, bk, n_q = self.blocks.block_q, self.blocks.block_k, self.q.shape[-2]
        j0, j1 = j * bk, min(j * bk + bk, k.shape[-2])
        kb, vb = k[..., j0:j1, :], v[..., j0:j1, :]
        kat = _with_column(kb, 1.0, out=take("k", _rows(kb, j1 - j0, 1), k)).transpose(-1, -2)
        vat = _with_column(vb, 1.0, out=take("v", _rows(vb, j1 - j0, 1), k)).transpose(-1, -2)
        dq, dk, dv = self.grads
        dk_j, dv_j = dk[..., j0:j1, :], dv[..., j0:j1, :]
        for i, full in self.blocks.cols[j]:
            i0, i1 = i * bq, min(i * bq + bq, n_q)
            qb, do = self.q[..., i0:i1, :], self.dout[..., i0:i1, :]
            p = self.weights(qb, kat, i0, i1, j0, j1, full)
            _add_product(dv_j, p.transpose(-1, -2), do, 1.0, take("dv", dv_j.shape, k))
            doa = take("do", (*self.batch, i1 - i0, do.shape[-1] + 1), k)
            ds = take("ds", (*self.batch, i1 - i0, j1 - j0), k)
            torch.matmul(_with_column(do, -self.delta[..., i0:i1], out=doa), vat, out=ds)
            ds.mul_(p)  # (dp - delta) ∘ p
            _add_product(dk_j, ds.transpose(-1, -2), qb, scale, take("dk", dk_j.shape, k))
            part = torch.matmul(ds, kb, out=take("dq", (*self.batch, i1 - i0, kb.shape[-1]), k))
            with self.locks[i]:
                dq[..., i0:i1, :].add_(part, alpha=scale)

    def weights(
        self, qb: Tensor, kat: Tensor, i0: int, i1: int, j0: int, j1: int, full: bool
    ) -> Tensor:
        """The block's weights p = exp2(s - lse), recomputed (masked, and the float mask)."""
        take, c = self.scratch.take, self.tiling.scale * LOG2E
        qa = take("qa", (*self.batch, i1 - i0, qb.shape[-1] + 1), qb)
        p = take("p", (*self.batch, i1 - i0, j1 - j0), qb)
        torch.matmul(_with_column(qb, self.neg_lse2[..., i0:i1], c, out=qa), kat, out=p)
        if self.tiling.bias is not None:
            p.add_(self.tiling.bias[..., i0:i1, j0:j1], alpha=LOG2E)
        if not full:
            self.masks.apply(p, i0, i1, j0, j1)
        return p.exp2_()


def backward(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    out: Tensor,
    lse: Tensor,
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
    blocks: tuple[int, int] | None = None,
) -> tuple[Tensor, Tensor]:
    """(output, logsumexp); differentiable in q, k and v. ``blocks``: (block_q, block_k)
    instead of qkv.nn.blocks.block_sizes' choice."""
    bq, bk = blocks or (None, None)
    tiling = Tiling(allowed, bias, scale, causal_offset, bq, bk, structure)
    wrapped = blockwise.Blocks(tiling, forward, backward, autocast_off=True)
    out, lse = blockwise.apply(q, k, v, wrapped)
    return out, lse
