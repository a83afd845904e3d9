"""Copies of wrong rows, wherever they stand: the numbers that are wrong only because an
article printed a wrong row again.

Takes the document, its fragments, its written-out arithmetic and every verdict so far
(worked examples and arithmetic) and gives one more judgement: the numbers that repeat a row
holding a mistake, each judged against the true value of the number it repeats.

    softmax([0.71, 0.71, 0.00]) = [0.37, 0.37, 0.26]        a mistake (0.40, 0.40, 0.20)
    │  0.37  │  0.37  │  0.26  │                             the same row in a table
    = 0.37 × [1,0] + 0.37 × [0,1] + 0.26 × [1,1]             … as the factors of a sum
    "love" pays 37% … (0.37, 0.37, 0.26)                     … in a sentence

A row is repeated when its numbers stand again in the same order (a table row, a vector, the
factors of a calculation) or, in prose, all of them on a line or a few lines. Rows of one
number are not traced: a single number repeats by chance.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from qkv.review import arith, budget
from qkv.review.document import Document
from qkv.review.equations import Equation
from qkv.review.examples import Example, Placement
from qkv.review.fragments import Fragment
from qkv.review.judge import Judgement, Verdict
from qkv.review.kinds import WRONG, Status
from qkv.review.model import Convention
from qkv.review.numbers import Claim, parse_claim

MAX_GAP = 3  # lines a run of numbers in prose may span
MAX_PROSE = 2000  # characters of a line of prose that may repeat a row
_NUMBER = re.compile(r"(?<![\w.^_])[-−]?\d+\.\d+(?![\w.])")


@dataclass(frozen=True)
class Source:
    """A number of a row that holds a mistake: its true value and the mistakes behind it."""

    claim: Claim
    true: float
    causes: tuple[Verdict, ...]


@dataclass(frozen=True)
class Row:
    line: int
    numbers: tuple[Source, ...]
    index: int = 0  # its row in the matrix it was printed in …
    height: int = 1  # … and that matrix's rows


Cell = tuple[Fragment, int, int]  # a printed number: its fragment, row and column


def judge(
    doc: Document,
    fragments: list[Fragment],
    written: list[Equation],
    verdicts: list[Verdict],
) -> Judgement:
    """Every unjudged row that repeats a row holding a mistake, number by number."""
    wrong = _wrong_rows(verdicts)
    rows = Rows(wrong)
    example = Example(-2)
    if not wrong:
        return Judgement(example, Convention(), [], {})
    judged = {v.placement.fragment.index for v in verdicts}
    placements: dict[int, Placement] = {}
    out: list[Verdict] = []
    unjudged = [f for f in fragments if f.index not in judged and f.kind != "equation"]
    sequences = [_cells(f, r) for f in unjudged for r in range(f.shape[0])]
    made = [_cells(f, 0) for f in _factors(written)]
    prose = _prose(doc, fragments, written)
    own = {id(cell[0]): cell[0] for seq in made + prose for cell in seq}
    for k, f in enumerate(own.values()):
        f.index = -1 - k  # fragments of this stage's own, apart from the document's
    sequences += made + prose
    for seq in sorted(sequences, key=lambda seq: seq[0][0].lines[seq[0][1]]):
        budget.tick()
        found = _repeats(seq, rows, any_order=seq in prose)
        new = []
        for (f, r, c), source in found:
            p = placements.get(id(f))
            if p is None:
                p = placements[id(f)] = Placement(f, "copy", list(range(f.shape[0])))
                example.placements.append(p)
            new.append(_verdict(p, r, c, source))
        out += new  # a copy of a copy repeats the first row as well: rows stay the mistakes
    return Judgement(example, Convention(), out, {})


def _cells(f: Fragment, r: int) -> list[Cell]:
    return [(f, r, c) for c in range(len(f.cells[r]))]


def _verdict(p: Placement, r: int, c: int, source: Source) -> Verdict:
    claim = p.fragment.cells[r][c]
    v = Verdict(p, r, c, ("copy", (p.fragment.index, r, c)), Status.RIGHT, source.true)
    if not claim.consistent(source.true):
        v.status, v.causes = Status.CONSEQUENCE, list(source.causes)
    return v


def _wrong_rows(verdicts: list[Verdict]) -> list[Row]:
    """The printed rows with a wrong number, each number with its true value; single
    results on lines one under another ("w₂₁ = … = 0.2", "w₂₂ = … = 0.7") are a row too."""
    out = _as_rows(verdicts)
    last: dict[int, Verdict] = {}  # of the single results on a line, the last one written
    for v in verdicts:
        index = v.placement.fragment.index
        single = v.placement.fragment.shape == (1, 1)
        if single and (v.line not in last or index > last[v.line].placement.fragment.index):
            last[v.line] = v
    runs: list[list[Verdict]] = []
    for line in sorted(last):
        if runs and line - runs[-1][-1].line == 1:
            runs[-1].append(last[line])
        else:
            runs.append([last[line]])
    for run in runs:
        causes = tuple(r for u in run for r in (u.roots() if u.status in WRONG else []))
        if len(run) >= 2 and causes:
            out.append(Row(run[0].line, tuple(Source(u.claim, u.true, causes) for u in run)))
    return out


def _as_rows(verdicts: list[Verdict]) -> list[Row]:
    """Each printed row with a wrong number, once per number (a number judged twice, by
    its example and by its arithmetic, is one number: the verdict that finds it wrong)."""
    cells: dict[tuple[int, int, int], Verdict] = {}
    for v in verdicts:
        key = (v.placement.fragment.index, v.r, v.c)
        if key not in cells or (v.status in WRONG and cells[key].status not in WRONG):
            cells[key] = v
    by_row: dict[tuple[int, int], list[Verdict]] = {}
    for (index, r, _), v in cells.items():
        by_row.setdefault((index, r), []).append(v)
    out = []
    for row in by_row.values():
        causes = tuple(r for v in row for r in (v.roots() if v.status in WRONG else []))
        if causes and len(row) >= 2:
            ordered = sorted(row, key=lambda v: v.c)
            f = ordered[0].placement.fragment
            numbers = tuple(Source(v.claim, v.true, causes) for v in ordered)
            out.append(Row(ordered[0].line, numbers, ordered[0].r, f.shape[0]))
    return out


def _same(a: Claim, b: Claim) -> bool:
    """The same number, up to the precision of the less precise of the two (0.5 is 0.5000)."""
    return abs(a.value - b.value) <= 1e-9 + 1e-12 * abs(a.value) or (
        abs(a.value - b.value) <= max(a.half_unit, b.half_unit) * 1e-6
    )


def _telling(row: Row) -> bool:
    """Long enough, or precise enough, not to repeat by chance (a row of zeros is not)."""
    values = {s.claim.value for s in row.numbers}
    if len(values) < 2:
        return False
    return len(row.numbers) >= 3 or any(s.claim.significant >= 2 for s in row.numbers)


def _claim(cell: Cell) -> Claim:
    f, r, c = cell
    return f.cells[r][c]


class Rows:
    """The wrong rows, found by their first number (in order) and by all their numbers (in
    any order), nearest first: a sequence is compared with the few rows that can match."""

    def __init__(self, rows: list[Row]):
        self.first: dict[float, list[Row]] = {}
        self.numbers: dict[tuple[float, ...], list[Row]] = {}
        for row in sorted(rows, key=lambda row: -row.line):
            if not _telling(row):
                continue
            self.first.setdefault(_key(row.numbers[0].claim), []).append(row)
            self.numbers.setdefault(_bag(s.claim for s in row.numbers), []).append(row)


def _key(c: Claim) -> float:
    return round(c.value, 9)


def _bag(claims: Iterable[Claim]) -> tuple[float, ...]:
    return tuple(sorted(_key(c) for c in claims))


def _repeats(seq: list[Cell], rows: Rows, any_order: bool = False) -> list[tuple[Cell, Source]]:
    """Every number of the sequence that repeats a wrong row printed before it, in order
    (the nearest such row first); in prose, a line that holds exactly a row's numbers in
    any order repeats it too."""
    f, r = seq[0][0], seq[0][1]
    line = f.lines[r]
    out: list[tuple[Cell, Source]] = []
    taken: set[int] = set()
    for start in range(len(seq)):
        for row in rows.first.get(_key(_claim(seq[start])), []):
            n = len(row.numbers)
            if row.line >= line or start + n > len(seq) or taken & set(range(start, start + n)):
                continue
            if f.shape[0] > 1 and row.height > 1 and row.index != r:
                continue  # a row of a matrix repeats as the same row of another matrix
            if all(_same(_claim(seq[start + k]), row.numbers[k].claim) for k in range(n)):
                out += [(seq[start + k], row.numbers[k]) for k in range(n)]
                taken.update(range(start, start + n))
                break
    if any_order and not out:  # in prose, a line may name a row's numbers in another order
        for row in rows.numbers.get(_bag(_claim(cell) for cell in seq), []):
            if row.line < line and (matched := _unordered(seq, row)):
                return matched
    return out


def _unordered(seq: list[Cell], row: Row) -> list[tuple[Cell, Source]]:
    """The row's numbers, each once, in another order ("0.66 … 0.22 … 0.12")."""
    left = list(row.numbers)
    out = []
    for cell in seq:
        k = next((k for k, s in enumerate(left) if _same(_claim(cell), s.claim)), None)
        if k is None:
            return []
        out.append((cell, left.pop(k)))
    return out


