"""The scale of the scores: 1/sqrt(d_k) by default, 1 for "none", or a given number."""

from __future__ import annotations

import math
from fractions import Fraction

from qkv.core import exact as ex
from qkv.core.matrix import to_fraction
from qkv.core.numbers import parse_number, short
from qkv.errors import InputError

ScaleArg = None | str | float | int | Fraction


def is_sqrt(scale: ScaleArg) -> bool:
    """Does this argument ask for the default 1/sqrt(d_k)?"""
    return scale is None or scale == "sqrt"


def resolve_scale(scale: ScaleArg, d_k: int) -> tuple[float, str, Fraction | None]:
    """(scale as float, how to write it, exact value or None).

    None or "sqrt": 1/sqrt(d_k); "none": 1; a number: that number.
    """
    if is_sqrt(scale):
        root = ex.sqrt_exact(d_k)
        return 1.0 / math.sqrt(d_k), f"1/√{d_k}", None if root is None else 1 / root
    if isinstance(scale, str) and scale.strip().lower() == "none":
        return 1.0, "1", Fraction(1)
    if isinstance(scale, str):
        q = parse_number(scale, "scale") if _is_number(scale) else None
        if q is None:
            shown = short(scale)
            raise InputError(f"scale must be 'sqrt', 'none' or a number, not {shown!r}")
    else:
        q = to_fraction(scale, "scale")
    if q <= 0:
        raise InputError(f"scale must be a positive number, not {ex.fmt_exact(q)}")
    return float(q), ex.fmt_exact(q), q


def _is_number(text: str) -> bool:
    """Looks like a number (digits, maybe a sign, point, exponent or slash): then a bad one
    gets parse_number's precise message ("1e400 is too large")."""
    return any(c.isdigit() for c in text) and not any(c.isalpha() and c not in "eE" for c in text)
