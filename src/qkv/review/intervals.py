"""Interval arithmetic for the steps of attention: every value is a range [lo, hi].

A number printed as 0.47 stands for any value in [0.465, 0.475]; a step computed from printed
numbers can give any value that some choice within those ranges gives. The bounds here are
exact for each step (not just safe): a product's bounds come from its four corner products,
and softmax_j is increasing in s_j and decreasing in every other s_k, so its bounds are
softmax at the two extreme corners.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from qkv.core.softmax import masked_softmax


@dataclass(frozen=True)
class Box:
    """A matrix of intervals; lo == hi where a value is exact. -inf marks masked scores."""

    lo: np.ndarray
    hi: np.ndarray

    @property
    def exact(self) -> bool:
        return bool(np.array_equal(self.lo, self.hi))

    @property
    def ndim(self) -> int:
        return int(self.lo.ndim)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.lo.shape)

    @cached_property
    def mid(self) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            mid = np.where(self.lo == self.hi, self.lo, (self.lo + self.hi) / 2)
        return np.asarray(mid)

    @property
    def T(self) -> Box:
        return Box(self.lo.T, self.hi.T)

    def scale(self, factor: float) -> Box:
        """Times a positive number."""
        return Box(self.lo * factor, self.hi * factor)

    def row(self, i: int) -> Box:
        return Box(self.lo[i : i + 1], self.hi[i : i + 1])


CHUNK = 1 << 18  # products per step of an interval matmul


def matmul(a: Box, b: Box) -> Box:
    """[a] @ [b]: each product's corners, summed over the shared dimension."""
    with np.errstate(invalid="ignore"):
        if a.exact and b.exact:
            m = a.lo @ b.lo
            return Box(m, m)
        lo = np.empty((a.shape[0], b.shape[1]))
        hi = np.empty_like(lo)
        step = max(1, CHUNK // max(1, b.lo.size))  # rows at a time: memory stays bounded
        bl, bh = b.lo[None], b.hi[None]  # (1, d, m)
        for r in range(0, a.shape[0], step):
            al, ah = a.lo[r : r + step, :, None], a.hi[r : r + step, :, None]  # (rows, d, 1)
            corners = np.stack([al * bl, al * bh, ah * bl, ah * bh])  # (4, rows, d, m)
            lo[r : r + step] = corners.min(axis=0).sum(axis=1)
            hi[r : r + step] = corners.max(axis=0).sum(axis=1)
        return Box(lo, hi)


def multiply(a: Box, b: Box) -> Box:
    """Elementwise product (with broadcasting)."""
    with np.errstate(invalid="ignore"):  # 0 · ∞ is NaN, which no written number fits
        corners = np.stack([a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi])
    return Box(corners.min(axis=0), corners.max(axis=0))


def mask(a: Box, allowed: np.ndarray | None) -> Box:
    """-inf where a query may not look."""
    if allowed is None:
        return a
    return Box(np.where(allowed, a.lo, -np.inf), np.where(allowed, a.hi, -np.inf))


def softmax(s: Box, axis: int | None = -1) -> Box:
    """Row-wise (axis -1), column-wise (axis 0) or whole-matrix (None) softmax of intervals;
    -inf stays weight 0."""
    if axis == 0:
        return softmax(s.T).T
    if axis is None:
        whole = softmax(Box(s.lo.reshape(1, -1), s.hi.reshape(1, -1)))
        return Box(whole.lo.reshape(s.shape), whole.hi.reshape(s.shape))
    allowed = s.hi != -np.inf
    if np.array_equal(s.lo, s.hi):
        w = masked_softmax(s.lo, allowed)[0]
        return Box(w, w)
    if np.isfinite(s.lo[allowed]).all() and np.isfinite(s.hi[allowed]).all():
        return _softmax_bounds(s, allowed)
    lo = np.zeros(s.shape)
    hi = np.zeros(s.shape)
    for j in range(s.shape[1]):  # NaN or infinite bounds: corner by corner, as defined
        # softmax_j at its smallest: s_j low, every other score high (and the other way round)
        low_corner = s.hi.copy()
        low_corner[:, j] = s.lo[:, j]
        high_corner = s.lo.copy()
        high_corner[:, j] = s.hi[:, j]
        lo[:, j] = masked_softmax(low_corner, allowed)[0][:, j]
        hi[:, j] = masked_softmax(high_corner, allowed)[0][:, j]
    return Box(lo, hi)


def _softmax_bounds(s: Box, allowed: np.ndarray) -> Box:
    """The same corners in closed form, O(n·m): with e = exp(score - row max),
    softmax_j is smallest at e_lo[j] / (e_lo[j] + Σ_{k≠j} e_hi[k]), largest the other way."""
    top = np.max(np.where(allowed, s.hi, -np.inf), axis=1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)  # fully masked row: all weights 0
    with np.errstate(under="ignore", over="ignore"):
        e_lo = np.where(allowed, np.exp(np.where(allowed, s.lo, 0.0) - top), 0.0)
        e_hi = np.where(allowed, np.exp(np.where(allowed, s.hi, 0.0) - top), 0.0)
    others_hi, others_lo = _others(e_hi), _others(e_lo)
    with np.errstate(invalid="ignore", divide="ignore"):
        lo = np.where(others_hi > 0, e_lo / (e_lo + others_hi), 1.0)
        hi = np.where(others_lo > 0, e_hi / (e_hi + others_lo), 1.0)
    return Box(np.where(allowed, lo, 0.0), np.where(allowed, hi, 0.0))


def _others(e: np.ndarray) -> np.ndarray:
    """Σ_{k≠j} e[k] for every j, without the cancellation of (Σ e) - e[j]: the largest term
    is left out of the sum and added back, so every result keeps full relative precision."""
    top = np.argmax(e, axis=1)[:, None]
    is_top = np.arange(e.shape[1])[None, :] == top
    largest = np.take_along_axis(e, top, axis=1)
    rest = np.where(is_top, 0.0, e).sum(axis=1, keepdims=True)  # everything but the largest
    return np.where(is_top, rest, largest + (rest - e))
