"""qkv.nn.functional.attention: one attention with clear semantics and four backends.

    math   explicit, returns the weights, reads like the article
    sdpa   torch's fused scaled_dot_product_attention
    tiled  the flash algorithm in PyTorch: O(N · block) memory, returns the logsumexp
    flex   torch's flex_attention, compiled: block-sparse masks and the logsumexp, fused
    auto   the fastest backend that can do the call on its device (qkv.nn.routes)

Semantics (README, "Semantics"): boolean masks are True where a query may attend; float
masks are added to the scaled scores; causal=True aligns bottom-right (query i sees keys
j <= i + S - L, as FlashAttention and KV-cache decoding need), causal="top_left" is torch's
is_causal; window, lengths and document_ids are structured masks (qkv.core.masks) ANDed with
the rest; a fully masked row gives output 0, weights 0, gradient 0 and logsumexp -inf; a
non-finite value in a key or value that no query may attend, or in a query that may attend
nothing, reaches neither the output nor the gradients; GQA: query head h uses key/value
head h // (Hq / Hkv).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any, Literal, TypedDict, Unpack, overload

import torch

from qkv.core.attention import pack
from qkv.core.scale import is_sqrt
from qkv.core.spec import AttentionSpec, from_keywords
from qkv.nn import explicit, flex, routes, sdpa, tiled
from qkv.nn.call import Call
from qkv.nn.gqa import group_heads, ungroup_heads
from qkv.nn.masks import Align, causal_offset, combine
from qkv.nn.sanitize import causal_reach, mask_reach, sanitize
from qkv.nn.structure import Structure
from qkv.nn.validate import validate_mask, validate_scale, validate_tensors

BACKENDS = ("auto", "math", "sdpa", "tiled", "flex")
_warned: set[str] = set()  # flex compile failures already told


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


class Options(TypedDict, total=False):
    """attention()'s keywords other than what it returns, for its typed overloads."""

    mask: torch.Tensor | None
    causal: bool | str
    window: int | Sequence[int] | None
    lengths: Any
    document_ids: Any
    scale: float | None
    dropout_p: float
    training: bool
    backend: str
    spec: AttentionSpec | None


Tensor = torch.Tensor


# what comes back follows return_weights and return_lse: a type checker knows it
@overload
def attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    return_weights: Literal[False] = False,
    return_lse: Literal[False] = False,
    **options: Unpack[Options],
) -> Tensor: ...
@overload
def attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    return_weights: Literal[True],
    return_lse: Literal[False] = False,
    **options: Unpack[Options],
) -> tuple[Tensor, Tensor]: ...
@overload
def attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    return_weights: Literal[False] = False,
    return_lse: Literal[True],
    **options: Unpack[Options],
) -> tuple[Tensor, Tensor]: ...
@overload
def attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    return_weights: Literal[True],
    return_lse: Literal[True],
    **options: Unpack[Options],
) -> tuple[Tensor, Tensor, Tensor]: ...
@overload
def attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    return_weights: bool = False,
    return_lse: bool = False,
    **options: Unpack[Options],
) -> Tensor | tuple[Tensor, ...]: ...
def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    mask: torch.Tensor | None = None,
    causal: bool | str = False,
    window: int | Sequence[int] | None = None,
    lengths: Any = None,
    document_ids: Any = None,
    scale: float | None = None,
    dropout_p: float = 0.0,
    training: bool = False,
    return_weights: bool = False,
    return_lse: bool = False,
    backend: str = "auto",
    spec: AttentionSpec | None = None,
) -> Any:
    """softmax(mask(q kᵀ · scale)) v for q (..., L, d), k (..., S, d), v (..., S, dv).

    ``spec`` says what the call means (qkv.core.spec); mask, causal, window, lengths (one
    per batch row), document_ids, scale and dropout_p are a convenience that builds one.
    Structured masks, each ANDed with ``mask`` and ``causal``: ``window`` w or (left, right)
    keys on each side of a query's position; ``lengths`` (B,): row b of the batch (dim 0) has
    lengths[b] keys, the rest is padding; ``document_ids`` (S,) or (B, S): packed sequences,
    a query sees only its own document's keys. Queries stand at key positions aligned as the
    causal mask is (bottom-right unless causal="top_left").

    Returns the output (..., L, dv); with ``return_weights`` also the weights (..., L, S)
    before dropout (each live row sums to 1); with ``return_lse`` also the logsumexp
    (..., L), in that order. Dropout applies to the weights after the softmax, and only
    when ``training``. ``scale`` defaults to 1/sqrt(d).
    """
    spec = _spec(spec, mask, causal, window, lengths, document_ids, scale, dropout_p)
    call = _prepare(q, k, v, spec, training, backend, (return_weights, return_lse))
    chosen = _choose_backend(backend, call)
    out, weights, lse = REGISTRY[chosen].run(call, backend == "auto")
    return pack(out, weights, lse, return_weights, return_lse)


