"""Heatmaps of a Trace step or of one head of AttentionMaps, saved as PNG, SVG or PDF."""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Any

import numpy as np

from qkv.errors import InputError
from qkv.viz.fonts import families, label_fonts
from qkv.viz.labels import visible

FORMATS = (".png", ".svg", ".pdf")
MAX_ANNOTATED = 12  # write the values in the cells up to this many rows and columns
MAX_TICKS = 256  # label every row and column up to this many
MAX_INCHES = 16.0  # the cells of a large matrix fit this width (1,600 pixels)
MAX_LABEL = 40  # characters of a label drawn; longer ones end in …
PAD_INCHES = 0.1  # the margin around everything drawn
# Pixels per inch of a PNG: at 150 the cell digits of a small heatmap are 17 pixels tall (at
# matplotlib's 100, 11: hard to read). SVG and PDF are vector; their images take it too.
DEFAULT_DPI = 150
MIN_DPI, MAX_DPI = 50, 600
MAX_PIXELS = 40_000_000  # width x height of one picture at its dpi (160 MB of RGBA)
MASKED_COLOUR = "#d4d4d4"  # outside every colour map qkv uses: never read as a weight
HATCH = "///"
MAX_HATCH_RUNS = 4_096  # masked runs hatched one by one; beyond, grey and the legend say it
_NO_GLYPH = {"Cc", "Cf", "Cs", "Co", "Cn"}


def heatmap(
    matrix: np.ndarray,
    rows: list[str],
    cols: list[str],
    *,
    title: str = "",
    texts: list[list[str]] | None = None,
    cmap: str = "viridis",
    axes: tuple[str, str] = ("query", "key"),
    unit: str = "weight",
    masked: np.ndarray | None = None,
) -> Any:
    """A matplotlib Figure: the matrix as colours, token labels, values in small matrices.

    ``texts`` are the cell captions (the digits a person reads). ``masked`` (True where a
    mask hid the cell) and -inf cells are grey and hatched, with "masked" in a legend, never
    coloured as a weight of 0. ``axes`` titles the rows and the columns, ``unit`` the colour
    bar. Row and column labels show whitespace (qkv.viz.labels).
    """
    import matplotlib

    matplotlib.use("Agg")  # no display needed; safe to call more than once
    from matplotlib.figure import Figure
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape != (len(rows), len(cols)):
        raise InputError(
            f"a heatmap needs a 2-D matrix with {len(rows)}x{len(cols)} labels, got shape {m.shape}"
        )
    hidden = ~np.isfinite(m) if masked is None else ~np.isfinite(m) | np.asarray(masked, bool)
    shown = [plain_text(visible(t)) for t in (*rows, *cols)]
    labels, family = label_fonts([*shown, plain_text(title)])
    rows, cols, title = labels[: len(rows)], labels[len(rows) : -1], labels[-1]
    n, k = m.shape
    rotate = k > 6 or max(len(c) for c in cols) > 4
    # a margin of its own: at constrained layout's default (3 points) the first character of
    # a row label could fall a pixel outside the picture ("[CLS]" drawn as "CLS]")
    layout = ConstrainedLayoutEngine(w_pad=PAD_INCHES, h_pad=PAD_INCHES, compress=True)
    size = _size(n, k, rows, cols, rotate, legend=bool(hidden.any()))
    fig = Figure(figsize=size, dpi=100, layout=layout)
    ax = fig.add_subplot()
    colours = matplotlib.colormaps[cmap].with_extremes(bad=MASKED_COLOUR)
    image = ax.imshow(
        np.ma.masked_array(np.where(hidden, 0.0, m), hidden), cmap=colours, aspect="equal"
    )
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04).set_label(unit)
    _label(ax, rows, cols, axes, title, rotate, family)
    if hidden.any():
        _mark_masked(ax, hidden)
    if texts is not None and max(n, k) <= MAX_ANNOTATED:
        _annotate(ax, m, hidden, texts)
    return fig


