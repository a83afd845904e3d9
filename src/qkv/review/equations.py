"""Arithmetic written out in the text: "1·1 + 2·2 = 5", "0.0 * [1, 2, 3] = [0.0, 0.0, 0.0]",
"\frac{e^{14}}{e^{14} + e^{12}} = 0.88". Each "=" whose left side is arithmetic (numbers,
operators, e^, exp, √, softmax) and whose right side is a number or a vector is checked: the
right side must follow from the left.

A left side may use a number the checker found wrong earlier (the 0.0 of a softmax rounded
to [0.0, 0.5, 0.5]): then the result is computed again with the true value in its place, and
a result that follows from the written number but not from the true one is a consequence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qkv.review import arith, budget
from qkv.review.document import Document
from qkv.review.examples import Example, Placement
from qkv.review.fragments import Fragment
from qkv.review.judge import CONSEQUENCE, ROOT, WRONG, Judgement, Verdict
from qkv.review.model import Convention
from qkv.review.numbers import Claim

MAX_LINE = 4000  # longer lines are data, not arithmetic written out
MAX_LEFT = 300  # characters of a left side: a hand calculation is shorter
_SIGN = re.compile(r"(?<![<>!=:])(?:=|≈|≒|\\approx)(?!=|>)")
# what may stand in written-out arithmetic, read from the end of the left side
_ARITH_TAIL = re.compile(
    r"(?:[\d.\s+\-−*×·/÷^(){}\[\],√]|\\(?:[dt]?frac|sqrt|cdot|times|div|left|right|exp|mathrm|"
    r"text|,|;|!|quad)|(?<![A-Za-z])(?:e|exp|sqrt|softmax|ln|log|np\.exp|math\.exp|np\.sqrt)"
    r"(?![A-Za-z]))+$"
)
_BULLET = re.compile(r"^\s*[-*+•·]\s+")
_LITERAL_HEAD = re.compile(r"^\s*(\[[^\[\]=]*\]|[-+−]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+−]?\d+)?)")
_NUMBER_TOKEN = re.compile(r"(?<![\w.])[-−]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+−]?\d+)?")


@dataclass
class Equation:
    fragment: Fragment  # the right side's numbers, on one row
    left: str  # the left side, as written
    span: tuple[int, int]  # offsets of the whole equation in the document's joined text


def find(doc: Document) -> list[Equation]:
    out: list[Equation] = []
    starts = doc.starts()
    for i, line in enumerate(doc.lines):
        budget.tick()
        text = line.text
        if len(text) > MAX_LINE or not _SIGN.search(text) or not re.search(r"\d", text):
            continue
        text = _BULLET.sub(lambda m: " " * len(m.group(0)), text)  # "- 96 / 8 = 12": a list
        signs = list(_SIGN.finditer(text))
        done = 0  # where the last equation on the line ended: "q1·k1 = … = 3, q1·k2 = … = 1"
        for k, sign in enumerate(signs):
            if sign.start() < done:
                continue
            before = text[max(done, signs[k - 1].end() if k else 0) : sign.start()]
            after_end = signs[k + 1].start() if k + 1 < len(signs) else len(text)
            eq = _equation(before, text[sign.end() : after_end], line.region)
            if eq is None:
                continue
            left, claims, right_len = eq
            start = starts[i] + sign.start() - len(left)
            end = starts[i] + sign.end() + right_len
            # the words before the arithmetic name it: "q1 · k2 = 1·4 + 0·4 = 4"
            name = text[done : sign.start() - len(left)]
            frag = Fragment("equation", [claims], [i], label=name.strip(), region=line.region)
            frag.left = left.strip()
            frag.vector = True
            out.append(Equation(frag, left.strip(), (start, end)))
            # the last "=" of a chain is the result (earlier ones were steps to it); what
            # follows it on the line may be another equation
            done = sign.end() + right_len
    return out


def _equation(before: str, after: str, region: str) -> tuple[str, list[Claim], int] | None:
    tail = _ARITH_TAIL.search(before)
    head = _LITERAL_HEAD.match(after)
    if tail is None or head is None:
        return None
    if re.match(r"\s*(?:[+\-−*×·/÷^(]|\\(?:cdot|times|frac))", after[head.end() :]):
        return None  # "= 1 / (1 + e^-2) = …": a step of the working, not its result
    claims = arith.literal_claims(head.group(1))
    if claims is None:
        return None
    left = tail.group(0)[-MAX_LEFT:]
    # the longest readable end of the left side that does some arithmetic
    for start in range(len(left)):
        candidate = left[start:]
        if not candidate.strip() or (
            start and (left[start - 1].isalnum() or left[start - 1] == ".")
        ):
            continue
        value = arith.evaluate(candidate)
        if value is None:
            continue
        if not _computes(candidate):
            return None  # "x = 2": a definition, not arithmetic
        width = value.lo.shape[0] if value.is_vector else 1
        if width != len(claims) or (value.is_vector != head.group(1).strip().startswith("[")):
            return None
        return candidate, claims, head.end()
    return None


def _computes(text: str) -> bool:
    """Does the text do arithmetic (not just write a number or a vector)?"""
    inner = re.sub(r"\[[^\[\]]*\]", "V", text)
    return bool(
        re.search(
            r"[+\-−*×·/÷^√]|exp|sqrt|softmax|\\frac|\\sqrt|\bln\b|\blog\b",
            inner[1:] if inner[:1] in "-−" else inner,
        )
    )


def judge(equations: list[Equation], earlier: list[Verdict]) -> Judgement:
    """Every equation's right side against its left side (in document order)."""
    example = Example(-1)
    verdicts: list[Verdict] = []
    wrong = [v for v in earlier if v.status in WRONG]
    for eq in sorted(equations, key=lambda e: e.span[0]):
        placement = Placement(eq.fragment, "equation", [0])
        example.placements.append(placement)
        value = arith.evaluate(eq.left)
        if value is None:
            continue
        true, causes = _with_true_values(eq, value, wrong)
        for c, claim in enumerate(eq.fragment.cells[0]):
            lo, hi = _at(value, c)
            v = Verdict(
                placement, 0, c, ("equation", (eq.fragment.index, c)), "right", float((lo + hi) / 2)
            )
            if not claim.fits(lo, hi):
                v.status = ROOT
            elif causes:
                tlo, thi = _at(true, c)
                if not claim.fits(tlo, thi):
                    v.status, v.causes, v.true = CONSEQUENCE, causes, float((tlo + thi) / 2)
            verdicts.append(v)
            if v.status in WRONG:
                wrong.append(v)
    return Judgement(example, Convention(), verdicts, {})


def _at(value: arith.Value, c: int) -> tuple[float, float]:
    if value.is_vector:
        return float(value.lo[c]), float(value.hi[c])
    return float(value.lo), float(value.hi)


def _with_true_values(
    eq: Equation, value: arith.Value, wrong: list[Verdict]
) -> tuple[arith.Value, list[Verdict]]:
    """The left side with each number found wrong before (as written here) put right."""
    before = [v for v in wrong if v.line <= eq.fragment.line]
    if not before:
        return value, []
    causes: list[Verdict] = []

    # a whole number is common ("1/√4"): it stands for a wrong score only in a softmax
    exponents = bool(re.search(r"e\^|exp|softmax", eq.left))

    def swap(m: re.Match[str]) -> str:
        text = m.group(0).replace("−", "-")
        if not exponents and re.fullmatch(r"-?\d+", text):
            return m.group(0)
        for v in reversed(before):
            if v.claim.text.replace("−", "-") == text and v not in causes:
                causes.append(v)
                return repr(v.true)
        return m.group(0)

    fixed = _NUMBER_TOKEN.sub(swap, eq.left)
    if not causes:
        return value, []
    true = arith.evaluate(fixed)
    return (value, []) if true is None else (true, causes)
