"""The explicit ("math") backend: attention written out as the article computes it.

    scores = q kᵀ · scale  ->  + bias, masked  ->  softmax  ->  dropout  ->  weights v

It materialises the (L, S) weights, so it can return them. Softmax runs in float32 or wider.
"""

from __future__ import annotations

import torch

NEG_INF = float("-inf")


def masked_softmax(scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Row softmax and logsumexp of scores that hold -inf where masked.

    A row that is all -inf gets weights 0 and logsumexp -inf, with zero gradient (no NaN);
    so does a row of no keys at all (S = 0), as in the sdpa and tiled backends.
    """
    if scores.shape[-1] == 0:
        empty = torch.full(scores.shape[:-1], NEG_INF, dtype=scores.dtype, device=scores.device)
        return scores, empty
    top = scores.amax(dim=-1, keepdim=True).detach()  # shift only: no gradient needed
    top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    e = torch.exp(scores - top)  # exp(-inf) = 0 for masked entries
    total = e.sum(dim=-1, keepdim=True)
    nonempty = total > 0
    safe = torch.where(nonempty, total, torch.ones_like(total))
    weights = e / safe
    lse = torch.where(nonempty, top + torch.log(safe), torch.full_like(total, NEG_INF))
    return weights, lse.squeeze(-1)


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    allowed: torch.Tensor | None,
    bias: torch.Tensor | None,
    scale: float,
    dropout_p: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(output, weights before dropout, logsumexp). k, v broadcast against q (GQA)."""
    wide = torch.promote_types(q.dtype, torch.float32)
    scores = torch.matmul(q, k.transpose(-1, -2)).to(wide) * scale  # (..., L, S)
    if bias is not None:
        scores = scores + bias.to(wide)
    if allowed is not None:
        scores = scores.masked_fill(~allowed, NEG_INF)
    weights, lse = masked_softmax(scores)
    used = weights
    if dropout_p > 0.0:
        used = torch.nn.functional.dropout(weights, p=dropout_p, training=True)
    out = torch.matmul(used.to(v.dtype), v)  # (..., L, dv)
    return out, weights.to(q.dtype), lse
