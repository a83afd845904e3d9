"""User matrices, validated once: rectangular rows of finite numbers, kept exact as written.

Every entry point (Python lists, NumPy arrays, JSON, CSV, bracket rows) ends here, so the
errors read the same everywhere: "X row 2 has 4 numbers, expected 5".
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np

from qkv.core import exact as ex
from qkv.errors import InputError


def count(n: int) -> str:
    """'1 number', '4 numbers'."""
    return f"{n} number" if n == 1 else f"{n} numbers"


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


def to_fraction(item: Any, where: str) -> Fraction:
    """A number as the user wrote it (0.1 means 1/10); InputError for anything else."""
    if isinstance(item, bool):
        raise InputError(f"{where}: {item!r} is not a number")
    if isinstance(item, Fraction):
        return item
    if isinstance(item, (int, np.integer)):
        return Fraction(int(item))
    if isinstance(item, (float, np.floating)):
        if not math.isfinite(item):
            raise InputError(f"{where} is {item}; only finite numbers are allowed")
        return Fraction(repr(float(item)))
    raise InputError(f"{where}: {item!r} is not a number")


def rows_of(value: Any) -> list[Any]:
    """A matrix-like value as a list of rows; a single vector is one row."""
    rows: list[Any]
    if isinstance(value, np.ndarray) and value.dtype != object:
        rows = value.tolist()
    else:
        rows = [list(r) if isinstance(r, (list, tuple, np.ndarray)) else r for r in value]
    if rows and not isinstance(rows[0], list):
        rows = [rows]
    return rows


def as_matrix(value: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    """A 2-D float matrix and its exact form (Fractions) from user data; InputError if bad."""
    rows = rows_of(value)
    check_rect(rows, name)
    exact_rows = [
        [to_fraction(item, f"{name} row {i}, column {j}") for j, item in enumerate(row, start=1)]
        for i, row in enumerate(rows, start=1)
    ]
    matrix = np.array([[float(q) for q in r] for r in exact_rows], dtype=np.float64)
    return matrix, ex.exact_array(exact_rows)
