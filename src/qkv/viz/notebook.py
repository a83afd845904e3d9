"""AttentionMaps in Jupyter: the shape, the tokens, each head's summary, one head as a picture;
and the interactive head and model views (``head_view``, ``model_view``) of maps or of a hand
calculation.

Registered for ``AttentionMaps._repr_html_`` in ``qkv/__init__.py`` (qkv.core.display).
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from qkv.core.trace import Trace
from qkv.maps import AttentionMaps
from qkv.viz.labels import visible
from qkv.viz.summary import summarise


def maps_html(maps: AttentionMaps) -> str:
    rows = "".join(
        f"<tr><td>{h.layer}</td><td>{h.head}</td><td>{h.entropy:.2f}</td>"
        f"<td>{h.first:.2f}</td><td>{h.previous:.2f}</td><td>{h.same:.2f}</td>"
        f"<td>{h.distance:.2f}</td></tr>"
        for h in summarise(maps)
    )
    tokens = " ".join(f"<code>{escape(visible(t))}</code>" for t in maps.tokens[:64])
    more = f" … ({len(maps.tokens)} tokens)" if len(maps.tokens) > 64 else ""
    return (
        f"<div class='qkv-maps'><p>{maps.layers} layers × {maps.heads} heads × "
        f"{len(maps.tokens)} tokens: {tokens}{more}</p>{_picture(maps)}"
        "<table><thead><tr><th>layer</th><th>head</th><th>entropy (bits)</th>"
        "<th>first</th><th>previous</th><th>same</th><th>distance</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></div>"
    )


def _picture(maps: AttentionMaps) -> str:
    """The last layer's first head as an inline PNG, when matplotlib is there."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return ""
    import base64
    import io
    import warnings

    from qkv.viz.heatmap import DEFAULT_DPI, maps_heatmap

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a missing CJK font is said by qkv viz, not here
        fig = maps_heatmap(maps, maps.layers - 1, 0)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DEFAULT_DPI)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f"<img alt='layer {maps.layers}, head 1' src='data:image/png;base64,{data}'>"


@dataclass(frozen=True)
class View:
    """An interactive view a notebook shows (its ``_repr_html_``); ``html`` is the piece."""

    html: str

    def _repr_html_(self) -> str:
        return self.html


def head_view(source: AttentionMaps | Trace, layer: int = 1, head: int = 1) -> View:
    """The head view of maps, or of a hand calculation (``qkv.explain()``), in a notebook:
    as wide as the output area, labels readable. ``layer`` and ``head`` are 1-based."""
    return _view(source, "head", layer, head)


def model_view(source: AttentionMaps | Trace, layer: int = 1, head: int = 1) -> View:
    """The model view (layers x heads, and one head as a heatmap) in a notebook."""
    return _view(source, "model", layer, head)


def _view(source: AttentionMaps | Trace, view: str, layer: int, head: int) -> View:
    from qkv.viz.page import fragment

    maps = AttentionMaps.from_trace(source) if isinstance(source, Trace) else source
    return View(fragment(maps, view=view, layer=layer - 1, head=head - 1))
