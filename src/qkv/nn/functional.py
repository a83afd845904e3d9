"""qkv.nn.functional.attention: one attention with clear semantics and three backends.

    math   explicit, returns the weights, reads like the article
    sdpa   torch's fused scaled_dot_product_attention
    tiled  the flash algorithm in PyTorch: O(N · block) memory, returns the logsumexp
    auto   sdpa whenever no weights are asked and the semantics map onto it

Semantics (README, "Semantics"): boolean masks are True where a query may attend; float
masks are added to the scaled scores; causal=True aligns bottom-right (query i sees keys
j <= i + S - L, as FlashAttention and KV-cache decoding need), causal="top_left" is torch's
is_causal; a fully masked row gives output 0, weights 0, gradient 0 and logsumexp -inf; a
non-finite value in a key or value that no query may attend, or in a query that may attend
nothing, reaches neither the output nor the gradients; GQA: query head h uses key/value
head h // (Hq / Hkv).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from qkv.core.attention import pack
from qkv.nn import explicit, tiled
from qkv.nn.gqa import group_heads, ungroup_heads
from qkv.nn.masks import Align, causal_offset, combine, normalize_causal
from qkv.nn.sanitize import causal_reach, mask_reach, sanitize
from qkv.nn.validate import validate_mask, validate_scale, validate_tensors

BACKENDS = ("auto", "math", "sdpa", "tiled")


def _validate(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None,
    dropout_p: float,
    scale: float | None,
    backend: str,
) -> None:
    validate_tensors(q, k, v)
    if mask is not None:
        validate_mask(mask, (*q.shape[:-1], k.shape[-2]))
    if not (isinstance(dropout_p, (int, float)) and 0.0 <= dropout_p < 1.0):
        raise ValueError(f"dropout_p must be in [0, 1), got {dropout_p!r}")
    validate_scale(scale)
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    mask: torch.Tensor | None = None,
    causal: bool | str = False,
    scale: float | None = None,
    dropout_p: float = 0.0,
    training: bool = False,
    return_weights: bool = False,
    return_lse: bool = False,
    backend: str = "auto",
) -> Any:
    """softmax(mask(q kᵀ · scale)) v for q (..., L, d), k (..., S, d), v (..., S, dv).

    Returns the output (..., L, dv); with ``return_weights`` also the weights (..., L, S)
    before dropout (each live row sums to 1); with ``return_lse`` also the logsumexp
    (..., L), in that order. Dropout applies to the weights after the softmax, and only
    when ``training``. ``scale`` defaults to 1/sqrt(d).
    """
    _validate(q, k, v, mask, dropout_p, scale, backend)
    align = _causal_that_hides(causal, q.shape[-2], k.shape[-2])
    s = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    p = float(dropout_p) if training else 0.0
    backend = _choose_backend(backend, return_weights, return_lse, p)
    if backend == "sdpa":
        return _sdpa(q, k, v, mask, align, s, p)
    if backend == "math":
        out, weights, lse = _math(q, k, v, mask, align, s, p)
    else:
        out, lse = _tiled(q, k, v, mask, align, s)
        weights = None
    return pack(out, weights, lse, return_weights, return_lse)


def _causal_that_hides(causal: bool | str, n_q: int, n_k: int) -> Align | None:
    """The causal alignment, or None when it hides nothing (every query sees every key, as
    one new token against a KV cache does)."""
    align = normalize_causal(causal)
    if align is not None and causal_offset(n_q, n_k, align) >= n_k - 1:
        return None
    return align


def _choose_backend(backend: str, return_weights: bool, return_lse: bool, p: float) -> str:
    """ "auto" resolved, and the combinations a backend cannot do refused."""
    if backend == "auto":
        if return_weights or (return_lse and p > 0):
            return "math"
        return "tiled" if return_lse else "sdpa"
    if backend == "sdpa" and (return_weights or return_lse):
        raise ValueError(
            "backend 'sdpa' returns neither weights nor logsumexp; use 'math' or 'tiled'"
        )
    if backend == "tiled" and p > 0:
        raise ValueError("backend 'tiled' has no dropout; use 'math' or 'sdpa' in training")
    if backend == "tiled" and return_weights:
        raise ValueError("backend 'tiled' never forms the weights; use 'math'")
    return backend


def _math(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None,
    align: Align | None,
    scale: float,
    p: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The explicit backend: (output, weights, logsumexp)."""
    allowed, bias = combine(mask, align, q.shape[-2], k.shape[-2], q.device)
    gq, gk, gv, gallowed, gbias, q_shape = group_heads(q, k, v, allowed, bias)
    if gallowed is not None:
        gq, gk, gv = sanitize(gq, gk, gv, mask_reach(gq, gk, gallowed))
    out, weights, lse = explicit.attention(
        gq, gk, gv, allowed=gallowed, bias=gbias, scale=scale, dropout_p=p
    )
    return (
        ungroup_heads(out, q_shape, 2),
        ungroup_heads(weights, q_shape, 2),
        ungroup_heads(lse, q_shape, 1),
    )


