"""Self-contained HTML views of AttentionMaps: a model view (layers x heads thumbnails) and a
head view (lines from each token to the tokens it attends), in one offline page.

Sizes stay small for long inputs: per query only the strongest keys are kept (weight >= 0.01,
at most ``top``), as uint16 key index (uint32 beyond 65,536 keys, never wrapped) and uint8
weight, and each head's thumbnail is downsampled to at most 32 x 32; all of it base64 inside
the page. No CDN, no require.js; tokens reach the page as JSON and are set with textContent,
never as HTML.
"""

from __future__ import annotations

import base64
import json
import re
from functools import cache

import numpy as np

from qkv.maps import AttentionMaps

THUMB = 32
_PLACEHOLDER = re.compile(r"\{\{(TITLE|DATA)\}\}")


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode("ascii")


def encode(maps: AttentionMaps, top: int = 8, min_weight: float = 0.01) -> dict[str, object]:
    """The data the page draws: sparse rows, thumbnails, tokens, shape."""
    w = maps.maps
    layers, heads, n, s = w.shape
    k = min(top, s)
    # key indices as uint16 while they fit (65,535), else uint32: never wrapped
    index_type = np.dtype("<u2") if s <= 1 << 16 else np.dtype("<u4")
    counts, idx, weights = [], [], []
    for layer in range(layers):  # one layer at a time: the sort's memory stays small
        lw = np.asarray(w[layer], dtype=np.float32)
        order = np.argsort(-lw, axis=-1, kind="stable")[..., :k]  # (H, N, k) strongest keys
        strongest = np.take_along_axis(lw, order, axis=-1)
        keep = strongest >= min_weight
        counts.append(keep.sum(-1).astype(np.uint8))  # (H, N)
        idx.append(order[keep].astype(index_type))  # row-major: (h, i) then by weight
        weights.append(np.round(np.clip(strongest[keep], 0, 1) * 255).astype(np.uint8))
    t = min(THUMB, n, s)
    return {
        "layers": layers,
        "heads": heads,
        "n": n,
        "s": s,
        "thumb": t,
        "tokens": maps.tokens,
        "special": [int(i) for i in maps.meta.get("special", [])],
        "counts": _b64(np.concatenate(counts)),
        "idx": _b64(np.concatenate(idx)),
        "idx_bytes": index_type.itemsize,
        "w": _b64(np.concatenate(weights)),
        "thumbs": _b64(_thumbnails(w, t)),
    }


def _thumbnails(w: np.ndarray, t: int) -> np.ndarray:
    """Each head averaged down to t x t cells, 0..255 relative to its strongest cell."""
    layers, heads, n, s = w.shape
    rows = np.array_split(np.arange(n), t)
    cols = np.array_split(np.arange(s), t)
    thumbs = np.empty((layers, heads, t, t), dtype=np.float32)
    for a, r in enumerate(rows):
        block = np.asarray(w[:, :, r], dtype=np.float32)
        for b, c in enumerate(cols):
            thumbs[:, :, a, b] = block[:, :, :, c].mean(axis=(-2, -1))
    peak = thumbs.max(axis=(-2, -1), keepdims=True)
    return np.round(255 * np.clip(thumbs / np.where(peak > 0, peak, 1), 0, 1)).astype(np.uint8)


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

    fields = {"TITLE": escape(title), "DATA": _script_json(encode(maps, top))}
    # one pass: a title holding "{{DATA}}" stays text, and no token becomes a placeholder
    return _PLACEHOLDER.sub(lambda m: fields[m.group(1)], _template())
