"""Which keys a query may see: the causal rule (written once) and how masks combine.

Boolean masks are True where a query may attend (as torch SDPA); so is an integer mask of 0
and 1 (1 = may attend, as in --mask FILE); float masks are added to the scaled scores. Causal
masks are aligned bottom-right by default: query i sees key j when j <= i + S - L (the last
query sees every key, as FlashAttention and KV-cache decoding need); top-left is j <= i
(torch's ``is_causal``). The two agree when L == S.

Structured masks, each a rule on indices that NumPy, torch and torch's flex_attention share:
a sliding window (left, right) around each query's position, bands (causal and windows are
both a range of j - i), lengths (padding at the end of each batch row) and document ids
(packed sequences: no attention across documents). Queries stand at key positions i + offset,
aligned as the causal mask is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from qkv.errors import InputError

Align = Literal["bottom_right", "top_left"]


def normalize_causal(causal: bool | str | None) -> Align | None:
    """False/None -> None; True, "bottom_right", "causal" -> bottom-right; "top_left"."""
    if causal is None or causal is False:
        return None
    if causal is True or causal in (
        "bottom_right",
        "causal",
        "bottom-right",
        "causal-bottom-right",
    ):
        return "bottom_right"
    if causal in ("top_left", "causal-top-left", "top-left"):
        return "top_left"
    raise InputError(f"causal must be False, True, 'bottom_right' or 'top_left', not {causal!r}")


def causal_offset(n_queries: int, n_keys: int, align: Align) -> int:
    """Query i may see key j when j <= i + offset: S - L bottom-right, 0 top-left."""
    return n_keys - n_queries if align == "bottom_right" else 0


def causal_mask(n_queries: int, n_keys: int, align: Align = "bottom_right") -> np.ndarray:
    """Boolean (L, S) mask, True = may attend."""
    i = np.arange(n_queries)[:, None]
    j = np.arange(n_keys)[None, :]
    allowed: np.ndarray = band_allows(i, j, None, causal_offset(n_queries, n_keys, align))
    return allowed


def as_mask(mask: object) -> np.ndarray:
    """A user mask as bool (True = may attend) or float64 (added); InputError if neither.

    Integers are 0/1 may-attend flags, as in a --mask FILE: [[1, 0], [1, 1]] hides key 2
    from query 1 (adding 1 and 0 to the scores instead would be a silent wrong result).
    """
    m = np.asarray(mask)
    if m.dtype == bool:
        return m
    if m.dtype.kind in "iu":
        if not np.isin(m, (0, 1)).all():
            raise InputError("an integer mask holds 0 and 1 (1 = may attend); add floats instead")
        return m.astype(bool)
    try:
        out = m.astype(np.float64)
    except (TypeError, ValueError, OverflowError):
        raise InputError("a mask holds booleans (True = may attend) or numbers") from None
    if np.isnan(out).any():
        raise InputError("mask contains NaN")
    return out


def combine_masks(
    mask: np.ndarray | None, causal: Align | None, shape: tuple[int, ...]
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Split a user mask into (allowed bool, additive float) and fold the causal mask in."""
    allowed = additive = None
    if mask is not None:
        m = as_mask(mask)
        try:
            np.broadcast_shapes(m.shape, shape)
        except ValueError:
            raise InputError(f"mask of shape {m.shape} does not broadcast to {shape}") from None
        if m.dtype == bool:
            allowed = np.broadcast_to(m, shape)
        else:
            additive = np.broadcast_to(m.astype(np.float64), shape)
    if causal is not None:
        c = np.broadcast_to(causal_mask(shape[-2], shape[-1], causal), shape)
        allowed = c if allowed is None else (allowed & c)
    return allowed, additive


Window = tuple[int, int]


