"""Self-contained HTML views of AttentionMaps: a model view (layers x heads thumbnails) and a
head view (lines from each token to the tokens it attends), in one offline page.

Sizes stay small for long inputs: per query only the strongest keys are kept (weight >= 0.01,
at most ``top``), as uint16 key index and uint8 weight, and each head's thumbnail is
downsampled to at most 32 x 32; all of it base64 inside the page. No CDN, no require.js;
tokens reach the page as JSON and are set with textContent, never as HTML.
"""

from __future__ import annotations

import base64
import json
from functools import cache

import numpy as np

from qkv.maps import AttentionMaps

THUMB = 32


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode("ascii")


def encode(maps: AttentionMaps, top: int = 8, min_weight: float = 0.01) -> dict[str, object]:
    """The data the page draws: sparse rows, thumbnails, tokens, shape."""
    w = np.asarray(maps.maps, dtype=np.float32)
    layers, heads, n, s = w.shape
    k = min(top, s)
    order = np.argsort(-w, axis=-1, kind="stable")[..., :k]  # (L, H, N, k) strongest keys
    strongest = np.take_along_axis(w, order, axis=-1)
    keep = strongest >= min_weight
    counts = keep.sum(-1).astype(np.uint8)  # (L, H, N)
    idx = order[keep].astype(np.uint16)  # row-major: (l, h, i) then by weight
    weights = np.round(strongest[keep] * 255).astype(np.uint8)
    t = min(THUMB, n, s)
    rows = np.array_split(np.arange(n), t)
    cols = np.array_split(np.arange(s), t)
    thumbs = np.empty((layers, heads, t, t), dtype=np.float32)
    for a, r in enumerate(rows):
        for b, c in enumerate(cols):
            thumbs[:, :, a, b] = w[:, :, r][:, :, :, c].mean(axis=(-2, -1))
    peak = thumbs.max(axis=(-2, -1), keepdims=True)
    thumbs = np.round(255 * thumbs / np.where(peak > 0, peak, 1)).astype(np.uint8)
    return {
        "layers": layers,
        "heads": heads,
        "n": n,
        "s": s,
        "thumb": t,
        "tokens": maps.tokens,
        "special": [int(i) for i in maps.meta.get("special", [])],
        "counts": _b64(counts),
        "idx": _b64(idx),
        "w": _b64(weights),
        "thumbs": _b64(thumbs),
    }


def _script_json(data: object) -> str:
    """JSON that cannot end its <script> element early or open a tag."""
    text = json.dumps(data, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@cache
def _template() -> str:
    from importlib.resources import files

    return (files("qkv.viz") / "templates" / "maps_view.html").read_text(encoding="utf-8")


def page(maps: AttentionMaps, title: str = "Attention", top: int = 8) -> str:
    """The whole page: model view, head view and a heatmap of the chosen head."""
    from html import escape

    return (
        _template()
        .replace("{{TITLE}}", escape(title))
        .replace("{{DATA}}", _script_json(encode(maps, top)))
    )
