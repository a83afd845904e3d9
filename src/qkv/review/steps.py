"""Steps the text states between two printed fragments: "scores: [1.2, 3.5, 0.8]  ↓ softmax
weights: [0.15, 0.72, 0.13]", a matrix of scaled scores and under it "softmax (each row):"
and the weights.

Takes the document and its fragments and gives equations (as written-out arithmetic gives):
each row of the second fragment is the softmax of the same row of the first. Such a step is
checked by itself, like arithmetic, because the words put the two side by side; it is only
made when the second fragment holds probabilities (rows in [0, 1] that add up to 1 at their
precision) and the first does not, and never when some temperature other than 1 would
explain the numbers (softmax(c·s) for a c the text may have applied without saying): then the
step as stated is not what the author computed, and nothing is said.
"""

from __future__ import annotations

import re

import numpy as np

from qkv.review import arith
from qkv.review.document import Document
from qkv.review.equations import Equation
from qkv.review.fragments import Fragment
from qkv.review.intervals import Box, softmax
from qkv.review.numbers import Claim, parse_claim
from qkv.review.roles import role_of

MAX_LINES = 12  # between the two fragments (a diagram or code puts lines between)
MISSUM = 0.05  # how far from 1 a row of weights may add up (0.061 + 0.450 + 0.061 + 0.450)
NEAR = 4  # lines above the second fragment that may say softmax
_SOFTMAX = re.compile(r"softmax|soft-max|↓|归一化|→\s*(?:weights?|权重)", re.I)
_TEMPERATURES = np.geomspace(0.05, 20.0, 241)
_SCALED = re.compile(r"√|\\sqrt|sqrt\(|\bscal(?:ed|ing|e by)\b|\bdivid|/\s*\d|缩放|除以", re.I)
# words that put another step between the two: a scaling, a mask
_MORE_STEPS = re.compile(
    r"√|\\sqrt|sqrt\(|\bd_?\{?k\}?\b|\bscal(?:ed|ing|e by)\b|\bdivid|/\s*\d|\bmask|-1e9|-inf|"
    r"−∞|-∞|缩放|除以|掩码|屏蔽|"
    r"(?:position(?:al)?|relative)\s+(?:position\s+)?bias|alibi|相对位置|位置偏置",
    re.I,
)


def find(
    doc: Document, fragments: list[Fragment], stated: tuple[float, ...] = ()
) -> list[Equation]:
    """A softmax step between every two fragments the words join that way. ``stated``: the
    factors the text divides the scores by (√d_k ≈ 1.41): a temperature of such a factor
    is no other reading, but the mistake of leaving the scaling out (or doing it twice)."""
    out: list[Equation] = []
    shown = sorted((f for f in fragments if f.kind != "equation"), key=lambda f: f.index)
    busy = {ln for f in fragments for ln in range(f.first, f.lines[-1] + 1)}
    previous: list[Fragment | None] = [None, *shown]
    for k, (before, b) in enumerate(zip(previous, shown, strict=False)):
        rows_b = _run(shown, k)
        if len(rows_b) != 1:  # rows of one matrix printed one vector a line
            if rows_b:
                out.extend(_run_step(doc, shown, k, rows_b, stated))
            continue
        if k and len(_run(shown, k - 1, back=True)) > 1:
            continue  # the row before is the last of several: no counterpart to pair with
        a = before
        if a is None or a.shape != b.shape or not a.line <= b.line <= a.lines[-1] + MAX_LINES:
            a = None  # (columns of one table stand on the same lines)
        written = _written_scores(doc, b, busy)  # "Pizza: 5.0  Salad: 2.0" above "→ softmax:"
        if written is not None and (a is None or written.line > a.lines[-1]):
            a = written  # the nearer of the two
        if a is None or a.batch or b.batch:
            continue  # batched arrays pair up matrix by matrix, which this does not follow
        if not _joined(doc, a, b) or not _probabilities(b) or _probabilities(a):
            continue
        if other_temperature(a, b, stated):
            continue
        out.extend(_rows(doc, a, b))
    return out


