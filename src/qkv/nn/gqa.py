"""Grouped-query attention without copies: query head h uses key/value head h // (Hq / Hkv).

q (..., Hkv·G, L, d) is viewed as (..., Hkv, G, L, d) and k, v (..., Hkv, S, d) as
(..., Hkv, 1, S, d), so that the G query heads of a group broadcast against one key/value head.
"""

from __future__ import annotations

from typing import Any

import torch


def group_heads(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    allowed: torch.Tensor | None,
    bias: torch.Tensor | None,
) -> tuple[Any, ...]:
    """GQA without copies: q (..., Hkv, G, L, d) against k, v (..., Hkv, 1, S, d)."""
    if q.dim() < 3 or q.shape[-3] == k.shape[-3]:
        return q, k, v, allowed, bias, None
    hq, hkv = q.shape[-3], k.shape[-3]
    g = hq // hkv

    def split(m: torch.Tensor | None) -> torch.Tensor | None:
        if m is None:
            return None
        if m.dim() >= 3 and m.shape[-3] == hq:
            return split_heads(m, hkv, g)
        return m.unsqueeze(-3)  # a head dim of 1, or none: broadcasts over both

    return (
        split_heads(q, hkv, g),
        k.unsqueeze(-3),
        v.unsqueeze(-3),
        split(allowed),
        split(bias),
        q.shape,
    )


def split_heads(t: torch.Tensor, hkv: int, g: int) -> torch.Tensor:
    """(..., Hkv·G, L, d) -> (..., Hkv, G, L, d), a view."""
    return t.view(*t.shape[:-3], hkv, g, *t.shape[-2:])


def ungroup_heads(t: torch.Tensor | None, q_shape: torch.Size | None, dims: int) -> Any:
    """Undo the GQA grouping of :func:`group_heads` on an output with ``dims`` trailing dims."""
    if t is None or q_shape is None:
        return t
    return t.flatten(-dims - 2, -dims - 1)
