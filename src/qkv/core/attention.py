"""Attention in float64 NumPy: the reference semantics of qkv (README, "Semantics").

``attention()`` is the batched reference that the PyTorch layer is tested against; the hand
calculation of one sequence, with every intermediate kept, is :func:`qkv.core.trace.trace`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from qkv.core.masks import combine_masks, length_mask, structure_mask
from qkv.core.scale import ScaleArg, resolve_scale
from qkv.core.softmax import masked_softmax
from qkv.core.spec import AttentionSpec, from_keywords
from qkv.errors import InputError


def attention(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    *,
    mask: np.ndarray | None = None,
    causal: bool | str | None = None,
    window: int | Sequence[int] | None = None,
    lengths: Any = None,
    document_ids: Any = None,
    scale: ScaleArg = None,
    return_weights: bool = False,
    return_lse: bool = False,
    spec: AttentionSpec | None = None,
) -> Any:
    """softmax(mask(scale · q kᵀ)) v in float64, for q (..., L, d), k (..., S, d), v (..., S, dv).

    ``spec`` says what the call means (qkv.core.spec); the keyword arguments mask, causal,
    window, lengths (one per batch row), document_ids and scale are a convenience that
    builds one. GQA: with q (..., Hq, L, d) and k, v (..., Hkv, S, d), query head h uses
    key/value head h // (Hq / Hkv). Structured masks (qkv.core.masks), each ANDed with the
    mask and causal: a window w or (left, right) keys around each query's position; lengths
    per batch row (the first dim), the rest padding, or per query; document ids (S,) or
    (B, S), attention only within a document. Returns the output, and (output, weights[,
    lse]) when asked.
    """
    spec = from_keywords(
        spec, mask=mask, causal=causal, window=window, row_lengths=lengths,
        document_ids=document_ids, scale=scale,
    )  # fmt: skip
    q, k, v = (np.asarray(a, dtype=np.float64) for a in (q, k, v))
    if q.ndim < 2 or k.ndim != q.ndim or v.ndim != q.ndim:
        raise InputError(f"q, k, v need the same rank >= 2, got {q.shape}, {k.shape}, {v.shape}")
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise InputError(f"shapes do not fit: q {q.shape}, k {k.shape}, v {v.shape}")
    _check_spec(spec)
    k, v = repeat_kv_heads(q, k, v)
    s_value, _, _ = resolve_scale(spec.scale, q.shape[-1])
    with np.errstate(invalid="ignore", over="ignore"):
        scores = np.matmul(q, np.swapaxes(k, -1, -2)) * s_value
    allowed, additive = combine_masks(spec.may_attend(), spec.causal, scores.shape)
    structure = _structure(spec, scores.shape)
    if structure is not None:
        allowed = structure if allowed is None else allowed & structure
    if additive is not None:
        scores = scores + additive
    weights, lse = masked_softmax(scores, allowed)
    out = weighted_sum(weights, v, allowed)
    return pack(out, weights, lse, return_weights, return_lse)


def _check_spec(spec: AttentionSpec) -> None:
    """What the batched reference does not compute: the hand calculation's options."""
    if spec.heads != 1 or spec.score != "dot":
        raise InputError("heads and additive scores belong to the hand calculation (trace)")
    if spec.dropout_p:
        raise InputError("the float64 reference has no dropout; leave out dropout_p")


def _structure(spec: AttentionSpec, shape: tuple[int, ...]) -> np.ndarray | None:
    """The structured masks of the spec ANDed: causal, window, lengths (per batch row and
    per query), documents."""
    allowed = structure_mask(shape, spec.causal, spec.window, spec.row_lengths, spec.document_ids)
    if spec.query_lengths is None:
        return allowed
    _, per_query = length_mask(spec.query_lengths, shape[-2], shape[-1])
    return per_query if allowed is None else allowed & per_query


def repeat_kv_heads(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GQA: repeat each key/value head for the query heads that share it."""
    if q.ndim < 3 or q.shape[-3] == k.shape[-3]:
        return k, v
    hq, hkv = q.shape[-3], k.shape[-3]
    if hkv == 0 or hq % hkv:
        raise InputError(f"{hq} query heads are not a multiple of {hkv} key/value heads")
    return np.repeat(k, hq // hkv, axis=-3), np.repeat(v, hq // hkv, axis=-3)


def pack(out: Any, weights: Any, lse: Any, return_weights: bool, return_lse: bool) -> Any:
    """output, or (output, weights), (output, lse), (output, weights, lse): one convention."""
    extra = [x for x, asked in ((weights, return_weights), (lse, return_lse)) if asked]
    return (out, *extra) if extra else out


def weighted_sum(weights: np.ndarray, v: np.ndarray, allowed: np.ndarray | None) -> np.ndarray:
    """weights @ v, where a NaN in a value nobody may attend to does not leak (0 · NaN)."""
    if allowed is None or np.all(np.isfinite(v)):
        plain: np.ndarray = np.matmul(weights, v)
        return plain
    clean_v = np.where(np.isfinite(v), v, 0.0)
    out: np.ndarray = np.matmul(weights, clean_v)
    # Queries that do attend a non-finite value must still see it.
    bad = ~np.isfinite(v)  # (..., S, dv)
    hit: np.ndarray = np.matmul((weights > 0).astype(np.float64), bad.astype(np.float64)) > 0
    with np.errstate(invalid="ignore"):
        full: np.ndarray = np.matmul(weights, v)
        leaked: np.ndarray = np.where(hit, full, out)
    return leaked