def route(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    mask: torch.Tensor | None = None,
    causal: bool | str = False,
    window: int | Sequence[int] | None = None,
    lengths: Any = None,
    document_ids: Any = None,
    scale: float | None = None,
    dropout_p: float = 0.0,
    training: bool = False,
    return_weights: bool = False,
    return_lse: bool = False,
    spec: AttentionSpec | None = None,
) -> str:
    """The backend ``attention(..., backend="auto")`` runs for these arguments (and whether
    gradients are wanted: torch.is_grad_enabled() and requires_grad, as there)."""
    spec = _spec(spec, mask, causal, window, lengths, document_ids, scale, dropout_p)
    call = _prepare(q, k, v, spec, training, "auto", (return_weights, return_lse))
    return _choose_backend("auto", call)


def _spec(
    spec: AttentionSpec | None,
    mask: torch.Tensor | None,
    causal: bool | str,
    window: int | Sequence[int] | None,
    lengths: Any,
    document_ids: Any,
    scale: float | None,
    dropout_p: float,
) -> AttentionSpec:
    """The call's spec: ``spec``, or one built from the keyword arguments (ValueError when
    both are given or a value is bad, as every argument error here)."""
    if not (isinstance(dropout_p, (int, float)) and 0.0 <= dropout_p < 1.0):
        raise ValueError(f"dropout_p must be in [0, 1), got {dropout_p!r}")
    validate_scale(scale)
    return from_keywords(
        spec, mask=mask, causal=causal, window=window, row_lengths=lengths,
        document_ids=document_ids, scale=scale, dropout_p=dropout_p or None,
    )  # fmt: skip


def _scale(spec: AttentionSpec, d: int) -> float:
    """The spec's scale as a number: 1/sqrt(d) by default, 1 for "none"."""
    if is_sqrt(spec.scale):
        return 1.0 / math.sqrt(d)
    value = 1.0 if spec.scale == "none" else spec.scale
    if isinstance(value, Fraction):
        value = float(value)
    validate_scale(value)  # type: ignore[arg-type]
    return float(value)  # type: ignore[arg-type]


def _prepare(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    spec: AttentionSpec,
    training: bool,
    backend: str,
    asked: tuple[bool, bool],
) -> Call:
    """The call resolved; ``asked``: (the weights, the logsumexp)."""
    if spec.query_lengths is not None or spec.heads != 1 or spec.score != "dot":
        raise ValueError("query lengths, heads and additive scores belong to qkv.core.trace")
    mask = spec.may_attend()
    _validate(q, k, v, mask, spec.dropout_p, None, backend)
    n_q, n_k = q.shape[-2], k.shape[-2]
    where = spec.causal  # also places windows and documents
    align = _causal_that_hides(where, n_q, n_k)
    structure = Structure.build(
        q, k, causal=align, align=where, window=spec.window, lengths=spec.row_lengths,
        document_ids=spec.document_ids,
    )  # fmt: skip
    s = _scale(spec, q.shape[-1])
    p = float(spec.dropout_p) if training else 0.0
    return Call(q, k, v, mask, align, structure, s, p, *asked)


def _causal_that_hides(align: Align | None, n_q: int, n_k: int) -> Align | None:
    """The causal alignment, or None when it hides nothing (every query sees every key, as
    one new token against a KV cache does)."""
    if align is not None and causal_offset(n_q, n_k, align) >= n_k - 1:
        return None
    return align


def _choose_backend(backend: str, call: Call) -> str:
    """ "auto" resolved (qkv.nn.routes), and what a named backend cannot do refused, as its
    entry in REGISTRY says."""
    if backend == "auto":
        return routes.auto(call)
    can = REGISTRY[backend]
    if call.weights and not can.weights:
        raise ValueError(f"backend {backend!r} never forms the weights; use 'math'")
    if call.lse and not can.lse:
        others = ", ".join(repr(n) for n, b in REGISTRY.items() if b.lse)
        raise ValueError(f"backend {backend!r} returns no logsumexp; use {others}")
    if call.dropout_p > 0 and not can.dropout:
        raise ValueError(f"backend {backend!r} has no dropout; use 'math' or 'sdpa' in training")
    if backend == "flex":
        why = call.flex_refuses()
        if why is not None:
            raise ValueError(f"backend 'flex' cannot run this call: {why}")
    return backend


