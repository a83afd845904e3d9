"""Which keys a query may see: the causal rule (written once) and how masks combine.

Boolean masks are True where a query may attend (as torch SDPA); so is an integer mask of 0
and 1 (1 = may attend, as in --mask FILE); float masks are added to the scaled scores. Causal
masks are aligned bottom-right by default: query i sees key j when j <= i + S - L (the last
query sees every key, as FlashAttention and KV-cache decoding need); top-left is j <= i
(torch's ``is_causal``). The two agree when L == S.
"""

from __future__ import annotations

from typing import Literal

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
    return j <= i + causal_offset(n_queries, n_keys, align)


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


def window_mask(
    n_queries: int, n_keys: int, width: int, align: Align = "bottom_right"
) -> np.ndarray:
    """Boolean (L, S) local window, True = may attend: query i sees key j when
    |j - (i + offset)| <= width, aligned as the causal mask is (the offset, written once)."""
    if width < 0:
        raise InputError(f"the window must be 0 or more keys wide, not {width}")
    i = np.arange(n_queries)[:, None]
    j = np.arange(n_keys)[None, :]
    band: np.ndarray = np.abs(j - (i + causal_offset(n_queries, n_keys, align))) <= width
    return band


def length_mask(lengths: object, n_queries: int, n_keys: int) -> tuple[list[int], np.ndarray]:
    """Padding by valid lengths (d2l's ``valid_lens``): query i sees keys j < n_i.

    One length applies to every query; a list gives one per query. Returns the lengths (one
    per query) and the boolean (L, S) mask, True = may attend.
    """
    raw = [lengths] if isinstance(lengths, (int, np.integer)) else lengths
    if not isinstance(raw, (list, tuple)) or not raw:
        raise InputError("lengths: give one number or one per query")
    if any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) for n in raw):
        raise InputError("lengths are whole numbers of keys")
    if len(raw) == 1:
        raw = list(raw) * n_queries
    if len(raw) != n_queries:
        raise InputError(f"{len(raw)} lengths given for {n_queries} queries; give 1 or {n_queries}")
    out = [int(n) for n in raw]
    for i, n in enumerate(out, start=1):
        if not 0 <= n <= n_keys:
            raise InputError(f"length {i} is {n}; a length is between 0 and {n_keys} (the keys)")
    j = np.arange(n_keys)[None, :]
    mask: np.ndarray = j < np.array(out)[:, None]
    return out, mask