def normalize_window(window: int | Sequence[int] | None) -> Window | None:
    """None -> None; w -> (w, w); (left, right) -> itself. Each a whole number of keys >= 0."""
    if window is None:
        return None
    if isinstance(window, (int, np.integer)):
        parts: tuple[Any, ...] = (window, window)
    elif isinstance(window, (tuple, list)):
        parts = tuple(window)
    else:
        parts = ()
    if len(parts) != 2 or not all(
        isinstance(w, (int, np.integer)) and not isinstance(w, bool) for w in parts
    ):
        raise InputError(f"window must be a number of keys or (left, right), not {window!r}")
    left, right = int(parts[0]), int(parts[1])
    if left < 0 or right < 0:
        raise InputError(f"the window must be 0 or more keys wide on each side, not {window!r}")
    return left, right


def position_offset(n_queries: int, n_keys: int, align: Align | None = None) -> int:
    """Query i stands at key position i + offset, aligned as the causal mask is (bottom-right
    unless top-left is asked): windows and documents place queries by this rule."""
    return causal_offset(n_queries, n_keys, align or "bottom_right")


def band(offset: int, causal: bool, window: Window | None) -> tuple[int | None, int | None]:
    """(lo, hi): query i may see key j when lo <= j - i <= hi (None: no bound on that side).

    Causal: j <= i + offset. A window (left, right): i + offset - left <= j <= i + offset + right.
    Both: the tighter bound on each side. Causal masks and windows are both such bands."""
    lo: int | None = None
    hi: int | None = offset if causal else None
    if window is not None:
        left, right = window
        lo = offset - left
        hi = offset + right if hi is None else min(hi, offset + right)
    return lo, hi


def band_allows(i: Any, j: Any, lo: Any, hi: Any) -> Any:
    """Whether query i may see key j in the band (lo, hi), for integers, NumPy or torch arrays
    (broadcast), including inside torch's flex_attention: the one place the rule is written."""
    d = j - i
    if lo is None:
        return d <= hi
    if hi is None:
        return d >= lo
    return (d >= lo) & (d <= hi)


def within_length(j: Any, length: Any) -> Any:
    """Whether key j is one of a row's first ``length`` keys (the rest is padding)."""
    return j < length


def same_document(query_doc: Any, key_doc: Any) -> Any:
    """Whether a query and a key belong to the same document of a packed sequence."""
    return query_doc == key_doc


def query_documents(ids: Any, positions: Any) -> Any:
    """The document of the query at each key position (positions = arange(L) + offset): that of
    the key there, or, outside 0..S-1, a number no key has (such a query sees nothing).
    NumPy or torch, ids (..., S)."""
    n = ids.shape[-1]
    if n == 0:
        return positions * 0 - 1
    inside = (positions >= 0) & (positions < n)
    found = ids[..., positions.clip(0, n - 1)]
    return found * inside + (ids.min() - 1) * ~inside


def window_mask(
    n_queries: int, n_keys: int, width: int | Sequence[int], align: Align = "bottom_right"
) -> np.ndarray:
    """Boolean (L, S) local window, True = may attend: query i sees key j when
    i + offset - left <= j <= i + offset + right, aligned as the causal mask is (the offset,
    written once). ``width`` w means (w, w)."""
    window = normalize_window(width)
    assert window is not None
    lo, hi = band(causal_offset(n_queries, n_keys, align), False, window)
    i = np.arange(n_queries)[:, None]
    j = np.arange(n_keys)[None, :]
    allowed: np.ndarray = band_allows(i, j, lo, hi)
    return allowed


def length_mask(lengths: object, n_queries: int, n_keys: int) -> tuple[list[int], np.ndarray]:
    """Padding by valid lengths (d2l's ``valid_lens``): query i sees keys j < n_i.

    One length applies to every query; a list gives one per query. Returns the lengths (one
    per query) and the boolean (L, S) mask, True = may attend.
    """
    n = np.atleast_1d(_integers(lengths, "lengths"))
    if n.ndim != 1 or n.size == 0:
        raise InputError("lengths: give one number or one per query")
    if n.size == 1:
        n = np.repeat(n, n_queries)
    if n.size != n_queries:
        raise InputError(f"{n.size} lengths given for {n_queries} queries; give 1 or {n_queries}")
    for i, v in enumerate(n, start=1):
        if not 0 <= v <= n_keys:
            raise InputError(f"length {i} is {v}; a length is between 0 and {n_keys} (the keys)")
    mask: np.ndarray = within_length(np.arange(n_keys)[None, :], n[:, None])
    return [int(v) for v in n], mask