def _run(shown: list[Fragment], k: int, back: bool = False) -> list[Fragment]:
    """The vectors of one shape on lines one under another that start at shown[k] (or, with
    ``back``, end there, listed from the last); [] when shown[k] does not start (end) one."""
    f = shown[k]
    if not f.vector:
        return [f]
    step = -1 if back else 1
    outside = k - step
    if 0 <= outside < len(shown) and _adjacent(shown[outside], f, back):
        return []
    out, j = [f], k + step
    while 0 <= j < len(shown) and _adjacent(out[-1], shown[j], back):
        out.append(shown[j])
        j += step
    return out


def _adjacent(a: Fragment, b: Fragment, back: bool) -> bool:
    """Is b the next row after a (before it, ``back``)?"""
    return _next_row(b, a) if back else _next_row(a, b)


def _next_row(a: Fragment, b: Fragment) -> bool:
    """Is b the row after a of one matrix: the same shape, the next line, a name like a's
    ("Token 1:" after "Token 0:", or no name)?"""
    same = _pattern(a.label) == _pattern(b.label)
    return a.vector and b.vector and a.shape == b.shape and b.line - a.lines[-1] == 1 and same


def _pattern(label: str) -> str:
    return re.sub(r"[\d₀-₉]+", "#", label.strip())


def _run_step(
    doc: Document, shown: list[Fragment], k: int, rows_b: list[Fragment], stated: tuple[float, ...]
) -> list[Equation]:
    """Several rows printed one a line, each the softmax of the row of a run of as many
    printed just above them."""
    if k == 0:
        return []
    rows_a = list(reversed(_run(shown, k - 1, back=True)))
    if len(rows_a) != len(rows_b):  # "Row: [1, 2, 2]" after each query's working-out
        rows_a = _series(shown, k, len(rows_b))
    if len(rows_a) != len(rows_b) or not rows_a or rows_a[-1].shape != rows_b[0].shape:
        return []
    a, b = _stacked(rows_a), _stacked(rows_b)
    if b.line - a.lines[-1] > MAX_LINES or not _joined(doc, rows_a[-1], rows_b[0]):
        return []
    if not _probabilities(b) or _probabilities(a) or other_temperature(a, b, stated):
        return []
    out = []
    for ra, rb in zip(rows_a, rows_b, strict=True):
        out.extend(_rows(doc, ra, rb))
    return out


def _series(shown: list[Fragment], k: int, count: int) -> list[Fragment]:
    """The last ``count`` vectors before shown[k] of its shape and of one name ("Row:"),
    however far apart, with no vector of that shape but another name among them."""
    shape = shown[k].shape
    before = [f for f in shown[:k] if f.vector and f.shape == shape]
    if len(before) < count:
        return []
    rows = before[-count:]
    return rows if len({_pattern(f.label) for f in rows}) == 1 else []


def _stacked(rows: list[Fragment]) -> Fragment:
    f = Fragment("array", [r.cells[0] for r in rows], [r.line for r in rows])
    f.label, f.context = rows[0].label, rows[0].context
    return f


_LAST_RESULT = re.compile(r"[=:：]\s*([-+−]?\d+(?:\.\d+)?)(?![\d.]|\s*[×*/·+\-−^])[^=\d]*$")
_NUMBER = re.compile(r"(?<![\w.^_])[-+−]?\d+(?:\.\d+)?(?![\w.])")


