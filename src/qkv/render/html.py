"""Document -> self-contained HTML (no scripts, no CDN). Jinja2 autoescapes every label."""

from __future__ import annotations

from functools import cache

from jinja2 import Environment, PackageLoader, select_autoescape

from qkv.core.trace import Trace
from qkv.render.layout import Document, build


@cache
def _env() -> Environment:
    return Environment(
        loader=PackageLoader("qkv.render", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(doc: Document, wide: bool = False) -> str:
    """A whole page; ``wide``: tables wider than the page scroll sideways (a model's 384
    dimensions), none is cut."""
    return _env().get_template("trace.html").render(doc=doc, page=True, wide=wide)


def fragment(doc: Document, wide: bool = False) -> str:
    """A <div> for Jupyter (no <html>, no scripts)."""
    return _env().get_template("trace.html").render(doc=doc, page=False, wide=wide)


def render_fragment(trace: Trace, lang: str | None = None, digits: int = 3) -> str:
    """A <div> for Jupyter (no <html>, no scripts)."""
    from qkv.core.lang import default_lang

    return fragment(build(trace, lang or trace.lang or default_lang(), digits))