def _tiled(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None,
    align: Align | None,
    scale: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The flash algorithm in PyTorch: (output, logsumexp), computed in float32 or wider."""
    n_q, n_k = q.shape[-2], k.shape[-2]
    # a causal mask alone is computed per block: never form the (L, S) matrix for it
    offset = causal_offset(n_q, n_k, align) if align is not None and mask is None else None
    allowed, bias = combine(mask, None if offset is not None else align, n_q, n_k, q.device)
    if bias is not None and bias.requires_grad:
        raise ValueError("backend 'tiled' does not differentiate a float mask; use 'math'")
    gq, gk, gv, gallowed, gbias, q_shape = group_heads(q, k, v, allowed, bias)
    if gallowed is not None:
        gq, gk, gv = sanitize(gq, gk, gv, mask_reach(gq, gk, gallowed))
    elif offset is not None:
        gq, gk, gv = sanitize(gq, gk, gv, causal_reach(n_q, n_k, offset, q.device))
    wide = torch.promote_types(q.dtype, torch.float32)
    out, lse = tiled.attention(
        gq.to(wide),
        gk.to(wide),
        gv.to(wide),
        allowed=gallowed,
        bias=None if gbias is None else gbias.to(wide),
        scale=scale,
        causal_offset=offset,
    )
    return ungroup_heads(out.to(q.dtype), q_shape, 2), ungroup_heads(lse, q_shape, 1)


def _open_empty_rows(allowed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A row with nothing to attend: let SDPA see every key there (the row is zeroed after),
    so that no torch version's NaN for empty rows can reach the output or the gradients.
    Returns the mask to give SDPA and the empty rows (None when there are none)."""
    empty = ~allowed.any(dim=-1, keepdim=True)
    if not bool(empty.any()):
        return allowed, None
    return allowed | empty, empty


def _sdpa(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None,
    align: Align | None,
    scale: float,
    dropout_p: float,
) -> torch.Tensor:
    """torch's fused kernel, with our semantics mapped onto its arguments."""
    n_q, n_k = q.shape[-2], k.shape[-2]
    gqa = q.dim() >= 3 and q.shape[-3] != k.shape[-3]
    if mask is None and (align is None or n_q == n_k or align == "top_left"):
        # the fast paths: no mask at all, or torch's own (top-left) is_causal
        if align is not None:
            offset = causal_offset(n_q, n_k, align)
            q, k, v = sanitize(q, k, v, causal_reach(n_q, n_k, offset, q.device))
        return torch.nn.functional.scaled_dot_product_attention(
            q, k, v, dropout_p=dropout_p, is_causal=align is not None, scale=scale, enable_gqa=gqa
        )
    allowed, bias = combine(mask, align, n_q, n_k, q.device)
    empty: torch.Tensor | None = None
    attn_mask = bias
    if allowed is not None:
        gq, gk, gv, gallowed, _, grouped = group_heads(q, k, v, allowed, None)
        gq, gk, gv = sanitize(gq, gk, gv, mask_reach(gq, gk, gallowed))
        if grouped is not None:
            q, k, v = gq.flatten(-4, -3), gk.squeeze(-3), gv.squeeze(-3)
        else:
            q, k, v = gq, gk, gv
        allowed, empty = _open_empty_rows(allowed)
        attn_mask = allowed if bias is None else bias.masked_fill(~allowed, float("-inf"))
    out = torch.nn.functional.scaled_dot_product_attention(
        q, k, v, attn_mask=attn_mask, dropout_p=dropout_p, scale=scale, enable_gqa=gqa
    )
    if empty is not None:
        out = out.masked_fill(empty, 0.0)
    return out