def _factors(written: list[Equation]) -> list[Fragment]:
    """The single numbers a calculation multiplies by, in order, as a row of their own:
    "0.37 × [1,0] + 0.37 × [0,1] + 0.26 × [1,1]" holds the row 0.37, 0.37, 0.26."""
    out = []
    seen: set[int] = set()
    for eq in written:
        if eq.node is None or id(eq.node) in seen:
            continue
        seen.add(id(eq.node))
        in_vectors = {id(n) for v in _vectors(eq.node) for n in arith.numbers(v)}
        factors = [n.claim for n in arith.numbers(eq.node) if id(n) not in in_vectors]
        if len(factors) >= 2:
            f = Fragment("equation", [factors], [eq.fragment.line], region=eq.fragment.region)
            f.vector = True
            out.append(f)
    return out


def _vectors(node: arith.Node) -> list[arith.Node]:
    if isinstance(node, arith.Vec):
        return [node]
    if isinstance(node, arith.Bin):
        return _vectors(node.left) + _vectors(node.right)
    if isinstance(node, (arith.Neg, arith.Call, arith.Transpose)):
        return _vectors(node.arg)
    return []


def _prose(doc: Document, fragments: list[Fragment], written: list[Equation]) -> list[list[Cell]]:
    """Numbers in sentences and labels (no fragment or calculation on their line): the
    numbers of one line, or single numbers on a few lines in a row."""
    busy = {ln for f in fragments for ln in f.lines}
    busy |= {eq.fragment.line for eq in written}
    out: list[list[Cell]] = []
    run: list[Cell] = []
    for i, line in enumerate(doc.lines):
        found = [] if i in busy else _numbers(line.text)
        if len(found) == 1 and run and i - run[-1][0].lines[0] <= MAX_GAP:
            run.append(_cell(i, found[0]))
            continue
        if len(run) >= 2:
            out.append(run)
        run = []
        if len(found) >= 2:
            f = Fragment("prose", [found], [i])
            f.vector = True
            out.append(_cells(f, 0))
        elif len(found) == 1:
            run = [_cell(i, found[0])]
    if len(run) >= 2:
        out.append(run)
    return out


def _cell(line: int, claim: Claim) -> Cell:
    f = Fragment("prose", [[claim]], [line])
    f.vector = True
    return (f, 0, 0)


def _numbers(text: str) -> list[Claim]:
    """The numbers of a line of prose, none on a line too long to be one (data)."""
    if len(text) > MAX_PROSE:
        return []
    return [c for m in _NUMBER.finditer(text) if (c := parse_claim(m.group(0))) is not None]
