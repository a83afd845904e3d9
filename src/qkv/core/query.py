"""One query's row of a trace, entry by entry: every product, running sum and softmax term a
person writes down for it (the neuron view's arithmetic, for all of the query's keys).

    s_ij = Σ_t q_i[t]·k_j[t]      products (d_k × keys) and their running sums
    s_ij · scale                  scaled (−∞ where masked)
    e^(s_ij − m) / Σ_j e^(s_ij − m)   softmax terms, their sum, the weights
    o_i[t] = Σ_j a_ij·v_j[t]      weighted values (keys × d_v) and the output row
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from qkv.core.trace import Trace
from qkv.errors import InputError


@dataclass(frozen=True)
class QueryWork:
    query: int  # 0-based row of the trace
    products: np.ndarray  # (d_k, keys): q_i[t]·k_j[t]
    running: np.ndarray  # (d_k, keys): the sum up to t; the last row is the score
    scores: np.ndarray  # (keys,): the trace's S[i]
    scaled: np.ndarray  # (keys,): S[i]·scale, −∞ where the key is masked
    allowed: np.ndarray  # (keys,): True where the query may attend
    exponents: np.ndarray  # (keys,): s − m, NaN where masked
    terms: np.ndarray  # (keys,): e^(s − m), 0 where masked
    total: float  # Σ_j e^(s − m)
    weights: np.ndarray  # (keys,): the trace's A[i]
    weighted: np.ndarray  # (keys, d_v): a_ij·v_j[t]
    output: np.ndarray  # (d_v,): the trace's O[i]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready lists; masked entries (−∞, NaN) are null."""
        out = {name: _json(getattr(self, name)) for name in FIELDS}
        return {"query": self.query + 1, **out, "total": self.total}


FIELDS = (
    "products", "running", "scores", "scaled", "exponents", "terms", "weights", "weighted",
    "output",
)  # fmt: skip


def _json(a: np.ndarray) -> Any:
    if a.ndim > 1:
        return [_json(row) for row in a]
    return [float(v) if np.isfinite(v) else None for v in a.tolist()]


def query_work(trace: Trace, i: int) -> QueryWork:
    """Query ``i``'s (0-based) arithmetic in a one-head trace with dot-product scores."""
    if trace.heads != 1 or trace.score != "dot":
        raise InputError("the arithmetic of one query is shown for one head of dot products")
    n = trace["q"].shape[0]
    if not 0 <= i < n:
        raise InputError(f"query {i + 1} is out of range 1..{n}")
    q, k, v = (_real(trace, s).matrix for s in ("q", "k", "v"))
    products = q[i][:, None] * k.T  # (d_k, keys)
    weights_step = trace["weights"]
    allowed = np.ones(k.shape[0], dtype=bool) if weights_step.mask is None else weights_step.mask[i]
    scaled = np.where(allowed, trace["scores"].matrix[i] * trace.scale, -np.inf)
    top = scaled[allowed].max() if allowed.any() else 0.0
    exponents = np.where(allowed, scaled - top, np.nan)
    terms = np.where(allowed, np.exp(np.where(allowed, exponents, 0.0)), 0.0)
    weights = weights_step.matrix[i]
    return QueryWork(
        query=i,
        products=products,
        running=np.cumsum(products, axis=0),
        scores=trace["scores"].matrix[i],
        scaled=scaled,
        allowed=allowed,
        exponents=exponents,
        terms=terms,
        total=float(terms.sum()),
        weights=weights,
        weighted=weights[:, None] * v,
        output=trace["output"].matrix[i],
    )


def _real(trace: Trace, step_id: str) -> Any:
    """The step itself, or the one it is the same as (Q = X)."""
    step = trace[step_id]
    return trace[step.same_as] if step.same_as is not None else step
