"""Numbers that summarise each head: where its attention goes, and how spread it is."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from qkv.maps import AttentionMaps


@dataclass(frozen=True)
class HeadSummary:
    layer: int  # 1-based
    head: int  # 1-based
    entropy: float  # mean over queries, in bits (0: one key takes everything)
    first: float  # mean share of attention on the first token
    previous: float  # ... on the token just before the query
    same: float  # ... on the query's own token
    distance: float  # mean |query - key| weighted by attention, in tokens

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def summarise(maps: AttentionMaps) -> list[HeadSummary]:
    """One summary per (layer, head), averaged over the queries."""
    w = maps.maps.astype(np.float64)  # (layers, heads, N, N)
    n = w.shape[-1]
    i = np.arange(w.shape[-2])[:, None]
    j = np.arange(n)[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.where(w > 0, w * np.log2(w), 0.0).sum(-1)  # (layers, heads, N)
    prev = np.zeros_like(w[..., 0])
    if n > 1:
        prev[..., 1:] = w[..., np.arange(1, w.shape[-2]), np.arange(0, w.shape[-2] - 1)]
    same = np.diagonal(w, axis1=-2, axis2=-1) if w.shape[-2] == n else np.zeros_like(prev)
    dist = (w * np.abs(i - j)).sum(-1)
    out = []
    for layer in range(w.shape[0]):
        for head in range(w.shape[1]):
            out.append(
                HeadSummary(
                    layer + 1,
                    head + 1,
                    float(ent[layer, head].mean()),
                    float(w[layer, head, :, 0].mean()),
                    float(prev[layer, head, 1:].mean()) if n > 1 else 0.0,
                    float(same[layer, head].mean()),
                    float(dist[layer, head].mean()),
                )
            )
    return out


def summary_figure(maps: AttentionMaps, measure: str = "entropy") -> object:
    """A layers x heads heatmap of one measure (entropy, first, previous, same, distance)."""
    from qkv.errors import InputError
    from qkv.viz.heatmap import heatmap

    if measure not in ("entropy", "first", "previous", "same", "distance"):
        raise InputError(f"unknown measure {measure!r}")
    rows = summarise(maps)
    grid = np.array([getattr(r, measure) for r in rows]).reshape(maps.layers, maps.heads)
    return heatmap(
        grid,
        [f"L{i + 1}" for i in range(maps.layers)],
        [f"H{j + 1}" for j in range(maps.heads)],
        title=f"{measure} per head",
        texts=[[f"{v:.2f}" for v in r] for r in grid],
    )
