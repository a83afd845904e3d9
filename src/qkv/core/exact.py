"""Exact numbers for hand calculation, and the one place numbers are written as text.

Inputs that a person writes (1, 2, 0.5, 3/4) are kept as :class:`fractions.Fraction`, so the
products and sums a learner computes by hand stay exact: 11, not 11.0000.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from qkv import limits


def exact_array(rows: list[list[Fraction]]) -> np.ndarray:
    """An object array of Fractions (shape rows x cols)."""
    out = np.empty((len(rows), len(rows[0]) if rows else 0), dtype=object)
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            out[i, j] = Fraction(value)
    return out


def from_float(matrix: np.ndarray) -> np.ndarray | None:
    """Exact form of a float matrix whose entries are all integers, else None."""
    m = np.asarray(matrix, dtype=np.float64)
    if not np.all(np.isfinite(m)) or not np.all(m == np.round(m)) or np.any(np.abs(m) > 2**52):
        return None
    return exact_array([[Fraction(int(v)) for v in row] for row in m.tolist()])


def matmul(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    """Exact a @ b, or None when either side is not exact or the work is too large."""
    if a is None or b is None:
        return None
    if a.shape[0] * a.shape[1] * b.shape[1] > limits.EXACT_WORK:
        return None
    if not (small(a) and small(b)):  # 1e-300 as a Fraction: slow and of no use by hand
        return None
    product: np.ndarray = np.dot(a, b)
    return product


def small(a: np.ndarray) -> bool:
    """Every entry's numerator and denominator fit limits.EXACT_BITS bits."""
    bits = limits.EXACT_BITS
    return all(
        abs(q.numerator).bit_length() <= bits and q.denominator.bit_length() <= bits for q in a.flat
    )


def sqrt_exact(n: int) -> Fraction | None:
    """sqrt(n) as an exact rational when n is a perfect square."""
    r = math.isqrt(n)
    return Fraction(r) if r * r == n else None


def is_terminating(q: Fraction, max_digits: int = 8) -> bool:
    """True when q is a decimal with at most ``max_digits`` significant digits."""
    den = q.denominator
    for p in (2, 5):
        while den % p == 0:
            den //= p
    if den != 1:
        return False
    text = format_fraction_decimal(q)
    return len(text.replace("-", "").replace(".", "").lstrip("0")) <= max_digits


def format_fraction_decimal(q: Fraction) -> str:
    """A terminating fraction as an exact decimal string (3/8 -> 0.375)."""
    den, places = q.denominator, 0
    while den % 10 == 0 or den % 2 == 0 or den % 5 == 0:
        den //= 10 if den % 10 == 0 else (2 if den % 2 == 0 else 5)
        places += 1
    scaled = abs(q.numerator) * 10**places // q.denominator  # exact: den had only 2s and 5s
    digits = str(scaled).rjust(places + 1, "0")
    whole, frac = digits[: len(digits) - places], digits[len(digits) - places :].rstrip("0")
    sign = "-" if q < 0 else ""
    return f"{sign}{whole}.{frac}" if frac else f"{sign}{whole}"


def fmt(value: float, digits: int = 3, exact: Fraction | None = None) -> str:
    """Write a number as a person would: exact when it is, else ``digits`` significant digits.

    Integers stay integers (11), short exact decimals stay exact (5.5), everything else is
    rounded to ``digits`` significant digits (0.0634). ``-inf`` is written as -inf.
    """
    if exact is not None and is_terminating(exact):
        return format_fraction_decimal(exact)
    v = float(value)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "-inf" if v < 0 else "inf"
    if v == 0:
        return "0"
    if 10**digits <= abs(v) < 1e15:
        return f"{v:.0f}"
    text = f"{v:.{digits}g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e{int(exponent)}"
    return "0" if text in ("-0", "0.0") else text


def fmt_exact(q: Fraction) -> str:
    """An exact number for an expansion: decimal when short, else a fraction (11/3)."""
    if is_terminating(q):
        return format_fraction_decimal(q)
    if max(abs(q.numerator), q.denominator) >= 10**12:  # 1e300 is not written in 301 digits
        return fmt(float(q), 6)
    return f"{q.numerator}/{q.denominator}"
