"""Matrices from text: JSON rows, bracket rows one per line (as in the article), CSV.

Numbers are kept exact (Fraction) as written: "0.1" is 1/10. Errors name the row and column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from qkv import limits
from qkv.core.matrix import check_rect
from qkv.core.numbers import describe, parse_number, short
from qkv.errors import InputError

_SPLIT = re.compile(r"[,\t;]|\s+")
MATRIX_KEYS = ("x", "q", "k", "v", "wq", "wk", "wv", "wo", "wa_q", "wa_k", "va", "mask")


@dataclass
class Parsed:
    rows: list[list[Fraction]]
    labels: list[str] | None = None  # a first column of token labels, when the text had one
    columns: list[str] | None = None  # a header row of column names, when the text had one


def from_json_value(value: Any, name: str) -> Parsed:
    """A JSON list of rows (or one row) whose numbers were read as strings (_load_json)."""
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
    raise InputError(f"{where}: {describe(cell)} is not a number")


def _load_json(text: str, name: str) -> Any:
    """JSON with every number kept as its text (checked and made exact by parse_number)."""
    import json

    try:
        return json.loads(text, parse_float=str, parse_int=str, parse_constant=str)
    except RecursionError:
        raise InputError(f"{name}: JSON nested too deeply") from None
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

    A CSV whose first column is not numeric in every row takes that column as token labels
    (``labels``), and a first row with no number in it is a header of column names
    (``columns``; a name over the label column is dropped). The command line says so.
    """
    stripped = text.strip().lstrip("\ufeff")
    if not stripped:
        raise InputError(f"{name} is empty")
    lines = [ln.strip() for ln in stripped.splitlines() if ln.strip()]
    if len(lines) == 1 and ";" in stripped and not stripped.startswith("["):
        # one line with semicolons ("1,2;3,4", "1 2; 3 4"): rows as MATLAB and np.matrix
        # write them; in a file of several lines a semicolon separates cells (CSV)
        lines = [ln.strip() for ln in stripped.split(";") if ln.strip()]
    if stripped.startswith("[") and (len(lines) == 1 or stripped.startswith("[[")):
        return from_json_value(_load_json(stripped, name), name)
    if len(lines) > limits.MAX_DIM:
        raise InputError(f"{name} has {len(lines):,} rows; at most {limits.MAX_DIM:,}")
    if all(ln.startswith("[") for ln in lines):
        return Parsed(_numbers(_bracket_rows(lines, name), name))
    table = [[c for c in _SPLIT.split(ln) if c != ""] for ln in lines]
    header = None
    if len(table) > 1 and not any(_is_number(c) for c in table[0]):
        header, table = table[0], table[1:]
    labels = None
    if all(len(r) > 1 for r in table) and all(not _is_number(r[0]) for r in table):
        labels = [r[0] for r in table]
        table = [r[1:] for r in table]
    rows = _numbers(table, name)
    columns = None if header is None else _columns(header, len(rows[0]), labels is not None, name)
    return Parsed(rows, labels, columns)


def _columns(header: list[str], n: int, labelled: bool, name: str) -> list[str]:
    """The header's names of the n number columns (a first name over the labels dropped)."""
    if labelled and len(header) == n + 1:
        header = header[1:]
    if len(header) != n:
        raise InputError(
            f"{name}: the header row has {len(header)} names for {n} columns of numbers"
        )
    return header


def _bracket_rows(lines: list[str], name: str) -> list[list[str]]:
    rows = []
    for i, ln in enumerate(lines, start=1):
        inner = ln.strip().rstrip(",")
        if not inner.endswith("]"):
            raise InputError(f"{name} row {i} does not end with ']'")
        rows.append([c for c in _SPLIT.split(inner[1:-1].strip()) if c != ""])
    return rows


def _numbers(table: list[list[str]], name: str) -> list[list[Fraction]]:
    """The cells as exact numbers, once the table's shape and size are known to be fine."""
    check_rect(table, name)
    return [
        [parse_number(c, f"{name} row {i}, column {j}") for j, c in enumerate(r, start=1)]
        for i, r in enumerate(table, start=1)
    ]