def lengths_mask(lengths: Any, n_keys: int, ndim: int) -> np.ndarray:
    """(B, 1, ..., 1, S) boolean of ``ndim`` dims: in batch row b, keys j < lengths[b]."""
    n = _integers(lengths, "lengths")
    if n.ndim != 1:
        raise InputError(f"lengths must be one number per batch row, got shape {n.shape}")
    if np.any(n < 0):
        raise InputError(f"lengths must be 0 or more, got {n.min()}")
    allowed: np.ndarray = within_length(np.arange(n_keys), n[:, None])
    return allowed.reshape(n.shape[0], *(1,) * (ndim - 2), n_keys)


def documents_mask(document_ids: Any, n_queries: int, offset: int, ndim: int) -> np.ndarray:
    """Boolean (..., L, S) of ``ndim`` dims: query i (at key position i + offset) sees the keys
    of its own document. ids (S,) or (B, S); a query placed outside 0..S-1 sees nothing."""
    ids = _integers(document_ids, "document_ids")
    if ids.ndim not in (1, 2) or (ids.ndim == 2 and ndim < 3):
        raise InputError(f"document_ids must be (keys,) or (batch, keys), got shape {ids.shape}")
    docs = query_documents(ids, np.arange(n_queries) + offset)
    allowed: np.ndarray = same_document(docs[..., :, None], ids[..., None, :])
    if ids.ndim == 2:
        allowed = allowed.reshape(ids.shape[0], *(1,) * (ndim - 3), n_queries, ids.shape[-1])
    return allowed


def structure_mask(
    shape: tuple[int, ...],
    causal: Align | None,
    window: int | Sequence[int] | None = None,
    lengths: Any = None,
    document_ids: Any = None,
) -> np.ndarray | None:
    """The boolean mask of the structured arguments (causal, window, lengths, documents),
    broadcastable to the scores' ``shape`` (..., L, S); None when there is none."""
    n_q, n_k = shape[-2], shape[-1]
    offset = position_offset(n_q, n_k, causal)
    parts = []
    lo, hi = band(offset, causal is not None, normalize_window(window))
    if lo is not None or hi is not None:
        parts.append(band_allows(np.arange(n_q)[:, None], np.arange(n_k)[None, :], lo, hi))
    if lengths is not None:
        parts.append(lengths_mask(lengths, n_k, len(shape)))
    if document_ids is not None:
        docs = documents_mask(document_ids, n_q, offset, len(shape))
        if docs.shape[-1] != n_k:
            raise InputError(f"{docs.shape[-1]} document ids given for {n_k} keys")
        parts.append(docs)
    if not parts:
        return None
    allowed: np.ndarray = parts[0]
    for part in parts[1:]:
        allowed = allowed & part
    try:
        np.broadcast_shapes(allowed.shape, shape)
    except ValueError:
        raise InputError(
            f"lengths or document_ids do not fit the batch of scores {shape}"
        ) from None
    return allowed


def _integers(values: Any, name: str) -> np.ndarray:
    """A NumPy int64 array from integers (a list, NumPy or torch), or a clear error."""
    if hasattr(values, "detach"):  # a torch tensor, without importing torch
        values = values.detach().cpu().numpy()
    a = np.asarray(values)
    if a.dtype == bool or not np.issubdtype(a.dtype, np.integer):
        raise InputError(f"{name} must be whole numbers, got {a.dtype}")
    return a.astype(np.int64)