def _label(
    ax: Any,
    rows: list[str],
    cols: list[str],
    axes: tuple[str, str],
    title: str,
    rotate: bool,
    family: str | None,
) -> None:
    """Token labels on both sides, the keys (columns) on top, and the axis titles."""
    font = {"family": families(family)}
    if len(cols) <= MAX_TICKS:
        ax.set_xticks(range(len(cols)), cols, rotation=90 if rotate else 0, fontdict=font)
    if len(rows) <= MAX_TICKS:
        ax.set_yticks(range(len(rows)), rows, fontdict=font)
    ax.xaxis.tick_top()
    ax.xaxis.set_label_position("top")
    ax.set_ylabel(axes[0], fontdict=font)
    ax.set_xlabel(axes[1], fontdict=font)
    if title:
        ax.set_title(title, fontdict=font)


def _mark_masked(ax: Any, hidden: np.ndarray) -> None:
    """Hatch the masked cells (a run of them in a row is one rectangle) and say it below."""
    from matplotlib.patches import Patch, Rectangle

    runs = _runs(hidden)
    if len(runs) <= MAX_HATCH_RUNS:
        for i, j, length in runs:
            ax.add_patch(
                Rectangle((j - 0.5, i - 0.5), length, 1, fill=False, hatch=HATCH, lw=0, ec="grey")
            )
    swatch = Patch(facecolor=MASKED_COLOUR, edgecolor="grey", hatch=HATCH, label="masked")
    ax.legend(
        handles=[swatch], loc="upper left", bbox_to_anchor=(0, -0.02), frameon=False, fontsize=8
    )


def _runs(hidden: np.ndarray) -> list[tuple[int, int, int]]:
    """(row, first column, length) of each run of True in each row."""
    runs = []
    for i, row in enumerate(hidden):
        edges = np.flatnonzero(np.diff(np.concatenate(([0], row.astype(np.int8), [0]))))
        runs += [(i, int(a), int(b - a)) for a, b in zip(edges[::2], edges[1::2], strict=True)]
    return runs


def _size(
    n: int, k: int, rows: list[str], cols: list[str], rotate: bool, legend: bool
) -> tuple[float, float]:
    """Figure inches: a cell a number fits in for small matrices, at most MAX_INCHES of
    cells for large ones, and room for the labels (~0.08 inch a character) and the legend."""
    big = max(n, k)
    cell = 0.55 if big <= MAX_ANNOTATED else min(max(0.12, 8.0 / big), MAX_INCHES / big)
    row_room = 0.08 * max(len(r) for r in rows) if n <= MAX_TICKS else 0.5
    col_room = 0.08 * max(len(c) for c in cols) if rotate and k <= MAX_TICKS else 0.2
    return 1.9 + cell * k + row_room, 1.2 + cell * n + col_room + (0.3 if legend else 0.0)


def _annotate(ax: Any, m: np.ndarray, hidden: np.ndarray, texts: list[list[str]]) -> None:
    """Write each cell's digits on it, white on dark cells and black on light ones (masked
    cells are light grey)."""
    shown = m[~hidden]
    lo, hi = (shown.min(), shown.max()) if shown.size else (0.0, 1.0)
    middle = (lo + hi) / 2
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            dark = not hidden[i, j] and m[i, j] < middle
            colour = "white" if dark else "black"
            ax.text(j, i, texts[i][j], ha="center", va="center", fontsize=8, color=colour)


