"""Self-contained HTML views of AttentionMaps: a model view (layers x heads thumbnails) and a
head view (lines from each token to the tokens it attends), in one offline page.

Sizes stay small for long inputs: per query only the keys with weight >= 0.01 are kept (all of
them up to 64 keys, else the strongest ``top``, 8 by default), as uint16 key index and uint16
weight in thousandths (so the page shows round(w, 3) exactly; key indices as uint32 beyond
65,536 keys, never wrapped), a flag per row when weights
>= 0.01 were left out, a bitmap of the masked cells (AttentionMaps.masked: a hand
calculation's mask, else the cells 0 in every head), and each head's thumbnail downsampled to
at most 32 x 32; all of it base64 inside the page. No CDN, no require.js; tokens reach the
page as JSON (as they are, and as labels with visible whitespace) and are set with
textContent, never as HTML. The drawing (templates/maps_view.js) is shared with `qkv serve`
and with notebooks (``fragment``).
"""

from __future__ import annotations

import base64
import json
import re
from functools import cache

import numpy as np

from qkv.errors import InputError
from qkv.maps import AttentionMaps
from qkv.viz.labels import visible_all

THUMB = 32


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode("ascii")


FULL = 64  # up to this many keys, every weight >= min_weight is kept


def encode(
    maps: AttentionMaps, top: int | None = None, min_weight: float = 0.01
) -> dict[str, object]:
    """The data the page draws: sparse rows, thumbnails, tokens, shape.

    One layer at a time, so that the selection's memory stays that of one layer (maps may be
    read in place from a large file)."""
    w = maps.maps
    layers, heads, n, s = w.shape
    k = min(s if top is None and s <= FULL else (top or 8), s, 255)
    index_type = np.dtype("<u2") if s <= 1 << 16 else np.dtype("<u4")
    counts, idx, weights, cut = [], [], [], []
    for layer in range(layers):
        lw = np.asarray(w[layer], dtype=np.float32)
        order = strongest_keys(lw, k)  # (H, N, k)
        strongest = np.take_along_axis(lw, order, axis=-1)
        keep = strongest >= min_weight
        count = keep.sum(-1).astype(np.uint8)  # (H, N)
        counts.append(count)
        idx.append(order[keep].astype(index_type))  # row-major: (h, i) then by weight
        # thousandths, rounded in float64 (exact for a float32 times 1000): the page shows
        # round(w, 3)
        weights.append(np.round(strongest[keep].astype(np.float64) * 1000).astype(np.uint16))
        # rows that had more weights >= min_weight than were kept
        cut.append((np.sum(lw >= min_weight, axis=-1) > count).astype(np.uint8))
    t = min(THUMB, n, s)
    return {
        "layers": layers,
        "heads": heads,
        "n": n,
        "s": s,
        "thumb": t,
        "tokens": maps.tokens,
        "key_tokens": maps.key_tokens,
        # as the labels show them (qkv.viz.labels: ␣ ⏎ ⇥); the tokens above stay as they are
        "labels": visible_all(maps.tokens),
        "key_labels": visible_all(maps.key_tokens),
        "special": [int(i) for i in maps.meta.get("special", [])],
        "counts": _b64(np.concatenate(counts)),
        "idx": _b64(np.concatenate(idx)),
        "idx_bytes": index_type.itemsize,
        "w": _b64(np.concatenate(weights)),
        "cut": _b64(np.concatenate(cut)),
        "masked": _b64(np.packbits(maps.masked())),
        "thumbs": _b64(_thumbnails(w, t)),
    }


def strongest_keys(w: np.ndarray, k: int) -> np.ndarray:
    """The indices of each row's k largest weights (..., S) -> (..., k), largest first and
    equal weights by index: what a stable argsort of -w keeps, found with argpartition (a
    pass a row, not a sort of S keys) and only the k kept sorted. Where the k-th weight has
    equals that were left out, argpartition may have kept others than the sort would: those
    rows are sorted whole."""
    s = w.shape[-1]
    if k >= s:
        return np.argsort(-w, axis=-1, kind="stable")
    kept = np.sort(np.argpartition(-w, k - 1, axis=-1)[..., :k], axis=-1)  # by index
    values = np.take_along_axis(w, kept, axis=-1)
    order = np.argsort(-values, axis=-1, kind="stable")  # by weight, equals by index
    top = np.take_along_axis(kept, order, axis=-1)
    last = np.take_along_axis(values, order[..., -1:], axis=-1)  # the smallest kept
    ties = (w == last).sum(axis=-1) > (values == last).sum(axis=-1)
    redo = ties | np.isnan(last[..., 0])
    if redo.any():
        top[redo] = np.argsort(-w[redo], axis=-1, kind="stable")[..., :k]
    return top


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
def _template(name: str) -> str:
    from importlib.resources import files

    return (files("qkv.viz") / "templates" / name).read_text(encoding="utf-8")


def page(
    maps: AttentionMaps,
    title: str = "Attention",
    top: int | None = None,
    *,
    view: str = "model",
    layer: int = 0,
    head: int = 0,
) -> str:
    """The whole page: the model view (a layers x heads grid, and the chosen head as a heatmap
    with token labels, a legend and values on hover) or the head view (lines from each token
    to the tokens it attends, one colour per head); ``layer`` and ``head`` (0-based) are
    chosen first."""
    from html import escape

    parts = {
        "TITLE": escape(title),
        "STYLE": _template("maps_view.css"),
        "SCRIPT": _template("maps_view.js"),
        "OPTIONS": _script_json(_options(maps, view, layer, head)),
        "DATA": _script_json(encode(maps, top)),
    }
    # one pass: a title or token that reads {{DATA}} stays text
    return re.sub(r"\{\{([A-Z]+)\}\}", lambda m: parts[m.group(1)], _template("maps_view.html"))


def fragment(
    maps: AttentionMaps,
    top: int | None = None,
    *,
    view: str = "head",
    layer: int = 0,
    head: int = 0,
) -> str:
    """The same view as a piece of HTML for a notebook's output (Jupyter, VS Code): its own
    element, style, data and script, sized to the width of the output it lands in."""
    from uuid import uuid4

    box = f"qkv-view-{uuid4().hex[:12]}"  # several views in one notebook stay apart
    options = _script_json(_options(maps, view, layer, head))
    return (
        f'<div id="{box}"></div><style>{_template("maps_view.css")}</style>'
        f'<script type="application/json" id="{box}-data">{_script_json(encode(maps, top))}'
        f"</script><script>{_template('maps_view.js')}\n"
        f'qkvMapsView(document.getElementById("{box}"), JSON.parse(document.getElementById('
        f'"{box}-data").textContent), {options});</script>'
    )


def _options(maps: AttentionMaps, view: str, layer: int, head: int) -> dict[str, object]:
    """What the view shows first, checked against the maps."""
    if view not in ("model", "head"):
        raise InputError(f"the view is model or head, not {view!r}")
    if not (0 <= layer < maps.layers and 0 <= head < maps.heads):
        raise InputError(
            f"layer {layer + 1}, head {head + 1} is outside {maps.layers} layers x "
            f"{maps.heads} heads"
        )
    return {"view": view, "layer": layer, "head": head}


def shape_text(maps: AttentionMaps) -> str:
    """ "1 layer × 2 heads": for titles."""

    def count(n: int, word: str) -> str:
        return f"{n} {word}" if n == 1 else f"{n} {word}s"

    return f"{count(maps.layers, 'layer')} × {count(maps.heads, 'head')}"
