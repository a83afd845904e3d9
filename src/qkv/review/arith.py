r"""Arithmetic as articles write it, evaluated on intervals.

    1·1 + 2·2 + 1·1        e^0 / (e^0 + e^-2 + e^0)        0.5 * [2, 8, 0]
    \frac{e^{2}}{e^{2} + e^{4}}     softmax([2, 4, 4])     √64     np.exp(2)

A literal with decimals stands for everything that rounds to it (0.47: 0.465 … 0.475), so a
result computed either from the written numbers or from the exact values behind them fits.
Values are intervals of scalars or of vectors; '·' between two vectors is their dot product.
Anything else (a letter that is not a function) makes the expression unreadable: None.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from qkv.review.intervals import Box
from qkv.review.intervals import softmax as box_softmax
from qkv.review.numbers import Claim, parse_claim

_TOKEN = re.compile(
    r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][-+−]?\d+)?)|(?P<fn>np\.exp|math\.exp|exp|"
    r"np\.sqrt|math\.sqrt|sqrt|softmax|ln|log)\b|(?P<e>e)(?=\s*\^)|(?P<op>[-+−*×·/÷^(),\[\]√]))"
)
_LATEX = [
    (re.compile(r"\\left|\\right|\\[,;:!]|\\quad|\\qquad"), " "),
    (re.compile(r"\\cdot|\\bullet"), "·"),
    (re.compile(r"\\times"), "×"),
    (re.compile(r"\\div"), "/"),
    (re.compile(r"\\exp"), "exp"),
    (re.compile(r"\\mathrm\{e\}|\\text\{e\}"), "e"),
    (re.compile(r"\\approx"), "≈"),
]
MAX_TERMS = 200


@dataclass(frozen=True)
class Value:
    lo: np.ndarray  # shape () for a number, (n,) for a vector
    hi: np.ndarray

    @property
    def is_vector(self) -> bool:
        return self.lo.ndim == 1


class _Unreadable(Exception):
    pass


def from_latex(text: str) -> str:
    """LaTeX arithmetic as plain: \frac{a}{b} -> ((a)/(b)), \\sqrt{a} -> √(a), e^{x} -> e^(x)."""
    for pattern, plain in _LATEX:
        text = pattern.sub(plain, text)
    for _ in range(20):  # nested \frac and \sqrt, innermost first
        new = re.sub(r"\^\s*\{([^{}]*)\}", r"^(\1)", text)
        new = re.sub(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}", r"((\1)/(\2))", new)
        new = re.sub(r"\\sqrt\s*\{([^{}]*)\}", r"√(\1)", new)
        if new == text:
            break
        text = new
    return text.replace("{", "(").replace("}", ")")


def literal_claims(text: str) -> list[Claim] | None:
    """The numbers of a literal ("0.47", "[2.0, 7.0, 1.5]"), or None for anything else."""
    s = text.strip().rstrip(".,;:。，；")
    if s.startswith("[") and s.endswith("]"):
        parts = [p for p in re.split(r"[,\s]+", s[1:-1].strip()) if p]
    else:
        parts = [s]
    claims = [parse_claim(p) for p in parts]
    if not parts or any(c is None or c.masked for c in claims):
        return None
    return [c for c in claims if c is not None]


def evaluate(text: str) -> Value | None:
    """The interval value of an expression, or None when it is not plain arithmetic."""
    tokens = _tokens(from_latex(text))
    if tokens is None or len(tokens) > MAX_TERMS:
        return None
    parser = _Parser(tokens)
    try:
        with np.errstate(all="ignore"):
            value = parser.expr()
    except (_Unreadable, OverflowError, ValueError, ZeroDivisionError):
        return None
    if parser.pos != len(tokens) or not np.all(np.isfinite(value.lo) & np.isfinite(value.hi)):
        return None
    return value


def _tokens(text: str) -> list[tuple[str, str]] | None:
    out = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            return None
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def _number(text: str) -> Value:
    c = parse_claim(text)
    if c is None:
        raise _Unreadable(text)
    exact = c.decimals == 0 and c.exponent is None
    h = 0.0 if exact else c.half_unit
    return Value(np.array(c.value - h), np.array(c.value + h))


def _corners(a: Value, b: Value, op: str) -> Value:
    pairs = [(x, y) for x in (a.lo, a.hi) for y in (b.lo, b.hi)]
    if op == "/":
        if np.any((b.lo <= 0) & (b.hi >= 0)):
            raise _Unreadable("division by an interval holding 0")
        vals = [x / y for x, y in pairs]
    else:
        vals = [x * y for x, y in pairs]
    stack = np.stack(np.broadcast_arrays(*vals))
    return Value(stack.min(axis=0), stack.max(axis=0))


def _add(a: Value, b: Value, sign: int) -> Value:
    if a.is_vector and b.is_vector and a.lo.shape != b.lo.shape:
        raise _Unreadable("vectors of different lengths")
    if sign > 0:
        return Value(a.lo + b.lo, a.hi + b.hi)
    return Value(a.lo - b.hi, a.hi - b.lo)


def _dot(a: Value, b: Value) -> Value:
    if a.lo.shape != b.lo.shape:
        raise _Unreadable("vectors of different lengths")
    p = _corners(a, b, "*")
    return Value(np.array(p.lo.sum()), np.array(p.hi.sum()))


def _power(base: Value, exp: Value) -> Value:
    if base.is_vector or exp.is_vector:
        raise _Unreadable("power of a vector")
    if float(exp.lo) == float(exp.hi) and float(exp.lo).is_integer():
        n = int(exp.lo)
        lo, hi = float(base.lo), float(base.hi)
        vals = [lo**n, hi**n]
        if n % 2 == 0 and n > 0 and lo < 0 < hi:
            vals.append(0.0)
        return Value(np.array(min(vals)), np.array(max(vals)))
    if float(base.lo) <= 0:
        raise _Unreadable("a non-integer power of a number that may be negative")
    vals = [x**y for x in (float(base.lo), float(base.hi)) for y in (float(exp.lo), float(exp.hi))]
    return Value(np.array(min(vals)), np.array(max(vals)))


def _function(name: str, arg: Value) -> Value:
    name = name.split(".")[-1]
    if name == "exp":
        return Value(np.exp(arg.lo), np.exp(arg.hi))
    if name in ("sqrt", "√"):
        if np.any(arg.lo < 0):
            raise _Unreadable("square root of a negative number")
        return Value(np.sqrt(arg.lo), np.sqrt(arg.hi))
    if name in ("ln", "log"):
        if np.any(arg.lo <= 0):
            raise _Unreadable("logarithm of a number that is not positive")
        return Value(np.log(arg.lo), np.log(arg.hi))
    if name == "softmax":
        if not arg.is_vector:
            raise _Unreadable("softmax of a number")
        box = box_softmax(Box(arg.lo[None, :], arg.hi[None, :]))
        return Value(box.lo[0], box.hi[0])
    raise _Unreadable(name)


class _Parser:
    """expr := term (± term)*; term := unary ((*|×|·|/) unary)*; unary := -unary | power;
    power := primary (^ unary)?; primary := number | (expr) | [list] | fn(expr) | e^… | √…"""

    def __init__(self, tokens: list[tuple[str, str]]):
        self.tokens, self.pos = tokens, 0

    def _peek(self) -> tuple[str, str]:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ("", "")

    def _take(self, value: str) -> None:
        if self._peek()[1] != value:
            raise _Unreadable(f"expected {value}")
        self.pos += 1

    def expr(self) -> Value:
        value = self.term()
        while self._peek()[1] in ("+", "-", "−"):
            op = self.tokens[self.pos][1]
            self.pos += 1
            value = _add(value, self.term(), 1 if op == "+" else -1)
        return value

    def term(self) -> Value:
        value = self.unary()
        while self._peek()[1] in ("*", "×", "·", "/", "÷"):
            op = self.tokens[self.pos][1]
            self.pos += 1
            right = self.unary()
            if op == "·" and value.is_vector and right.is_vector:
                value = _dot(value, right)
            else:
                value = _corners(value, right, "/" if op in "/÷" else "*")
        return value

    def unary(self) -> Value:
        if self._peek()[1] in ("-", "−"):
            self.pos += 1
            inner = self.unary()
            return Value(-inner.hi, -inner.lo)
        if self._peek()[1] == "+":
            self.pos += 1
        return self.power()

    def power(self) -> Value:
        base = self.primary()
        if self._peek()[1] == "^":
            self.pos += 1
            base = _power(base, self.unary())
        return base

    def primary(self) -> Value:
        kind, text = self._peek()
        self.pos += 1
        if kind == "num":
            return _number(text)
        if kind == "e":
            self._take("^")
            return _function("exp", self.unary())
        if kind == "fn" or text == "√":
            arg = self.primary() if text == "√" else self._parenthesised()
            return _function("sqrt" if text == "√" else text, arg)
        if text == "(":
            self.pos -= 1
            return self._parenthesised()
        if text == "[":
            return self._vector()
        raise _Unreadable(text or "end")

    def _parenthesised(self) -> Value:
        self._take("(")
        value = self.expr()
        self._take(")")
        return value

    def _vector(self) -> Value:
        items = [self.expr()]
        while self._peek()[1] == ",":
            self.pos += 1
            items.append(self.expr())
        self._take("]")
        if any(i.is_vector for i in items):
            raise _Unreadable("nested vectors")
        return Value(np.array([float(i.lo) for i in items]), np.array([float(i.hi) for i in items]))


def is_exact(value: Value) -> bool:
    return bool(np.all(value.lo == value.hi))


def midpoint(value: Value) -> np.ndarray:
    return (value.lo + value.hi) / 2


__all__ = ["Value", "evaluate", "from_latex", "is_exact", "literal_claims", "math", "midpoint"]
