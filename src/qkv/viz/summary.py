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
    """One summary per (layer, head), averaged over the queries.

    Maps may be queries x keys with fewer keys than queries (or more): "previous" averages
    over the queries that have a key just before them, "same" over those that have their own
    position among the keys, and a measure with no such query is 0.
    """
    w = maps.maps.astype(np.float64)  # (layers, heads, N, S)
    n, s = w.shape[-2], w.shape[-1]
    i = np.arange(n)[:, None]
    j = np.arange(s)[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.where(w > 0, w * np.log2(np.where(w > 0, w, 1.0)), 0.0).sum(-1)  # (L, H, N)
    rows_prev = np.arange(1, min(n, s + 1))  # query i with key i - 1
    rows_same = np.arange(min(n, s))  # query i with key i
    prev = w[..., rows_prev, rows_prev - 1]  # (L, H, len(rows_prev))
    same = w[..., rows_same, rows_same]
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
                    _mean(prev[layer, head]),
                    _mean(same[layer, head]),
                    float(dist[layer, head].mean()),
                )
            )
    return out


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else 0.0


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