def _written_scores(doc: Document, b: Fragment, busy: set[int]) -> Fragment | None:
    """Scores written in words right above a one-row fragment: all on one line ("Pizza:
    150.0  Salad: 2.0  Pasta: 3.0"), or one per line ("s₂₁ = bank · river = 0.4")."""
    if b.shape[0] != 1 or b.shape[1] < 2:
        return None
    width = b.shape[1]
    lines = [i for i in range(b.line - 1, max(-1, b.line - MAX_LINES), -1) if i not in busy]
    for i in lines[:3]:
        found = [m.group(0) for m in _NUMBER.finditer(doc.lines[i].text)]
        if found and len(found) == width:
            return _prose_fragment(found, i)
        if found:
            break
    results: list[tuple[int, str]] = []
    for i in lines:
        m = _LAST_RESULT.search(doc.lines[i].text)
        if m is None:
            if results:
                break
            continue
        results.append((i, m.group(1)))
        if len(results) == width:
            ordered = sorted(results)
            if ordered[-1][0] - ordered[0][0] == width - 1:  # on lines one under another
                return _prose_fragment([t for _, t in ordered], ordered[0][0])
            return None
    return None


def _prose_fragment(texts: list[str], line: int) -> Fragment | None:
    claims = [c for t in texts if (c := parse_claim(t)) is not None]
    if len(claims) != len(texts):
        return None
    f = Fragment("prose", [claims], [line])
    f.vector = True
    return f


def _joined(doc: Document, a: Fragment, b: Fragment) -> bool:
    """Do the words between the two (or right on the second) say softmax?"""
    gap = [doc.lines[i].text for i in range(a.lines[-1] + 1, b.line)]
    own = [b.label, *(b.context[:1] if b.line > a.lines[-1] else [])]
    said = role_of(a.label) if a.label.strip() else role_of(" ".join(a.context[:1]))
    words = " ".join([*gap, *own])
    masked = any(c.masked for row in a.cells for c in row)  # the mask is in the scores
    if _mask(a) or (_MORE_STEPS.search(words) and not (masked and not _SCALED.search(words))):
        return False  # scaled or masked on the way: not the softmax alone
    near = " ".join([*gap[-NEAR:], *own])  # what says softmax stands right above the result
    if _columns(b) and said in ("scores", "scaled") and role_of(b.label) == "weights":
        return True  # "| score | scaled | weight |": a table with one column per step
    return bool(_SOFTMAX.search(near)) and said in (None, "scores", "scaled", "masked")


def _mask(f: Fragment) -> bool:
    """Zeros and ones only: a mask, not scores."""
    return all(c.value in (0.0, 1.0) for row in f.cells for c in row)


def _probabilities(f: Fragment) -> bool:
    """Every row in [0, 1] and adding up to 1 at the precision it was written with, or
    within MISSUM: a miscomputed softmax row is still the weights the words name."""
    if all(c.decimals == 0 and c.exponent is None for row in f.cells for c in row):
        return False  # whole numbers: no weights ([0, 1, 1] is a vector of data)
    for row in _t(f.cells) if _columns(f) else f.cells:
        if any(c.masked or not 0 <= c.value <= 1 for c in row):
            return False
        slack = sum(0.0 if arith.typed(c) else c.half_unit for c in row) + 1e-9
        slack = max(slack, 0.5 * 10.0 ** -max(c.decimals for c in row))
        if abs(sum(c.value for c in row) - 1) > max(slack * len(row), MISSUM):
            return False
    return True


def _box(f: Fragment) -> Box:
    """The fragment's numbers as intervals (typed data, one decimal at most, is exact); a
    column of a table of steps as a row."""
    cells = _t(f.cells) if _columns(f) else f.cells
    half = [[0.0 if arith.typed(c) else c.half_unit for c in row] for row in cells]
    value = np.array([[c.value for c in row] for row in cells])
    return Box(value - np.array(half), value + np.array(half))


def _fits(f: Fragment, box: Box) -> bool:
    cells = _t(f.cells) if _columns(f) else f.cells
    return all(
        c.fits(box.lo[r, k], box.hi[r, k]) for r, row in enumerate(cells) for k, c in enumerate(row)
    )


