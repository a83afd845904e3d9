"""Heatmaps of a Trace step or of one head of AttentionMaps, saved as PNG, SVG or PDF."""

from __future__ import annotations

import math
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np

from qkv.errors import InputError
from qkv.viz.fonts import label_fonts

FORMATS = (".png", ".svg", ".pdf")
MAX_ANNOTATED = 12  # write the values in the cells up to this many rows and columns
MAX_TICKS = 256  # label every row and column up to this many
MAX_INCHES = 16.0  # the cells of a large matrix fit this width (1,600 pixels)
MAX_LABEL = 40  # characters of a label drawn; longer ones end in …
_NO_GLYPH = {"Cc", "Cf", "Cs", "Co", "Cn"}


def heatmap(
    matrix: np.ndarray,
    rows: list[str],
    cols: list[str],
    *,
    title: str = "",
    texts: list[list[str]] | None = None,
    cmap: str = "viridis",
) -> Any:
    """A matplotlib Figure: the matrix as colours, token labels, values in small matrices.

    ``texts`` are the cell captions (the digits a person reads); -inf cells show as masked.
    """
    import matplotlib

    matplotlib.use("Agg")  # no display needed; safe to call more than once
    from matplotlib.figure import Figure

    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape != (len(rows), len(cols)):
        raise InputError(
            f"a heatmap needs a 2-D matrix with {len(rows)}x{len(cols)} labels, got shape {m.shape}"
        )
    labels, family = label_fonts([plain_text(t) for t in (*rows, *cols, title)])
    rows, cols, title = labels[: len(rows)], labels[len(rows) : -1], labels[-1]
    n, k = m.shape
    rotate = k > 6 or max(len(c) for c in cols) > 4
    fig = Figure(figsize=_size(n, k, rows, cols, rotate), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    finite = np.where(np.isfinite(m), m, np.nan)
    image = ax.imshow(np.ma.masked_invalid(finite), cmap=cmap, aspect="equal")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    font = {"family": family} if family else {}
    if k <= MAX_TICKS:
        ax.set_xticks(range(k), cols, rotation=90 if rotate else 0, fontdict=font)
    if n <= MAX_TICKS:
        ax.set_yticks(range(n), rows, fontdict=font)
    ax.xaxis.tick_top()
    if title:
        ax.set_title(title, fontdict=font)
    if texts is not None and max(n, k) <= MAX_ANNOTATED:
        _annotate(ax, m, finite, texts)
    return fig


def _size(n: int, k: int, rows: list[str], cols: list[str], rotate: bool) -> tuple[float, float]:
    """Figure inches: a cell a number fits in for small matrices, at most MAX_INCHES of
    cells for large ones, and room for the labels (~0.08 inch a character)."""
    big = max(n, k)
    cell = 0.55 if big <= MAX_ANNOTATED else min(max(0.12, 8.0 / big), MAX_INCHES / big)
    row_room = 0.08 * max(len(r) for r in rows) if n <= MAX_TICKS else 0.5
    col_room = 0.08 * max(len(c) for c in cols) if rotate and k <= MAX_TICKS else 0.2
    return 1.6 + cell * k + row_room, 1.2 + cell * n + col_room


def _annotate(ax: Any, m: np.ndarray, finite: np.ndarray, texts: list[list[str]]) -> None:
    """Write each cell's digits on it, white on dark cells and black on light ones."""
    some = np.isfinite(finite).any()
    lo = np.nanmin(finite) if some else 0
    hi = np.nanmax(finite) if some else 1
    middle = (lo + hi) / 2
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            dark = not math.isfinite(m[i, j]) or m[i, j] < middle
            colour = "white" if dark else "black"
            ax.text(j, i, texts[i][j], ha="center", va="center", fontsize=8, color=colour)


def trace_heatmap(trace: Any, step_id: str, digits: int = 3) -> Any:
    """The heatmap of one Trace step, with the digits qkv explain prints."""
    from qkv.render.layout import step_table

    try:
        step = trace[step_id]
    except KeyError:
        raise InputError(f"no step {step_id!r}; steps: {', '.join(trace.ids)}") from None
    table = step_table(step, digits)
    return heatmap(
        step.matrix,
        step.rows,
        step.cols,
        title=f"{step.id}: {step.formula}",
        texts=[cells for _, cells in table.rows],
    )


def maps_heatmap(maps: Any, layer: int, head: int) -> Any:
    """One head of AttentionMaps (0-based layer and head)."""
    if not (0 <= layer < maps.layers and 0 <= head < maps.heads):
        raise InputError(
            f"layer {layer + 1}, head {head + 1} is outside {maps.layers} layers x "
            f"{maps.heads} heads"
        )
    m = maps.maps[layer, head]
    small = max(m.shape) <= MAX_ANNOTATED
    texts = [[f"{v:.2f}" for v in row] for row in m] if small else None
    keys = (
        maps.tokens if m.shape[1] == len(maps.tokens) else [str(j + 1) for j in range(m.shape[1])]
    )
    return heatmap(m, maps.tokens, keys, title=f"layer {layer + 1}, head {head + 1}", texts=texts)


def save(fig: Any, path: str | Path) -> Path:
    """Write PNG, SVG (labels kept as text) or PDF, chosen by the file's suffix (qkv.files:
    complete or nothing, and matplotlib writes to a file object, never renaming anything)."""
    check_picture(path)
    import matplotlib

    from qkv.files import write_file

    path = Path(path)

    def write(f: Any) -> None:
        with matplotlib.rc_context({"svg.fonttype": "none"}):  # SVG text stays searchable
            fig.savefig(f, format=path.suffix[1:].lower())

    return write_file(path, write, "picture")


def check_picture(path: str | Path) -> Path:
    """InputError unless ``path`` is a .png, .svg or .pdf that qkv may write."""
    from qkv.files import check_target

    if Path(path).suffix.lower() not in FORMATS:
        raise InputError(f"{path}: choose a .png, .svg or .pdf file name")
    return check_target(path, "picture")


def plain_text(label: str) -> str:
    """A label drawn as written: matplotlib reads text between two $ as math (mathtext),
    which draws $x^2$ as a formula and fails on $\\x$; an escaped dollar is a dollar.
    Characters with no glyph of their own (controls, format characters such as U+FEFF, which
    the PDF writer cannot embed, surrogates, unassigned) are drawn as U+FFFD."""
    short = label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1] + "…"
    return "".join(_drawable(c) for c in short).replace("$", r"\$")


def _drawable(c: str) -> str:
    return "\ufffd" if unicodedata.category(c) in _NO_GLYPH else c