def _is_number(text: str) -> bool:
    try:
        parse_number(text, "")
    except InputError:
        return False
    return True


def parse_mask(value: Any, name: str) -> list[list[bool]]:
    """A boolean mask, True = may attend: 0/1 (or true/false) rows from JSON, or a text
    matrix (--mask FILE). The same rule for both: any other number is an error."""
    if isinstance(value, str):
        value = parse_matrix(value, name).rows
    if not isinstance(value, list):
        raise InputError(f"{name} must be rows of 0 and 1 (1 = may attend)")
    rows = value if value and isinstance(value[0], list) else [value]
    check_rect(rows, name)
    return [[_mask_cell(c, name, i, j) for j, c in enumerate(r, 1)] for i, r in enumerate(rows, 1)]


def _mask_cell(cell: Any, name: str, i: int, j: int) -> bool:
    if isinstance(cell, bool):
        return cell
    where = f"{name} row {i}, column {j}"
    q = parse_number(cell, where) if isinstance(cell, str) else cell
    if isinstance(q, Fraction) and q in (0, 1):
        return q == 1
    raise InputError(f"{where} is {describe(q)}; use 0 or 1 (1 = may attend)")


def parse_input_file(text: str, name: str) -> dict[str, Any]:
    """An input file: a JSON object with x/q/k/v/wq/wk/wv/mask/tokens/key_tokens, else X.

    Returns keyword arguments for :func:`qkv.core.attention.trace` (matrices as Fractions;
    the mask as booleans, True = may attend, as for --mask FILE).
    """
    stripped = text.strip().lstrip("\ufeff")
    if stripped.startswith("{"):
        obj = _load_json(stripped, name)
        if not isinstance(obj, dict):
            raise InputError(f"{name}: expected one JSON object")
        unknown = sorted(set(obj) - set(MATRIX_KEYS) - {"tokens", "key_tokens"})
        if unknown:
            raise InputError(
                f"{name}: unknown key {short(unknown[0])!r}; expected some of "
                f"{', '.join(MATRIX_KEYS)}, tokens, key_tokens"
            )
        kwargs: dict[str, Any] = {}
        for key in MATRIX_KEYS:
            if key in obj and key != "mask":
                kwargs[key] = from_json_value(obj[key], f"{name} {key}").rows
        if "mask" in obj:
            kwargs["mask"] = parse_mask(obj["mask"], f"{name} mask")
        for key in ("tokens", "key_tokens"):
            if key in obj:
                kwargs[key] = _tokens(obj[key], f"{name} {key}")
        return kwargs
    return _text_input(parse_matrix(stripped, f"{name}"))


def _text_input(parsed: Parsed) -> dict[str, Any]:
    """X of a text file, with its token labels and column names where it had them."""
    kwargs: dict[str, Any] = {"x": parsed.rows}
    if parsed.labels is not None:
        kwargs["tokens"] = parsed.labels
    if parsed.columns is not None:
        kwargs["columns"] = parsed.columns
    return kwargs


def _tokens(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or any(isinstance(t, (list, dict)) for t in value):
        raise InputError(f"{where} must be a list of strings")
    return [describe(t) if isinstance(t, bool) or t is None else str(t) for t in value]


def parse_tokens(text: str) -> list[str]:
    """'笔,记,本' or '笔 记 本' -> ['笔', '记', '本']."""
    sep = "," if "," in text else ("，" if "，" in text else None)
    tokens = [t.strip() for t in (text.split(sep) if sep else text.split())]
    if not tokens or any(t == "" for t in tokens):
        raise InputError(f"tokens {short(text)!r} contain an empty token; separate them by commas")
    return tokens


def duplicates(tokens: list[str]) -> list[str]:
    """Tokens that appear more than once, in order of first appearance."""
    from collections import Counter

    counts = Counter(tokens)
    return [t for t in dict.fromkeys(tokens) if counts[t] > 1]
