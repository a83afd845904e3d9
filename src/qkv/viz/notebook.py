"""AttentionMaps in Jupyter: the shape, the tokens, each head's summary, one head as a picture.

Registered for ``AttentionMaps._repr_html_`` in ``qkv/__init__.py`` (qkv.core.display).
"""

from __future__ import annotations

from html import escape

from qkv.maps import AttentionMaps
from qkv.viz.summary import summarise


def maps_html(maps: AttentionMaps) -> str:
    rows = "".join(
        f"<tr><td>{h.layer}</td><td>{h.head}</td><td>{h.entropy:.2f}</td>"
        f"<td>{h.first:.2f}</td><td>{h.previous:.2f}</td><td>{h.same:.2f}</td>"
        f"<td>{h.distance:.2f}</td></tr>"
        for h in summarise(maps)
    )
    tokens = " ".join(f"<code>{escape(t)}</code>" for t in maps.tokens[:64])
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

    from qkv.viz.heatmap import maps_heatmap

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a missing CJK font is said by qkv viz, not here
        fig = maps_heatmap(maps, maps.layers - 1, 0)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f"<img alt='layer {maps.layers}, head 1' src='data:image/png;base64,{data}'>"
