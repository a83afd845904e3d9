"""qkv.explain(): the hand calculation as a Trace (shown as HTML in Jupyter)."""

from __future__ import annotations

from typing import Any

from qkv.core.attention import trace
from qkv.core.examples import find_example
from qkv.core.trace import Trace


def explain(x: Any = None, *, example: str | None = None, lang: str = "zh", **kwargs: Any) -> Trace:
    """Trace of a preset (default: the article's 笔记本) or of your own matrices.

    ``qkv.explain()`` is the article's example; ``qkv.explain(example="search")`` the search
    picture; ``qkv.explain([[1, 0], [0, 1]], tokens=["a", "b"])`` your own X (scaled by
    1/sqrt(d_k) unless ``scale`` says otherwise); ``q=, k=, v=`` for cross-attention.
    """
    if x is None and not any(kwargs.get(n) is not None for n in ("q", "k", "v")):
        return find_example(example or "笔记本").trace(lang)
    return trace(x, **kwargs)
