"""The checks every attention entry point makes on its tensors, written once.

Library errors are ValueErrors that name the argument and the shapes.
"""

from __future__ import annotations

import math

import torch

from qkv.nn.masks import broadcast_shape


def validate_tensors(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor):
            raise ValueError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if not t.is_floating_point():
            raise ValueError(f"attention needs floating-point tensors; {name} is {t.dtype}")
    if not (q.dim() == k.dim() == v.dim() >= 2):
        raise ValueError(
            f"q, k, v need the same rank >= 2 (..., L, d); got q {tuple(q.shape)}, "
            f"k {tuple(k.shape)}, v {tuple(v.shape)}"
        )
    if q.dtype != k.dtype or q.dtype != v.dtype:
        raise ValueError(f"q, k, v dtypes differ: {q.dtype}, {k.dtype}, {v.dtype}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"head dims differ: q {tuple(q.shape)} and k {tuple(k.shape)}")
    if q.shape[-1] == 0:
        raise ValueError(f"the head dim d of q {tuple(q.shape)} is 0; attention needs d >= 1")
    if k.shape[:-1] != v.shape[:-1]:
        raise ValueError(
            f"k {tuple(k.shape)} and v {tuple(v.shape)} must agree but for the last dim"
        )
    if q.dim() >= 3:
        validate_heads(q, k)


def validate_heads(q: torch.Tensor, k: torch.Tensor) -> None:
    hq, hkv = q.shape[-3], k.shape[-3]
    if hkv == 0 or hq % hkv:
        raise ValueError(f"{hq} query heads are not a multiple of {hkv} key/value heads (GQA)")
    if q.shape[:-3] != k.shape[:-3] and broadcast_shape(q.shape[:-3], k.shape[:-3]) is None:
        raise ValueError(
            f"batch dims of q {tuple(q.shape)} and k {tuple(k.shape)} do not broadcast"
        )


def validate_mask(mask: torch.Tensor, target: tuple[int, ...]) -> None:
    if not isinstance(mask, torch.Tensor):
        raise ValueError(f"mask must be a torch.Tensor, got {type(mask).__name__}")
    if mask.dtype != torch.bool and not mask.is_floating_point():
        raise ValueError(f"mask must be bool (True = may attend) or float, not {mask.dtype}")
    if broadcast_shape(tuple(mask.shape), target) != target:
        raise ValueError(
            f"mask of shape {tuple(mask.shape)} does not broadcast to {target} (..., queries, keys)"
        )


def validate_scale(scale: float | None) -> None:
    if scale is not None and not (
        isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0
    ):
        raise ValueError(f"scale must be a positive finite number or None, got {scale!r}")
