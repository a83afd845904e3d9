r"""Arithmetic as articles write it, parsed into a tree and evaluated on intervals.

    1·1 + 2·2 + 1·1        e^0 / (e^0 + e^-2 + e^0)        0.5 * [2, 8, 0]
    \frac{e^{2}}{e^{2} + e^{4}}     softmax([2, 4, 4])     √64     np.exp(2)
    (2.028, 1, 2.028)/5.056        [1, 0, 0] . [1, 1, 0]        0.401 dot (2, 0)

A literal with two decimals or more stands for everything that rounds to it (0.47: 0.465 …
0.475), so a result computed either from the written numbers or from the exact values behind
them fits; whole numbers and numbers with one decimal are data as typed (0.3 is 0.3).
Values are intervals of scalars or of vectors; '·' (or a spaced '.', or Typst's 'dot')
between two vectors is their dot product. Anything else (a letter that is not a function)
makes the expression unreadable: None.

The tree keeps every written number (:class:`Num`), so that a number found wrong elsewhere can
be put right in it and the expression evaluated again (:func:`value_of` with ``swap``), and so
that an expression's top-level terms can be compared with the next line of a calculation.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from qkv.review.intervals import Box
from qkv.review.intervals import matmul as box_matmul
from qkv.review.intervals import softmax as box_softmax
from qkv.review.numbers import Claim, parse_claim

_TOKEN = re.compile(
    r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][-+−]?\d+)?)|(?P<fn>np\.exp|math\.exp|torch\.exp|"
    r"exp|np\.sqrt|math\.sqrt|torch\.sqrt|sqrt|softmax|ln|log)\b|(?P<e>e)(?=\s*\^)|"
    r"(?P<t>\^\s*\{?\s*(?:T|\\top)\s*\}?|ᵀ|\.T\b)|(?P<op>\*\*|[-+−*×·/÷^(),\[\]√@]))"
)
_LATEX = [
    (re.compile(r"\\left|\\right|\\[,;:!]|\\quad|\\qquad|\\[bB]ig[lr]?"), " "),
    (re.compile(r"\\cdot|\\bullet|\\odot"), "·"),
    (re.compile(r"\\times"), "×"),
    (re.compile(r"\\div"), "/"),
    (re.compile(r"\\exp"), "exp"),
    (re.compile(r"\\mathrm\{e\}|\\text\{e\}|\\operatorname\{e\}"), "e"),
    (re.compile(r"\\operatorname\{softmax\}|\\text\{softmax\}|\\mathrm\{softmax\}"), "softmax"),
    (re.compile(r"(?<![\w.])(?:Softmax|SoftMax|SOFTMAX)(?=\s*\()"), "softmax"),  # as in prose
    (re.compile(r"\\approx"), "≈"),
    (re.compile(r"(?<=\S)\s+(?:dot)\s+(?=\S)"), " · "),  # Typst: a dot b
    (re.compile(r"(?<=[\])])\s+\.\s+(?=[\[(])"), " · "),  # [1, 0] . [0, 1]
    (re.compile(r"\*\*|\\\^"), "^"),
]
MAX_TERMS = 200


@dataclass(frozen=True)
class Value:
    lo: np.ndarray  # shape () for a number, (n,) for a vector
    hi: np.ndarray

    @property
    def is_vector(self) -> bool:
        return self.lo.ndim == 1

    @property
    def is_matrix(self) -> bool:
        return self.lo.ndim == 2

    @property
    def width(self) -> int:
        """How many numbers it holds (a matrix's, row after row)."""
        return int(self.lo.size)

    def at(self, c: int) -> tuple[float, float]:
        """The interval of entry ``c`` (of a matrix: counted row after row)."""
        return float(self.lo.flat[c]), float(self.hi.flat[c])


# --- the tree -----------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Num:
    """A written number; compared by identity (the same digits twice are two numbers)."""

    claim: Claim


@dataclass(frozen=True, eq=False)
class Vec:
    items: tuple[Node, ...]


@dataclass(frozen=True, eq=False)
class Bin:
    op: str  # + - * / · ^
    left: Node
    right: Node


@dataclass(frozen=True, eq=False)
class Neg:
    arg: Node


@dataclass(frozen=True, eq=False)
class Transpose:
    arg: Node


@dataclass(frozen=True, eq=False)
class Call:
    name: str  # exp, sqrt, softmax, ln
    arg: Node


Node = Num | Vec | Bin | Neg | Call | Transpose
Swap = Mapping[int, tuple[float, float]]  # id of a Num -> the interval to use instead


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


_THOUSANDS = re.compile(r"^[-+−]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")


def literal_claims(text: str) -> list[Claim] | None:
    """The numbers of a literal ("0.47", "[2.0, 7.0, 1.5]", "(0.4, 0.6)", "38,809"), or
    None for anything else."""
    s = text.strip().rstrip(".,;:。，；").strip()
    if (s[:1], s[-1:]) in (("[", "]"), ("(", ")")):
        parts = [p for p in re.split(r"[,\s]+", s[1:-1].strip()) if p]
    elif _THOUSANDS.match(s):
        parts = [s.replace(",", "")]
    else:
        parts = [s]
    claims = [parse_claim(p) for p in parts]
    if not parts or any(c is None or c.masked for c in claims):
        return None
    if len(parts) == 1 and s.startswith("("):
        return None  # "(3)": a remark, not a vector
    return [c for c in claims if c is not None]


def parse(text: str) -> Node | None:
    """The tree of an expression, or None when it is not plain arithmetic."""
    tokens = _tokens(from_latex(text))
    if tokens is None or not tokens or len(tokens) > MAX_TERMS:
        return None
    parser = _Parser(tokens)
    try:
        node = parser.expr()
    except _Unreadable:
        return None
    return node if parser.pos == len(tokens) else None


def value_of(node: Node, swap: Swap | None = None) -> Value | None:
    """The interval value of a tree; ``swap`` puts other intervals in place of numbers."""
    try:
        with np.errstate(all="ignore"):
            value = _value(node, swap or {})
    except (_Unreadable, OverflowError, ValueError, ZeroDivisionError):
        return None
    if not np.all(np.isfinite(value.lo) & np.isfinite(value.hi)):
        return None
    return value


def evaluate(text: str) -> Value | None:
    """The interval value of an expression, or None when it is not plain arithmetic."""
    node = parse(text)
    return None if node is None else value_of(node)


def numbers(node: Node) -> list[Num]:
    """Every written number of the tree, in the order written."""
    if isinstance(node, Num):
        return [node]
    if isinstance(node, Vec):
        return [n for item in node.items for n in numbers(item)]
    if isinstance(node, Bin):
        return numbers(node.left) + numbers(node.right)
    return numbers(node.arg)  # Neg, Call, Transpose


def terms(node: Node) -> list[Node]:
    """The top-level summands: 0.5·[2, 8] + 0.5·[2, 6] -> [0.5·[2, 8], 0.5·[2, 6]]."""
    if isinstance(node, Bin) and node.op == "+":
        return terms(node.left) + terms(node.right)
    return [node]


def is_literal(node: Node) -> bool:
    """A number or a vector of numbers (a result as written, not a computation)."""
    if isinstance(node, Num):
        return True
    if isinstance(node, Neg):
        return isinstance(node.arg, Num)
    if not isinstance(node, Vec):
        return False
    if all(isinstance(i, Vec) for i in node.items):  # a matrix written row by row
        return all(is_literal(i) for i in node.items)
    return all(is_literal(i) and not isinstance(i, Vec) for i in node.items)


def computes(node: Node) -> bool:
    """Does the tree do any arithmetic (not just write a number or a vector)?"""
    return not is_literal(node)


# --- evaluation ---------------------------------------------------------------------------


def _number(n: Num, swap: Swap) -> Value:
    if id(n) in swap:
        lo, hi = swap[id(n)]
        return Value(np.array(lo), np.array(hi))
    c = n.claim
    h = 0.0 if typed(c) else c.half_unit

    return Value(np.array(c.value - h), np.array(c.value + h))


def typed(c: Claim) -> bool:
    """Numbers with one decimal at most are data as typed (0.3 is 0.3); longer ones were
    rounded from a computation (1.78 for e^0.577 stands for 1.775 … 1.785)."""
    return c.decimals <= 1 and c.exponent is None


def _value(node: Node, swap: Swap) -> Value:
    if isinstance(node, Num):
        return _number(node, swap)
    if isinstance(node, Neg):
        inner = _value(node.arg, swap)
        return Value(-inner.hi, -inner.lo)
    if isinstance(node, Vec):
        items = [_value(i, swap) for i in node.items]
        if all(i.is_vector for i in items) and len({i.lo.shape for i in items}) == 1:
            return Value(np.stack([i.lo for i in items]), np.stack([i.hi for i in items]))
        if any(i.lo.ndim for i in items):
            raise _Unreadable("rows of different lengths")
        return Value(np.array([float(i.lo) for i in items]), np.array([float(i.hi) for i in items]))
    if isinstance(node, Transpose):
        inner = _value(node.arg, swap)
        if not inner.is_matrix:
            raise _Unreadable("the transpose of no matrix")
        return Value(inner.lo.T, inner.hi.T)
    if isinstance(node, Call):
        return _function(node.name, _value(node.arg, swap))
    return _binary(node, swap)


def _binary(node: Bin, swap: Swap) -> Value:
    left, right = _value(node.left, swap), _value(node.right, swap)
    if node.op == "+":
        return _add(left, right, 1)
    if node.op == "-":
        return _add(left, right, -1)
    if node.op == "^":
        return _power(left, right)
    if node.op == "·" and left.is_vector and right.is_vector:
        return _dot(left, right)
    if node.op in ("@", "·", "×") and (left.is_matrix or right.is_matrix):
        return _matmul(left, right)
    if (left.is_vector and right.is_vector) or left.is_matrix or right.is_matrix:
        raise _Unreadable("a product of two arrays that is no dot or matrix product")
    return _corners(left, right, "/" if node.op == "/" else "*")


def _matmul(a: Value, b: Value) -> Value:
    """A row times a matrix, a matrix times a matrix or a column: x·W, Q·Kᵀ."""
    lo_a, hi_a = (a.lo[None, :], a.hi[None, :]) if a.is_vector else (a.lo, a.hi)
    lo_b, hi_b = (b.lo[:, None], b.hi[:, None]) if b.is_vector else (b.lo, b.hi)
    if lo_a.ndim != 2 or lo_b.ndim != 2 or lo_a.shape[1] != lo_b.shape[0]:
        raise _Unreadable("shapes that do not multiply")
    out = box_matmul(Box(lo_a, hi_a), Box(lo_b, hi_b))
    if a.is_vector:
        return Value(out.lo[0], out.hi[0])
    if b.is_vector:
        return Value(out.lo[:, 0], out.hi[:, 0])
    return Value(out.lo, out.hi)


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
    if a.lo.ndim and b.lo.ndim and a.lo.shape != b.lo.shape:
        raise _Unreadable("arrays of different shapes")
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
        return Value(np.exp(arg.lo), np.exp(arg.hi))  # entry by entry
    if name in ("sqrt", "√"):
        if np.any(arg.lo < 0):
            raise _Unreadable("square root of a negative number")
        return Value(np.sqrt(arg.lo), np.sqrt(arg.hi))
    if name in ("ln", "log"):
        if np.any(arg.lo <= 0):
            raise _Unreadable("logarithm of a number that is not positive")
        return Value(np.log(arg.lo), np.log(arg.hi))
    if name == "softmax":
        if arg.is_matrix:  # row by row
            box = box_softmax(Box(arg.lo, arg.hi))
            return Value(box.lo, box.hi)
        if not arg.is_vector:
            raise _Unreadable("softmax of a number")
        box = box_softmax(Box(arg.lo[None, :], arg.hi[None, :]))
        return Value(box.lo[0], box.hi[0])
    raise _Unreadable(name)


# --- parsing ------------------------------------------------------------------------------


def _tokens(text: str) -> list[tuple[str, str]] | None:
    out = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            return None
        kind = m.lastgroup or ""
        token = m.group(kind)
        out.append((kind, "^" if token == "**" else token))
        pos = m.end()
    return out


class _Parser:
    """expr := term (± term)*; term := unary ((*|×|·|/) unary)*; unary := -unary | power;
    power := primary (^ unary)?; primary := number | (expr) | (expr, …) | [list] | fn(expr)
    | e^… | √…"""

    def __init__(self, tokens: list[tuple[str, str]]):
        self.tokens, self.pos = tokens, 0

    def _peek(self) -> tuple[str, str]:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ("", "")

    def _take(self, value: str) -> None:
        if self._peek()[1] != value:
            raise _Unreadable(f"expected {value}")
        self.pos += 1

    def expr(self) -> Node:
        node = self.term()
        while self._peek()[1] in ("+", "-", "−"):
            op = "+" if self.tokens[self.pos][1] == "+" else "-"
            self.pos += 1
            node = Bin(op, node, self.term())
        return node

    def term(self) -> Node:
        node = self.unary()
        while self._peek()[1] in ("*", "×", "·", "/", "÷", "@"):
            op = self.tokens[self.pos][1]
            self.pos += 1
            node = Bin({"÷": "/"}.get(op, op), node, self.unary())
        return node

    def unary(self) -> Node:
        if self._peek()[1] in ("-", "−"):
            self.pos += 1
            nxt = self._peek()
            after = self.tokens[self.pos + 1][1] if self.pos + 1 < len(self.tokens) else ""
            if nxt[0] == "num" and after != "^":  # -0.048 is one written number (-2^2 is not)
                self.pos += 1
                claim = parse_claim("-" + nxt[1])
                if claim is None:
                    raise _Unreadable(nxt[1])
                return Num(claim)
            return Neg(self.unary())
        if self._peek()[1] == "+":
            self.pos += 1
        return self.power()

    def power(self) -> Node:
        base = self.primary()
        while self._peek()[0] == "t":  # Kᵀ, K^T, K.T
            self.pos += 1
            base = Transpose(base)
        if self._peek()[1] == "^":
            self.pos += 1
            return Bin("^", base, self.unary())
        return base

    def primary(self) -> Node:
        kind, text = self._peek()
        self.pos += 1
        if kind == "num":
            claim = parse_claim(text)
            if claim is None:
                raise _Unreadable(text)
            return Num(claim)
        if kind == "e":
            self._take("^")
            return Call("exp", self.unary())
        if kind == "fn" or text == "√":
            arg = self.primary() if text == "√" else self._parenthesised()
            return Call("sqrt" if text == "√" else text.split(".")[-1], arg)
        if text == "(":
            return self._group(")")
        if text == "[":
            return self._group("]", vector=True)
        raise _Unreadable(text or "end")

    def _parenthesised(self) -> Node:
        self._take("(")
        return self._group(")")

    def _group(self, close: str, vector: bool = False) -> Node:
        """(expr), or (a, b, …) and [a, b, …]: vectors."""
        items = [self.expr()]
        while self._peek()[1] == ",":
            self.pos += 1
            items.append(self.expr())
        self._take(close)
        if not vector and len(items) == 1:
            return items[0]
        if any(isinstance(i, Vec) for i in items) and not all(isinstance(i, Vec) for i in items):
            raise _Unreadable("a list of numbers and lists")
        return Vec(tuple(items))


def is_exact(value: Value) -> bool:
    return bool(np.all(value.lo == value.hi))


def midpoint(value: Value) -> np.ndarray:
    return (value.lo + value.hi) / 2


__all__ = [
    "Node",
    "Num",
    "Value",
    "computes",
    "evaluate",
    "from_latex",
    "is_exact",
    "is_literal",
    "literal_claims",
    "math",
    "midpoint",
    "numbers",
    "parse",
    "terms",
    "value_of",
]
