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
    position among the keys, and a measure with no such query is 0. One layer at a time, in
    float64: the memory stays a layer's.
    """
    return [s for layer in range(maps.layers) for s in _layer(maps.maps[layer], layer)]


def _layer(maps: np.ndarray, layer: int) -> list[HeadSummary]:
    w = maps.astype(np.float64)  # (heads, N, S)
    n, s = w.shape[-2], w.shape[-1]
    distance = np.abs(np.arange(n)[:, None] - np.arange(s)[None, :])
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.where(w > 0, w * np.log2(np.where(w > 0, w, 1.0)), 0.0).sum(-1)  # (H, N)
    rows_prev = np.arange(1, min(n, s + 1))  # query i with key i - 1
    rows_same = np.arange(min(n, s))  # query i with key i
    prev = w[:, rows_prev, rows_prev - 1]  # (H, len(rows_prev))
    same = w[:, rows_same, rows_same]
    return [
        HeadSummary(
            layer + 1,
            head + 1,
            float(ent[head].mean()),
            float(w[head, :, 0].mean()),
            _mean(prev[head]),
            _mean(same[head]),
            float((w[head] * distance).sum(-1).mean()),
        )
        for head in range(w.shape[0])
    ]


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else 0.0


# What the colours of each measure's picture mean (the colour bar's title).
UNITS = {
    "entropy": "entropy (bits)",
    "first": "mean weight on the first token",
    "previous": "mean weight on the previous token",
    "same": "mean weight on the query's own token",
    "distance": "mean distance (tokens)",
}


def summary_figure(maps: AttentionMaps, measure: str = "entropy") -> object:
    """A layers x heads heatmap of one measure (entropy, first, previous, same, distance)."""
    from qkv.errors import InputError
    from qkv.viz.heatmap import heatmap

    if measure not in UNITS:
        raise InputError(f"unknown measure {measure!r}; measures: {', '.join(UNITS)}")
    rows = summarise(maps)
    grid = np.array([getattr(r, measure) for r in rows]).reshape(maps.layers, maps.heads)
    return heatmap(
        grid,
        [f"L{i + 1}" for i in range(maps.layers)],
        [f"H{j + 1}" for j in range(maps.heads)],
        title=f"{measure} per head",
        texts=[[f"{v:.2f}" for v in r] for r in grid],
        axes=("layer", "head"),
        unit=UNITS[measure],
    )
