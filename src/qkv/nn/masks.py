"""Masks for the PyTorch layer: causal alignment and the one way user masks are combined.

Boolean masks: True = may attend (as torch SDPA). Float masks are added to the scaled scores.
"""

from __future__ import annotations

import torch

from qkv.core.masks import Align, causal_offset, normalize_causal

__all__ = [
    "Align",
    "broadcast_shape",
    "causal_mask",
    "causal_offset",
    "combine",
    "normalize_causal",
    "offset_mask",
]


def causal_mask(
    n_queries: int, n_keys: int, align: Align, device: torch.device | None = None
) -> torch.Tensor:
    """(L, S) boolean, True = may attend (qkv.core.masks says where)."""
    return offset_mask(n_queries, n_keys, causal_offset(n_queries, n_keys, align), device)


def offset_mask(
    n_queries: int, n_keys: int, offset: int, device: torch.device | None = None
) -> torch.Tensor:
    """(L, S) boolean: query i may see key j when j <= i + offset (a block of a causal mask)."""
    i = torch.arange(n_queries, device=device)[:, None]
    j = torch.arange(n_keys, device=device)[None, :]
    return j <= i + offset


def combine(
    mask: torch.Tensor | None,
    causal: Align | None,
    n_queries: int,
    n_keys: int,
    device: torch.device,
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(allowed: bool or None, bias: float or None) with the causal mask folded into allowed."""
    allowed = bias = None
    if mask is not None:
        if mask.dtype == torch.bool:
            allowed = mask
        else:
            bias = mask
    if causal is not None:
        c = causal_mask(n_queries, n_keys, causal, device)
        allowed = c if allowed is None else allowed & c
    return allowed, bias


def broadcast_shape(*shapes: tuple[int, ...]) -> tuple[int, ...] | None:
    """NumPy broadcasting of shapes, or None when they do not broadcast.

    (torch.broadcast_shapes would do, but its first call is slow: it loads torch's
    symbolic-shape machinery.)
    """
    ndim = max(len(s) for s in shapes)
    out = []
    for dims in zip(*((1,) * (ndim - len(s)) + tuple(s) for s in shapes), strict=True):
        sizes = {d for d in dims if d != 1}
        if len(sizes) > 1:
            return None
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)