def _flex(call: Call, fallback: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """flex_attention. If it cannot be compiled for this call: with ``fallback`` (auto), SDPA
    with a mask tensor (the logsumexp from tiled) and a warning that says why, once; else a
    RuntimeError that says why."""
    q, k, v = call.q, call.k, call.v
    structure = call.structure or Structure.causal(q, k, call.align)
    allowed = call.mask
    if allowed is not None or structure.needs_cleaning():
        q, k, v = sanitize(q, k, v, structure.reach(q, k, allowed))
    try:
        return flex.attention(
            q, k, v, structure=structure, allowed=allowed, scale=call.scale, return_lse=call.lse
        )
    except flex.CompileFailed as e:
        if not fallback:
            raise RuntimeError(f"backend 'flex': {e}; use backend 'auto' or 'sdpa'") from None
        if str(e) not in _warned:
            _warned.add(str(e))
            warnings.warn(f"{e}; qkv.nn.attention takes SDPA", RuntimeWarning, stacklevel=3)
        if call.lse:
            return _tiled(call)
        return _sdpa(call), None


def _math(call: Call) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The explicit backend: (output, weights, logsumexp)."""
    q, k, v = call.q, call.k, call.v
    allowed, bias = combine(call.mask, call.align, q.shape[-2], k.shape[-2], q.device)
    if call.structure is not None:
        dense = call.structure.dense(q.device)
        allowed = dense if allowed is None else allowed & dense
    gq, gk, gv, gallowed, gbias, q_shape = group_heads(q, k, v, allowed, bias)
    if gallowed is not None:
        gq, gk, gv = sanitize(gq, gk, gv, mask_reach(gq, gk, gallowed))
    out, weights, lse = explicit.attention(
        gq, gk, gv, allowed=gallowed, bias=gbias, scale=call.scale, dropout_p=call.dropout_p
    )
    return (
        ungroup_heads(out, q_shape, 2),
        ungroup_heads(weights, q_shape, 2),
        ungroup_heads(lse, q_shape, 1),
    )


def _tiled(call: Call) -> tuple[torch.Tensor, torch.Tensor]:
    """The flash algorithm in PyTorch: (output, logsumexp), computed in float32 or wider.
    Causal masks and structures are computed per block: never the (L, S) matrix for them."""
    q, k, v, mask, structure = call.q, call.k, call.v, call.mask, call.structure
    n_q, n_k = q.shape[-2], k.shape[-2]
    offset = None
    if call.align is not None and mask is None and structure is None:
        offset = causal_offset(n_q, n_k, call.align)
    causal = call.align if offset is None and structure is None else None
    allowed, bias = combine(mask, causal, n_q, n_k, q.device)
    if bias is not None and bias.requires_grad:
        raise ValueError("backend 'tiled' does not differentiate a float mask; use 'math'")
    if structure is not None:
        q, k, v = sanitize(q, k, v, structure.reach(q, k, allowed))
    gq, gk, gv, gallowed, gbias, q_shape = group_heads(q, k, v, allowed, bias)
    if structure is not None:  # cleaned above, against the structure and the mask together
        if q_shape is not None:  # its batch dim stays dim 0 of the grouped heads' scores
            structure = replace(structure, ndim=gq.dim())
    elif gallowed is not None:
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
        scale=call.scale,
        causal_offset=offset,
        structure=structure,
    )
    return ungroup_heads(out.to(q.dtype), q_shape, 2), ungroup_heads(lse, q_shape, 1)


def _sdpa(call: Call) -> torch.Tensor:
    return sdpa.attention(
        call.q,
        call.k,
        call.v,
        mask=call.mask,
        align=call.align,
        structure=call.structure,
        scale=call.scale,
        dropout_p=call.dropout_p,
    )


Ran = tuple[torch.Tensor, "torch.Tensor | None", "torch.Tensor | None"]  # output, weights, lse


@dataclass(frozen=True)
class Backend:
    """A backend by name, with one signature (as transformers registers its attention
    functions): run(call, fallback) -> (output, weights or None, logsumexp or None), and
    what it can give back, which _choose_backend reads to refuse a call it cannot do."""

    run: Callable[[Call, bool], Ran]
    weights: bool = False  # forms the weights (returns them)
    lse: bool = False  # returns the logsumexp
    dropout: bool = False


def _run_flex(call: Call, fallback: bool) -> Ran:
    out, lse = _flex(call, fallback)
    return out, None, lse


def _run_tiled(call: Call, fallback: bool) -> Ran:
    out, lse = _tiled(call)
    return out, None, lse


REGISTRY: dict[str, Backend] = {
    "math": Backend(lambda call, _: _math(call), weights=True, lse=True, dropout=True),
    "sdpa": Backend(lambda call, _: (_sdpa(call), None, None), dropout=True),
    "tiled": Backend(_run_tiled, lse=True),
    "flex": Backend(_run_flex, lse=True),
}
