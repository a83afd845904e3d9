"""How core objects show themselves, without the core importing a face.

A face registers a function for a kind of output ("html", "text") and a class; Jupyter's
``_repr_html_`` and ``str()`` of core objects look it up here. ``qkv/__init__.py`` registers
the built-in faces lazily (by module and function name), so nothing heavy is imported until an
object is actually shown.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

_SHOWN: dict[tuple[str, str], str | Callable[[Any], str]] = {}


def _key(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def register(kind: str, cls: str, fn: str | Callable[[Any], str]) -> None:
    """Show objects of class ``cls`` ("module.Class") as ``kind`` with ``fn`` or
    "module:function"."""
    _SHOWN[(kind, cls)] = fn


def show(kind: str, obj: Any) -> str | None:
    """``obj`` shown as ``kind`` by the registered face, or None when no face is registered."""
    key = (kind, _key(type(obj)))
    fn = _SHOWN.get(key)
    if fn is None:
        return None
    if isinstance(fn, str):
        module, _, name = fn.partition(":")
        fn = _SHOWN[key] = getattr(importlib.import_module(module), name)
    return fn(obj)
