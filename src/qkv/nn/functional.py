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
from collections.abc import Callable
from typing import Any

import torch

from qkv.core.attention import pack
from qkv.nn import explicit, tiled
from qkv.nn.masks import Align, broadcast_shape, causal_offset, combine, normalize_causal

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
    _validate_tensors(q, k, v)
    if mask is not None:
        _validate_mask(mask, (*q.shape[:-1], k.shape[-2]))
    if not (isinstance(dropout_p, (int, float)) and 0.0 <= dropout_p < 1.0):
        raise ValueError(f"dropout_p must be in [0, 1), got {dropout_p!r}")
    if scale is not None and not (
        isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0
    ):
        raise ValueError(f"scale must be a positive finite number or None, got {scale!r}")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")


def _validate_tensors(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
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
        _validate_heads(q, k)


def _validate_heads(q: torch.Tensor, k: torch.Tensor) -> None:
    hq, hkv = q.shape[-3], k.shape[-3]
    if hkv == 0 or hq % hkv:
        raise ValueError(f"{hq} query heads are not a multiple of {hkv} key/value heads (GQA)")
    if q.shape[:-3] != k.shape[:-3] and broadcast_shape(q.shape[:-3], k.shape[:-3]) is None:
        raise ValueError(
            f"batch dims of q {tuple(q.shape)} and k {tuple(k.shape)} do not broadcast"
        )


def _validate_mask(mask: torch.Tensor, target: tuple[int, ...]) -> None:
    if not isinstance(mask, torch.Tensor):
        raise ValueError(f"mask must be a torch.Tensor, got {type(mask).__name__}")
    if mask.dtype != torch.bool and not mask.is_floating_point():
        raise ValueError(f"mask must be bool (True = may attend) or float, not {mask.dtype}")
    if broadcast_shape(tuple(mask.shape), target) != target:
        raise ValueError(
            f"mask of shape {tuple(mask.shape)} does not broadcast to {target} (..., queries, keys)"
        )


def _group(
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
            return _split_heads(m, hkv, g)
        return m.unsqueeze(-3)  # a head dim of 1, or none: broadcasts over both

    return (
        _split_heads(q, hkv, g),
        k.unsqueeze(-3),
        v.unsqueeze(-3),
        split(allowed),
        split(bias),
        q.shape,
    )


def _split_heads(t: torch.Tensor, hkv: int, g: int) -> torch.Tensor:
    """(..., Hkv·G, L, d) -> (..., Hkv, G, L, d), a view."""
    return t.view(*t.shape[:-3], hkv, g, *t.shape[-2:])


Reach = Callable[[], tuple[torch.Tensor, torch.Tensor]]


def _mask_reach(q: torch.Tensor, k: torch.Tensor, allowed: torch.Tensor) -> Reach:
    """(asks, seen) from a boolean mask, reduced to q's and k's leading shapes."""

    def reach() -> tuple[torch.Tensor, torch.Tensor]:
        batch = broadcast_shape(q.shape[:-2], k.shape[:-2], allowed.shape[:-2])
        assert batch is not None  # checked by _validate
        full = allowed.expand(*batch, q.shape[-2], k.shape[-2])
        return (
            _reduce_any(full.any(dim=-1), q.shape[:-1]),
            _reduce_any(full.any(dim=-2), k.shape[:-1]),
        )

    return reach


def _causal_reach(n_q: int, n_k: int, offset: int, device: torch.device) -> Reach | None:
    """(asks, seen) of a causal mask without forming it: i + offset >= 0, j <= L - 1 + offset.

    None when every query asks and every key is seen (L == S, for one): nothing to clean.
    """
    if offset >= 0 and n_q - 1 + offset >= n_k - 1:
        return None
    return lambda: (
        torch.arange(n_q, device=device) + offset >= 0,
        torch.arange(n_k, device=device) <= n_q - 1 + offset,
    )


def _sanitize(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, reach: Reach | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Zero non-finite values that nobody may look at, so that 0 · NaN cannot leak.

    ``reach()`` gives (asks: this query may attend something, seen: some query may attend
    this key); it is only evaluated when an input holds a non-finite value. None: everything
    is attended, so a non-finite value is everyone's business and stays.
    """
    if reach is None:
        return q, k, v
    if bool(torch.isfinite(q).all() and torch.isfinite(k).all() and torch.isfinite(v).all()):
        return q, k, v
    asks, seen = reach()
    zero = torch.zeros((), dtype=q.dtype, device=q.device)
    q = torch.where(asks[..., None] | torch.isfinite(q), q, zero)
    k = torch.where(seen[..., None] | torch.isfinite(k), k, zero)
    v = torch.where(seen[..., None] | torch.isfinite(v), v, zero)
    return q, k, v


def _reduce_any(seen: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Reduce a broadcast (..., S) boolean to k's leading shape with any()."""
    while seen.dim() > len(shape):
        seen = seen.any(dim=0)
    for i, (a, b) in enumerate(zip(seen.shape, shape, strict=True)):
        if b == 1 and a != 1:
            seen = seen.any(dim=i, keepdim=True)
    return seen


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


def _ungroup(t: torch.Tensor | None, q_shape: torch.Size | None, dims: int) -> Any:
    """Undo the GQA grouping of :func:`_group` on an output with ``dims`` trailing dims."""
    if t is None or q_shape is None:
        return t
    return t.flatten(-dims - 2, -dims - 1)


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
    gq, gk, gv, gallowed, gbias, q_shape = _group(q, k, v, allowed, bias)
    if gallowed is not None:
        gq, gk, gv = _sanitize(gq, gk, gv, _mask_reach(gq, gk, gallowed))
    out, weights, lse = explicit.attention(
        gq, gk, gv, allowed=gallowed, bias=gbias, scale=scale, dropout_p=p
    )
    return _ungroup(out, q_shape, 2), _ungroup(weights, q_shape, 2), _ungroup(lse, q_shape, 1)


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
    gq, gk, gv, gallowed, gbias, q_shape = _group(q, k, v, allowed, bias)
    if gallowed is not None:
        gq, gk, gv = _sanitize(gq, gk, gv, _mask_reach(gq, gk, gallowed))
    elif offset is not None:
        gq, gk, gv = _sanitize(gq, gk, gv, _causal_reach(n_q, n_k, offset, q.device))
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
    return _ungroup(out.to(q.dtype), q_shape, 2), _ungroup(lse, q_shape, 1)


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
            q, k, v = _sanitize(q, k, v, _causal_reach(n_q, n_k, offset, q.device))
        return torch.nn.functional.scaled_dot_product_attention(
            q, k, v, dropout_p=dropout_p, is_causal=align is not None, scale=scale, enable_gqa=gqa
        )
    allowed, bias = combine(mask, align, n_q, n_k, q.device)
    empty: torch.Tensor | None = None
    attn_mask = bias
    if allowed is not None:
        gq, gk, gv, gallowed, _, grouped = _group(q, k, v, allowed, None)
        gq, gk, gv = _sanitize(gq, gk, gv, _mask_reach(gq, gk, gallowed))
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