def other_temperature(a: Fragment, b: Fragment, stated: tuple[float, ...]) -> bool:
    """Would softmax(c·a) for some c other than 1 give b, where c = 1 does not, and c is no
    factor the text states (which would make it a known mistake, not another reading)?"""
    scores = _box(a)
    if _fits(b, softmax(scores)):
        return False
    known = [x for f in stated for x in (f, 1 / f)]
    fitting = [
        c
        for c in (*_estimates(a, b), *_TEMPERATURES)
        if abs(c - 1) > 0.02 and _fits(b, softmax(scores.scale(float(c))))
    ]
    return bool(fitting) and not any(abs(c / x - 1) <= 0.03 for c in fitting for x in known)


def _estimates(a: Fragment, b: Fragment) -> list[float]:
    """The temperature each row says, from its largest and smallest weight:
    log(w_i / w_j) = c·(s_i - s_j)."""
    out = []
    for scores, weights in zip(a.cells, b.cells, strict=True):
        w = [c.value for c in weights]
        i, j = int(np.argmax(w)), int(np.argmin(w))
        gap = scores[i].value - scores[j].value
        if w[j] > 0 and gap != 0:
            out.append(float(np.log(w[i] / w[j]) / gap))
    return [c for c in out if 0 < c < 100]


def _rows(doc: Document, a: Fragment, b: Fragment) -> list[Equation]:
    """One equation per row (per column for the columns of a table of steps)."""
    out = []
    columns = _columns(b)
    lines_a, lines_b = (_t(a.cells), _t(b.cells)) if columns else (a.cells, b.cells)
    for r, (scores, weights) in enumerate(zip(lines_a, lines_b, strict=True)):
        node = arith.Call("softmax", arith.Vec(tuple(arith.Num(c) for c in scores)))
        results = tuple(arith.Num(c) for c in weights)
        left = "softmax([" + ", ".join(c.text for c in scores) + "])"
        eq = Equation(b, left, (0, 0), node, results, b.line, row_of=(b, r), column=columns)
        out.append(eq)
    return out


def _columns(f: Fragment) -> bool:
    """A column of a table with one column per step: one query, a row per key."""
    return f.shape[1] == 1 and f.shape[0] >= 2 and not f.vector


def _t(cells: list[list[Claim]]) -> list[list[Claim]]:
    return [list(col) for col in zip(*cells, strict=True)]


# a line that names the sum of the results above it: "Sum = 5.430", "总和：5.43", "Z = 5.43"
_SUM = re.compile(
    r"^\s*(?:[-*•]\s*)?(?:sum|total|denominator|normali[sz]er|Σ|∑|Z|总和|求和|和|分母)"
    r"(?:\s+of\s+(?:the\s+)?(?:exp\w*|e\^\w*))?[\s`$*]*[=:：]\s*$",
    re.I,
)


def sums(written: list[Equation], fragments: list[Fragment]) -> list[Equation]:
    """ "Sum = 5.430" under lines that each compute one number ("exp(0.177) = 1.194", …): the
    sum of those numbers, an equation like any written out (each result flows into it)."""
    out: list[Equation] = []
    by_line: dict[int, list[Equation]] = {}
    for eq in written:
        by_line.setdefault(eq.fragment.line, []).append(eq)
    for f in fragments:
        if f.kind == "equation" or f.shape != (1, 1) or not _SUM.match(f.label):
            continue
        run: list[Equation] = []
        line = f.line - 1
        while line in by_line and all(len(eq.results) == 1 for eq in by_line[line]):
            run = by_line[line] + run
            line -= 1
        if len(run) < 2:
            continue
        terms = [eq.results[0] for eq in run]
        node: arith.Node = terms[0]
        for term in terms[1:]:
            node = arith.Bin("+", node, term)
        left = " + ".join(t.claim.text for t in terms)
        span = run[-1].span  # judged after the numbers it adds up (then by line)
        out.append(Equation(f, left, span, node, (arith.Num(f.cells[0][0]),), run[0].start))
    return out