def trace_heatmap(trace: Any, step_id: str, digits: int = 3) -> Any:
    """The heatmap of one Trace step, with the digits qkv explain prints; the cells its mask
    hides are drawn as masked (the masked scores keep their -∞, the weights show no 0)."""
    from qkv.render.layout import step_table

    try:
        step = trace[step_id]
    except KeyError:
        raise InputError(f"no step {step_id!r}; steps: {', '.join(trace.ids)}") from None
    texts = [cells for _, cells in step_table(step, digits).rows]
    hidden = None if step.mask is None else ~np.asarray(step.mask, dtype=bool)
    if hidden is not None and step.base == "weights":
        texts = [
            ["" if h else c for c, h in zip(r, hr, strict=True)]
            for r, hr in zip(texts, hidden, strict=True)
        ]
    return heatmap(
        step.matrix,
        step.rows,
        step.cols,
        title=f"{step.id}: {step.formula}",
        texts=texts,
        axes=STEP_AXES.get(step.base, ("query", "key")),
        unit=STEP_UNITS.get(step.base, "entry"),
        masked=hidden,
    )


# What the rows and columns of each step are, by its name without the head ("q" for "h2.q");
# the scores, scaled, masked and weights steps are queries x keys.
STEP_AXES = {
    "x": ("token", "dimension"),
    **dict.fromkeys(
        ("wq", "wk", "wv", "wo", "wa_q", "wa_k"), ("input dimension", "output dimension")
    ),
    **dict.fromkeys(("q", "qa", "attended", "concat", "output"), ("query", "dimension")),
    **dict.fromkeys(("k", "v", "ka", "weighted"), ("key", "dimension")),
    "va": ("vector", "dimension"),
}
# What the colours of each step measure; the others are plain entries of a matrix.
STEP_UNITS = {
    "scores": "score",
    "scaled": "scaled score",
    "masked": "score after the mask",
    "weights": "weight",
}


def maps_heatmap(maps: Any, layer: int, head: int) -> Any:
    """One head of AttentionMaps (0-based layer and head); masked cells (maps.masked()) are
    drawn as masked, with no digits."""
    if not (0 <= layer < maps.layers and 0 <= head < maps.heads):
        raise InputError(
            f"layer {layer + 1}, head {head + 1} is outside {maps.layers} layers x "
            f"{maps.heads} heads"
        )
    m = maps.maps[layer, head]
    hidden = maps.masked()
    small = max(m.shape) <= MAX_ANNOTATED
    texts = [
        ["" if h else f"{v:.2f}" for v, h in zip(row, hrow, strict=True)]
        for row, hrow in zip(m, hidden, strict=True)
    ]
    return heatmap(
        m,
        maps.tokens,
        maps.key_tokens,
        title=f"layer {layer + 1}, head {head + 1}",
        texts=texts if small else None,
        masked=hidden,
    )


def save(fig: Any, path: str | Path, dpi: int = DEFAULT_DPI) -> Path:
    """Write PNG, SVG (labels kept as text) or PDF, chosen by the file's suffix, at ``dpi``
    pixels per inch (qkv.files: complete or nothing, and matplotlib writes to a file object,
    never renaming anything)."""
    check_picture(path)
    check_dpi(dpi, tuple(fig.get_size_inches()))
    import matplotlib

    from qkv.files import write_file

    path = Path(path)

    def write(f: Any) -> None:
        with matplotlib.rc_context({"svg.fonttype": "none"}):  # SVG text stays searchable
            fig.savefig(f, format=path.suffix[1:].lower(), dpi=dpi)

    return write_file(path, write, "picture")


def check_dpi(dpi: int, inches: tuple[float, float] | None = None) -> None:
    """InputError unless ``dpi`` is within MIN_DPI..MAX_DPI and, for a figure of ``inches``,
    the picture stays within MAX_PIXELS."""
    if not MIN_DPI <= dpi <= MAX_DPI:
        raise InputError(f"--dpi {dpi}: choose {MIN_DPI} to {MAX_DPI} (default {DEFAULT_DPI})")
    if inches is not None:
        width, height = round(inches[0] * dpi), round(inches[1] * dpi)
        if width * height > MAX_PIXELS:
            raise InputError(
                f"at --dpi {dpi} the picture is {width:,} x {height:,} pixels, more than "
                f"{MAX_PIXELS:,}: choose a lower --dpi"
            )


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
