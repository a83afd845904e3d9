"""Temperature tables: scores stated once, then a row per temperature T with the weights
softmax(scores / T) written out ("| 0.5 | [0.876, 0.118, 0.006] |"). Each row is a local
equation of its own, judged as any written calculation is (review/equations.py)."""

from __future__ import annotations

import re
from dataclasses import replace

from qkv.review import arith
from qkv.review.document import Document
from qkv.review.equations import Equation
from qkv.review.fragments import Fragment

_TEMPERATURE = re.compile(r"temperature|温度|\\tau\b|τ", re.I)
# "scores s = [2, 1, 0]", "logits = [2.0, 1.0, 0.1]", "分数 [2, 1, 0]"
_STATED = re.compile(
    r"(?:\b(?:scores?|logits?|s|z)\b|分数|得分|打分)[^\[\]\n]{0,12}?=?\s*\$?\s*\[([-\d.,\s]+)\]",
    re.I,
)
# a row: the temperature first, then the weights in brackets (Markdown, Typst, plain)
_ROW = re.compile(r"^[\s|\[*$]*(\d+(?:\.\d+)?)\s*[*$\]]*\s*[|,:]\s*[\[*$\s]*\[([-\d.,\s]+)\]")
WITHIN = 25  # lines after the stated scores where its rows may stand


def find(doc: Document) -> list[Equation]:
    out: list[Equation] = []
    texts = doc.texts
    starts = doc.starts()
    for i, text in enumerate(texts):
        m = _STATED.search(text)
        if m is None or not any(_TEMPERATURE.search(t) for t in texts[max(0, i - 3) : i + 4]):
            continue
        scores = [c.strip() for c in m.group(1).split(",") if c.strip()]
        for k in range(i + 1, min(len(texts), i + WITHIN)):
            row = _ROW.match(texts[k])
            if row is None:
                continue
            weights = [c.strip() for c in row.group(2).split(",") if c.strip()]
            if len(weights) != len(scores) or float(row.group(1)) <= 0:
                continue
            eq = _equation(doc, k, starts[k], scores, row.group(1), weights)
            if eq is not None:
                out.append(eq)
    return out


def _equation(
    doc: Document, line: int, start: int, scores: list[str], t: str, weights: list[str]
) -> Equation | None:
    left_text = f"softmax([{', '.join(scores)}] / {t})"
    parsed = arith.parse(left_text)
    left = None if parsed is None else _exact(parsed)
    right = arith.parse(f"[{', '.join(weights)}]")
    if left is None or right is None:
        return None
    results = tuple(arith.numbers(right))
    frag = Fragment(
        "equation",
        [[n.claim for n in results]],
        [line],
        label="",
        region=doc.lines[line].region,
    )
    frag.left = left_text
    frag.vector = True
    span = (start, start + len(doc.lines[line].text))
    return Equation(frag, left_text, span, left, results, line)


def _exact(node: arith.Node) -> arith.Node:
    """The stated scores and the temperature are settings, exact as written (not rounded
    results): only the weights carry their rounding."""
    if isinstance(node, arith.Num):
        return arith.Num(replace(node.claim, half_unit=0.0))
    if isinstance(node, arith.Vec):
        return arith.Vec(tuple(_exact(i) for i in node.items))
    if isinstance(node, arith.Bin):
        return arith.Bin(node.op, _exact(node.left), _exact(node.right))
    if isinstance(node, arith.Call):
        return arith.Call(node.name, _exact(node.arg))
    return node
