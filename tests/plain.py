"""A deliberately plain attention in pure Python (loops, math.exp), independent of qkv.core.

Used as the second implementation that property tests hold qkv.core against.
"""

from __future__ import annotations

import math


def plain_attention(q, k, v, scale=1.0, allowed=None):
    out, weights = [], []
    for i, qi in enumerate(q):
        scores = []
        for j, kj in enumerate(k):
            ok = allowed is None or allowed[i][j]
            scores.append(sum(a * b for a, b in zip(qi, kj, strict=True)) * scale if ok else None)
        live = [s for s in scores if s is not None]
        if not live:
            w = [0.0] * len(k)
        else:
            top = max(live)
            e = [0.0 if s is None else math.exp(s - top) for s in scores]
            total = sum(e)
            w = [x / total for x in e]
        weights.append(w)
        out.append([sum(w[j] * v[j][c] for j in range(len(v))) for c in range(len(v[0]))])
    return out, weights
