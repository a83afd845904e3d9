"""Matrices from text: JSON rows, bracket rows one per line (as in the article), CSV.

Numbers are kept exact (Fraction) as written: "0.1" is 1/10. Errors name the row and column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from qkv.core.matrix import check_rect
from qkv.errors import InputError

_SPLIT = re.compile(r"[,\t;]|\s+")
MATRIX_KEYS = ("x", "q", "k", "v", "wq", "wk", "wv", "mask")


@dataclass
class Parsed:
    rows: list[list[Fraction]]
    labels: list[str] | None = None  # a first column of token labels, when the text had one


def parse_number(text: str, where: str) -> Fraction:
    """One number as written (1, -0.5, 1e-3, 3/4, with U+2212 as minus); InputError if not."""
    t = text.strip().replace("−", "-").replace("＋", "+")
    if not t:
        raise InputError(f"{where} is empty")
    low = t.lower().lstrip("+-")
    if low in ("nan", "inf", "infinity", "∞"):
        raise InputError(f"{where} is {t}; only finite numbers are allowed")
    try:
        return Fraction(t)
    except (ValueError, ZeroDivisionError):
        raise InputError(f"{where}: {text.strip()!r} is not a number") from None


def from_json_value(value: Any, name: str) -> Parsed:
    """A JSON list of rows (or one row) whose numbers were parsed as Fractions or strings."""
    if not isinstance(value, list):
        raise InputError(f"{name} must be a list of rows, like [[1, 2], [3, 4]]")
    rows = value if value and isinstance(value[0], list) else [value]
    check_rect(rows, name)
    return Parsed(
        [
            [_json_cell(cell, f"{name} row {i}, column {j}") for j, cell in enumerate(row, 1)]
            for i, row in enumerate(rows, start=1)
        ]
    )


def _json_cell(cell: Any, where: str) -> Fraction:
    if isinstance(cell, str):
        return parse_number(cell, where)
    if isinstance(cell, Fraction):
        return cell
    raise InputError(f"{where}: {cell!r} is not a number")


def _load_json(text: str, name: str) -> Any:
    import json

    try:
        return json.loads(text, parse_float=Fraction, parse_int=Fraction, parse_constant=str)
    except json.JSONDecodeError as e:
        if re.search(r"\b(nan|inf|infinity)\b", text, re.IGNORECASE):
            raise InputError(
                f"{name} contains NaN or Inf; only finite numbers are allowed"
            ) from None
        raise InputError(
            f"{name}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})"
        ) from None


def parse_matrix(text: str, name: str = "X") -> Parsed:
    """Parse one matrix: JSON ``[[1,2],[3,4]]``, bracket rows one per line, or CSV/whitespace.

    A CSV whose first column is not numeric in every row takes that column as token labels.
    """
    stripped = text.strip().lstrip("\ufeff")
    if not stripped:
        raise InputError(f"{name} is empty")
    lines = [ln.strip() for ln in stripped.splitlines() if ln.strip()]
    if stripped.startswith("[") and (len(lines) == 1 or stripped.startswith("[[")):
        return from_json_value(_load_json(stripped, name), name)
    if all(ln.startswith("[") for ln in lines):
        rows = []
        for i, ln in enumerate(lines, start=1):
            inner = ln.strip().rstrip(",")
            if not inner.endswith("]"):
                raise InputError(f"{name} row {i} does not end with ']'")
            rows.append(_split_cells(inner[1:-1], name, i))
        check_rect(rows, name)
        return Parsed(rows)
    table = [[c for c in _SPLIT.split(ln) if c != ""] for ln in lines]
    labels = None
    if all(len(r) > 1 for r in table) and all(not _is_number(r[0]) for r in table):
        labels = [r[0] for r in table]
        table = [r[1:] for r in table]
    rows = [
        [parse_number(c, f"{name} row {i}, column {j}") for j, c in enumerate(r, start=1)]
        for i, r in enumerate(table, start=1)
    ]
    check_rect(rows, name)
    return Parsed(rows, labels)


def _split_cells(inner: str, name: str, row: int) -> list[Fraction]:
    cells = [c for c in _SPLIT.split(inner.strip()) if c != ""]
    return [parse_number(c, f"{name} row {row}, column {j}") for j, c in enumerate(cells, 1)]


def _is_number(text: str) -> bool:
    try:
        parse_number(text, "")
    except InputError:
        return False
    return True


def parse_input_file(text: str, name: str) -> dict[str, Any]:
    """An input file: a JSON object with x/q/k/v/wq/wk/wv/mask/tokens/key_tokens, else X.

    Returns keyword arguments for :func:`qkv.core.attention.trace` (matrices as Fractions).
    """
    stripped = text.strip().lstrip("\ufeff")
    if stripped.startswith("{"):
        obj = _load_json(stripped, name)
        unknown = sorted(set(obj) - set(MATRIX_KEYS) - {"tokens", "key_tokens"})
        if unknown:
            raise InputError(
                f"{name}: unknown key {unknown[0]!r}; expected some of "
                f"{', '.join(MATRIX_KEYS)}, tokens, key_tokens"
            )
        kwargs: dict[str, Any] = {}
        for key in MATRIX_KEYS:
            if key in obj:
                kwargs[key] = from_json_value(obj[key], f"{name} {key}").rows
        for key in ("tokens", "key_tokens"):
            if key in obj:
                if not isinstance(obj[key], list):
                    raise InputError(f"{name} {key} must be a list of strings")
                kwargs[key] = [str(t) for t in obj[key]]
        return kwargs
    parsed = parse_matrix(stripped, f"{name}")
    kwargs = {"x": parsed.rows}
    if parsed.labels is not None:
        kwargs["tokens"] = parsed.labels
    return kwargs


def parse_tokens(text: str) -> list[str]:
    """'笔,记,本' or '笔 记 本' -> ['笔', '记', '本']."""
    sep = "," if "," in text else ("，" if "，" in text else None)
    tokens = [t.strip() for t in (text.split(sep) if sep else text.split())]
    if not tokens or any(t == "" for t in tokens):
        raise InputError(f"tokens {text!r} contain an empty token; separate them by commas")
    return tokens
