"""qkv: attention you can compute by hand, check, see, train and run fast.

``import qkv`` is light: it imports neither torch nor matplotlib. Names load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qkv.core import display as _display

__version__ = "0.1.0"

_LAZY = {
    "attention": "qkv.core.attention",
    "trace": "qkv.core.trace",
    "causal_mask": "qkv.core.masks",
    "softmax": "qkv.core.softmax",
    "Trace": "qkv.core.trace",
    "Step": "qkv.core.trace",
    "InputError": "qkv.errors",
    "explain": "qkv.core.examples",
    "check": "qkv.review.api",
    "explain_model": "qkv.inside.explain",
}

__all__ = [
    "InputError",
    "Step",
    "Trace",
    "__version__",
    "attention",
    "causal_mask",
    "check",
    "explain",
    "explain_model",
    "softmax",
    "trace",
]

if TYPE_CHECKING:
    from qkv.core.attention import attention
    from qkv.core.examples import explain
    from qkv.core.masks import causal_mask
    from qkv.core.softmax import softmax
    from qkv.core.trace import Step, Trace, trace
    from qkv.errors import InputError
    from qkv.inside.explain import explain_model
    from qkv.review.api import check

# How the faces show core objects (the core itself imports no face): loaded when first shown.
_display.register("text", "qkv.core.trace.record.Trace", "qkv.render:text_of")
_display.register("html", "qkv.core.trace.record.Trace", "qkv.render.html:render_fragment")
_display.register("html", "qkv.maps.AttentionMaps", "qkv.viz.notebook:maps_html")
_display.register("text", "qkv.inside.explain.ModelExplanation", "qkv.render.model:text_of")
_display.register("html", "qkv.inside.explain.ModelExplanation", "qkv.render.model:html_of")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'qkv' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
