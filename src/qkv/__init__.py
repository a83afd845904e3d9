"""qkv: attention you can compute by hand, check, see, train and run fast.

``import qkv`` is light: it imports neither torch nor matplotlib. Names load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "attention": "qkv.core.attention",
    "trace": "qkv.core.attention",
    "causal_mask": "qkv.core.attention",
    "softmax": "qkv.core.softmax",
    "Trace": "qkv.core.trace",
    "Step": "qkv.core.trace",
    "InputError": "qkv.errors",
    "explain": "qkv.core.explain",
}

__all__ = [
    "InputError",
    "Step",
    "Trace",
    "__version__",
    "attention",
    "causal_mask",
    "explain",
    "softmax",
    "trace",
]

if TYPE_CHECKING:
    from qkv.core.attention import attention, causal_mask, trace
    from qkv.core.explain import explain
    from qkv.core.softmax import softmax
    from qkv.core.trace import Step, Trace
    from qkv.errors import InputError


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'qkv' has no attribute {name!r}")
