"""Why 1/√d_k, measured: random queries and keys of d_k numbers, with and without the scale.

The argument of "Attention Is All You Need" (§3.2.1) in numbers: the dot product of two random
vectors with unit-variance entries has variance d_k, so unscaled scores spread like √d_k, the
softmax puts almost all weight on one key, and the gradient that reaches the scores (through
the softmax's Jacobian diag(a) - a·aᵀ) vanishes. Scaled by 1/√d_k the spread stays near 1.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from qkv.core.softmax import softmax
from qkv.errors import InputError

MAX_D_K = 4096


@dataclass(frozen=True)
class Spread:
    """What the softmax sees for one setting, averaged over the sampled queries."""

    score_std: float  # standard deviation of the scores entering the softmax
    top_weight: float  # mean of each query's largest weight
    saturated: float  # share of queries whose largest weight is above 0.99
    gradient: float  # mean Frobenius norm of the softmax Jacobian diag(a) - a·aᵀ


@dataclass(frozen=True)
class ScaleEffect:
    d_k: int
    keys: int
    samples: int
    unscaled: Spread
    scaled: Spread

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _spread(scores: np.ndarray) -> Spread:
    a = softmax(scores)  # (samples, keys)
    top = a.max(axis=-1)
    sq = (a * a).sum(axis=-1)
    # ||diag(a) - a aᵀ||_F² = Σa² - 2Σa³ + (Σa²)²
    jac = np.sqrt(np.maximum(sq - 2 * (a**3).sum(axis=-1) + sq * sq, 0.0))
    return Spread(
        score_std=float(scores.std()),
        top_weight=float(top.mean()),
        saturated=float((top > 0.99).mean()),
        gradient=float(jac.mean()),
    )


def measure(d_k: int, keys: int = 16, samples: int = 400, seed: int = 0) -> ScaleEffect:
    """Scores of ``samples`` random queries against ``keys`` random keys (standard normal
    entries, seeded), unscaled and scaled by 1/√d_k."""
    if not 1 <= d_k <= MAX_D_K:
        raise InputError(f"d_k must be between 1 and {MAX_D_K}, not {d_k}")
    if not (2 <= keys <= 1024 and 1 <= samples <= 100_000):
        raise InputError("give 2 to 1024 keys and 1 to 100,000 samples")
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((samples, d_k))
    scores = np.empty((samples, keys))
    for j in range(keys):  # one key at a time: memory samples x d_k, not samples x keys x d_k
        scores[:, j] = np.einsum("sd,sd->s", q, rng.standard_normal((samples, d_k)))
    return ScaleEffect(d_k, keys, samples, _spread(scores), _spread(scores / math.sqrt(d_k)))
