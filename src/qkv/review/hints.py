"""What a caption says a matrix is: "softmax(XXᵀ) 就是:" -> weights, unscaled.

Hints help; the numbers decide (see match.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_DISPLAY_MATH = re.compile(r"\\\[.*?\\\]|\$\$.*?\$\$", re.DOTALL)
_SQRT = re.compile(r"√|\\sqrt|sqrt|scaled|缩放", re.IGNORECASE)
_UNSCALED = re.compile(r"unscaled|without scaling|no scaling|不缩放|未缩放|不除以", re.IGNORECASE)
_FORMULA = re.compile(r"X\s*X\s*\^|Q\s*K\s*\^|XXᵀ|QKᵀ|X\s*X\^\{?\\top")
_CAUSAL = re.compile(r"causal|因果|mask|掩码|遮挡|下三角|lower[- ]triangular", re.IGNORECASE)
_NO_MASK = re.compile(r"no mask|without (a )?mask|unmasked|不加掩码|没有掩码", re.IGNORECASE)

# Most specific first: "softmax(XXᵀ)X" is the output, "softmax(XXᵀ)" the weights,
# "XXᵀ" the scores, "Xᵀ" the transpose, "X" the input.
_QUANTITIES: list[tuple[str, re.Pattern[str]]] = [
    (
        "output",
        re.compile(
            r"softmax.*\)\s*\$?\s*(?:[XV]|\\mathbf\{[XV]\})(?![A-Za-z_^])|\boutputs?\b|输出|"
            r"最终|new (?:vectors|representations)|context vectors?",
            re.IGNORECASE,
        ),
    ),
    ("weights", re.compile(r"softmax|weights?\b|权重|概率|probabilit", re.IGNORECASE)),
    ("masked", re.compile(r"mask(?:ed)?\s+scores|掩码后|加掩码|masked", re.IGNORECASE)),
    (
        "scores",
        re.compile(
            r"X\s*X\s*\^|XXᵀ|Q\s*K\s*\^|QKᵀ|X\s*X\^\{?\\top|scores?\b|logits|相似度|点积|"
            r"dot products?",
            re.IGNORECASE,
        ),
    ),
    (
        "xt",
        re.compile(
            r"(?<![A-Za-z])(?<![A-Za-z]\s)X\s*\^\s*\{?\s*(?:T|\\top)\b|Xᵀ|转置|"
            r"transpose",
            re.IGNORECASE,
        ),
    ),
    ("wq", re.compile(r"W\s*[_^]\s*\{?\s*Q\b|\bW_?q\b", re.IGNORECASE)),
    ("wk", re.compile(r"W\s*[_^]\s*\{?\s*K\b|\bW_?k\b", re.IGNORECASE)),
    ("wv", re.compile(r"W\s*[_^]\s*\{?\s*V\b|\bW_?v\b", re.IGNORECASE)),
    ("q", re.compile(r"(?<![A-Za-z\\])Q(?![A-Za-z_^ᵀ])|quer(?:y|ies)|查询", re.IGNORECASE)),
    ("k", re.compile(r"(?<![A-Za-z\\])K(?![A-Za-z_^ᵀ])|\bkeys?\b|键")),
    ("v", re.compile(r"(?<![A-Za-z\\])V(?![A-Za-z_^ᵀ])|\bvalues?\b|值")),
    (
        "x",
        re.compile(
            r"(?<![A-Za-z\\])X(?![A-Za-z_^ᵀ])|\binputs?\b|输入|向量表示|embeddings?", re.IGNORECASE
        ),
    ),
]


# "Q = ...", "W_Q =", "$S =" at the start: the caption names the matrix outright.
_NAMED = re.compile(r"^\s*\$?\s*(W\s*[_^]?\s*\{?\s*[QKVqkv]\s*\}?|[QKVXSAO])\s*\$?\s*=")
_NAMES = {"X": "x", "Q": "q", "K": "k", "V": "v", "S": "scores", "A": "weights", "O": "output"}


@dataclass(frozen=True)
class Hints:
    quantity: str | None = None
    scale: str | None = None  # "sqrt" | "none" | None (not said)
    causal: bool | None = None


def _segment(line: str) -> str:
    """The words nearest the matrix: the text after the last display formula, if any."""
    parts = _DISPLAY_MATH.split(line)
    tail = parts[-1].strip()
    return tail if tail else line


def read_hints(caption: list[str]) -> Hints:
    """Hints from the caption lines, nearest first; the first line that names a quantity wins."""
    for line in caption[:2]:
        seg = _segment(line)
        named = _NAMED.match(seg)
        if named:
            name = re.sub(r"[\s_^{}]", "", named.group(1))
            qty = _NAMES.get(name) or f"w{name[-1].lower()}"
            return Hints(qty, _scale_hint(seg, qty), _causal_hint(seg))
        for qty, pattern in _QUANTITIES:
            if pattern.search(seg):
                return Hints(qty, _scale_hint(seg, qty), _causal_hint(seg))
    return Hints()


_MATH = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$|\\\((.+?)\\\)|\\\[(.+?)\\\]", re.DOTALL)
_FORMULA_WORDS = re.compile(r"softmax|√|sqrt|" + _FORMULA.pattern)


def _scale_hint(seg: str, qty: str) -> str | None:
    """What the formula nearest the matrix says; words only when there is no formula.

    "先不管分母 $\\sqrt{d_k}$。$softmax(XX^T)$ 就是:" is unscaled: its last formula has no √.
    """
    if qty not in ("scores", "masked", "weights", "output"):
        return None
    formulas = [next(g for g in m.groups() if g is not None) for m in _MATH.finditer(seg)]
    formulas = [f for f in formulas if _FORMULA_WORDS.search(f)]
    if formulas:
        last = formulas[-1]
        if _SQRT.search(last):
            return "sqrt"
        return "none" if _FORMULA.search(last) and qty != "scores" else None
    if _UNSCALED.search(seg):
        return "none"
    if _SQRT.search(seg):
        return "sqrt"
    if _FORMULA.search(seg) and qty != "scores":
        return "none"  # a formula written without √d_k
    return None


def _causal_hint(seg: str) -> bool | None:
    if _NO_MASK.search(seg):
        return False
    return True if _CAUSAL.search(seg) else None
