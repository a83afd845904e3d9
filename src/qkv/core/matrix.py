"""User matrices, validated once: rectangular rows of finite numbers, kept exact as written.

Every entry point (Python lists, NumPy arrays, JSON, CSV, bracket rows) ends here, so the
errors read the same everywhere: "X row 2 has 4 numbers, expected 5".
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np

from qkv import limits
from qkv.core import exact as ex
from qkv.core.numbers import check_magnitude, describe
from qkv.errors import InputError


def count(n: int, noun: str = "number") -> str:
    """'1 number', '4 numbers'."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def check_rect(rows: list[list[Any]], name: str) -> None:
    """InputError unless ``rows`` is a non-empty list of equally long non-empty lists."""
    if not rows or not any(rows):
        raise InputError(f"{name} is empty")
    width = len(rows[0])
    if width == 0:
        raise InputError(f"{name} row 1 has no numbers")
    for i, row in enumerate(rows, start=1):
        if not isinstance(row, list):
            raise InputError(f"{name} row {i} is not a list of numbers")
        if len(row) != width:
            raise InputError(f"{name} row {i} has {count(len(row))}, expected {width}")
    check_size(len(rows), width, name)


def check_size(n_rows: int, width: int, name: str) -> None:
    """InputError when a matrix is larger than a hand calculation (qkv.limits)."""
    if width > limits.MAX_DIM:
        raise InputError(f"{name} has {width:,} columns; at most {limits.MAX_DIM:,}")
    if n_rows * width > limits.MAX_CELLS:
        raise InputError(
            f"{name} has {n_rows:,}x{width:,} numbers; at most {limits.MAX_CELLS:,} in a matrix"
        )


def to_fraction(item: Any, where: str) -> Fraction:
    """A number as the user wrote it (0.1 means 1/10); InputError for anything else."""
    if isinstance(item, bool):
        raise InputError(f"{where}: {describe(item)} is not a number")
    if isinstance(item, Fraction):
        q = item
    elif isinstance(item, (int, np.integer)):
        q = Fraction(int(item))
    elif isinstance(item, (float, np.floating)):
        if not math.isfinite(item):
            raise InputError(f"{where} is {item}; only finite numbers are allowed")
        return Fraction(repr(float(item)))  # a float64 already: no size to check
    else:
        raise InputError(f"{where}: {describe(item)} is not a number")
    check_magnitude(q, where)  # 10**400 would overflow float64
    return q


def rows_of(value: Any, name: str = "matrix") -> list[Any]:
    """A matrix-like value as a list of rows; a single vector is one row."""
    rows: list[Any]
    if isinstance(value, np.ndarray) and value.dtype != object:
        if value.size > limits.MAX_CELLS:
            raise InputError(f"{name} has {value.size:,} numbers; at most {limits.MAX_CELLS:,}")
        rows = value.tolist()
    else:
        rows = [list(r) if isinstance(r, (list, tuple, np.ndarray)) else r for r in value]
    if rows and not isinstance(rows[0], list):
        rows = [rows]
    return rows


def as_matrix(value: Any, name: str, max_rows: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A 2-D float matrix and its exact form (Fractions) from user data; InputError if bad.

    ``max_rows``: a bound on the rows (tokens) beyond the size limits of every matrix."""
    rows = rows_of(value, name)
    check_rect(rows, name)
    if max_rows is not None and len(rows) > max_rows:
        raise InputError(f"{name} has {len(rows):,} rows (tokens); at most {max_rows:,}")
    exact_rows = [
        [to_fraction(item, f"{name} row {i}, column {j}") for j, item in enumerate(row, start=1)]
        for i, row in enumerate(rows, start=1)
    ]
    matrix = np.array([[float(q) for q in r] for r in exact_rows], dtype=np.float64)
    return matrix, ex.exact_array(exact_rows)


def as_floats(value: Any, name: str, max_rows: int | None = None) -> np.ndarray:
    """A 2-D float64 matrix without an exact form: numbers a model computed (float32 weights,
    hidden states), where Fractions of 17-digit decimals would cost time and help no one
    writing by hand. Held to the same limits as :func:`as_matrix`; a bad value gets its
    message (row i, column j)."""
    try:
        m = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        m = np.empty((0, 0))
    if m.ndim == 1:
        m = m[None, :]
    if m.ndim != 2 or m.size == 0 or not np.all(np.isfinite(m)):
        as_matrix(value, name, max_rows)  # says what is wrong, and where
        raise InputError(f"{name} is not a matrix of finite numbers")
    check_size(m.shape[0], m.shape[1], name)
    if max_rows is not None and m.shape[0] > max_rows:
        raise InputError(f"{name} has {m.shape[0]:,} rows (tokens); at most {max_rows:,}")
    return m
