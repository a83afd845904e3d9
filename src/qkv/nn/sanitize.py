"""Non-finite values nobody may look at are zeroed, so that 0 · NaN cannot leak.

A reach is a function giving (asks, seen): whether each query may attend some key, and whether
some query may attend each key. It is only called when an input holds a non-finite value.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from qkv.nn.masks import broadcast_shape

Reach = Callable[[], tuple[torch.Tensor, torch.Tensor]]


def mask_reach(q: torch.Tensor, k: torch.Tensor, allowed: torch.Tensor) -> Reach:
    """(asks, seen) from a boolean mask, reduced to q's and k's leading shapes."""

    def reach() -> tuple[torch.Tensor, torch.Tensor]:
        batch = broadcast_shape(q.shape[:-2], k.shape[:-2], allowed.shape[:-2])
        assert batch is not None  # checked by validate_mask
        full = allowed.expand(*batch, q.shape[-2], k.shape[-2])
        return (
            reduce_any(full.any(dim=-1), q.shape[:-1]),
            reduce_any(full.any(dim=-2), k.shape[:-1]),
        )

    return reach


def causal_reach(n_q: int, n_k: int, offset: int, device: torch.device) -> Reach | None:
    """(asks, seen) of a causal mask without forming it: i + offset >= 0, j <= L - 1 + offset.

    None when every query asks and every key is seen (L == S, for one): nothing to clean.
    """
    if offset >= 0 and n_q - 1 + offset >= n_k - 1:
        return None
    return lambda: (
        torch.arange(n_q, device=device) + offset >= 0,
        torch.arange(n_k, device=device) <= n_q - 1 + offset,
    )


def sanitize(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, reach: Reach | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Zero non-finite values that nobody may look at, so that 0 · NaN cannot leak.

    ``reach()`` gives (asks: this query may attend something, seen: some query may attend
    this key); it is only evaluated when an input holds a non-finite value. None: everything
    is attended, so a non-finite value is everyone's business and stays.
    """
    if reach is None:
        return q, k, v
    if all_finite(q, k, v):
        return q, k, v
    asks, seen = reach()
    zero = torch.zeros((), dtype=q.dtype, device=q.device)
    q = torch.where(asks[..., None] | torch.isfinite(q), q, zero)
    k = torch.where(seen[..., None] | torch.isfinite(k), k, zero)
    v = torch.where(seen[..., None] | torch.isfinite(v), v, zero)
    return q, k, v


def reduce_any(seen: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Reduce a broadcast (..., S) boolean to k's leading shape with any()."""
    while seen.dim() > len(shape):
        seen = seen.any(dim=0)
    for i, (a, b) in enumerate(zip(seen.shape, shape, strict=True)):
        if b == 1 and a != 1:
            seen = seen.any(dim=i, keepdim=True)
    return seen


def all_finite(*tensors: torch.Tensor) -> bool:
    """Whether every value is finite, from sums: a sum holding an inf or a NaN is not finite,
    and a sum needs no tensor of the input's size (isfinite makes a float copy and two masks).
    A sum that overflows says no, which costs only the cleaning."""
    for t in tensors:
        wide = torch.promote_types(t.dtype, torch.float32)  # float16 sums overflow early
        if not bool(torch.isfinite(t.sum(dtype=wide))):
            return False
    return True
