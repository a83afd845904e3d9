"""The one softmax of qkv.core: max-shifted, masked, safe on fully masked rows.

Every other place in the NumPy core that needs a softmax or a logsumexp calls this.
"""

from __future__ import annotations

import numpy as np


def masked_softmax(
    scores: np.ndarray, mask: np.ndarray | None = None, axis: int = -1
) -> tuple[np.ndarray, np.ndarray]:
    """Softmax along ``axis`` where ``mask`` (True = may attend) allows, and the logsumexp.

    Masked entries get weight 0 whatever they hold (NaN included). A row with nothing to
    attend to gets all-zero weights and logsumexp -inf, never NaN. ``-inf`` scores (from an
    additive mask) count as masked; NaN in an allowed entry propagates, as it should.
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.shape[axis] == 0:  # no keys at all: like a fully masked row
        return s.copy(), np.full(np.delete(s.shape, axis % s.ndim), -np.inf)
    allowed = s != -np.inf  # -inf scores come from an additive mask: masked
    if mask is not None:
        allowed &= np.broadcast_to(np.asarray(mask, dtype=bool), s.shape)
    s = np.where(allowed, s, -np.inf)
    m = np.max(s, axis=axis, keepdims=True)
    empty = ~np.isfinite(m)  # fully masked row: shift by 0 so nothing becomes NaN
    m = np.where(empty, 0.0, m)
    with np.errstate(under="ignore"):
        e = np.where(allowed, np.exp(s - m), 0.0)
    total = np.sum(e, axis=axis, keepdims=True)
    safe_total = np.where(total > 0, total, 1.0)
    weights = e / safe_total
    with np.errstate(divide="ignore"):
        lse = np.where(total > 0, m + np.log(safe_total), -np.inf)
    return weights, np.squeeze(lse, axis=axis)


def softmax(scores: np.ndarray, mask: np.ndarray | None = None, axis: int = -1) -> np.ndarray:
    """Row-wise softmax (see :func:`masked_softmax`)."""
    return masked_softmax(scores, mask, axis)[0]
