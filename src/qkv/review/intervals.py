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


def matmul(a: Box, b: Box) -> Box:
    """[a] @ [b]: each product's corners, summed over the shared dimension."""
    with np.errstate(invalid="ignore"):
        if a.exact and b.exact:
            m = a.lo @ b.lo
            return Box(m, m)
        al, ah = a.lo[:, :, None], a.hi[:, :, None]  # (n, d, 1)
        bl, bh = b.lo[None], b.hi[None]  # (1, d, m)
        corners = np.stack([al * bl, al * bh, ah * bl, ah * bh])  # (4, n, d, m)
        return Box(corners.min(axis=0).sum(axis=1), corners.max(axis=0).sum(axis=1))


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


def softmax(s: Box, axis: int = -1) -> Box:
    """Row-wise (axis -1) or column-wise (axis 0) softmax of intervals; -inf stays weight 0."""
    if axis == 0:
        return softmax(s.T).T
    allowed = s.hi != -np.inf
    if np.array_equal(s.lo, s.hi):
        w = masked_softmax(s.lo, allowed)[0]
        return Box(w, w)
    lo = np.zeros(s.shape)
    hi = np.zeros(s.shape)
    for j in range(s.shape[1]):
        # softmax_j at its smallest: s_j low, every other score high (and the other way round)
        low_corner = s.hi.copy()
        low_corner[:, j] = s.lo[:, j]
        high_corner = s.lo.copy()
        high_corner[:, j] = s.hi[:, j]
        lo[:, j] = masked_softmax(low_corner, allowed)[0][:, j]
        hi[:, j] = masked_softmax(high_corner, allowed)[0][:, j]
    return Box(lo, hi)
