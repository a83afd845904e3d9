"""Evidence before a finding: which of an example's judgements may be reported.

Takes the judgements of the worked examples (each under the reading that explains the most
printed numbers) and gives new judgements in which a number is called wrong only where the
reading is convincing:

- arithmetic written out is judged by itself (its operands are operands, its result is its
  result): the example's view of it only counts as evidence for or against the reading;
- what a program printed (an output cell, a numpy or torch print pasted into the text) was
  computed by the machine: where it disagrees with the reading, the reading is wrong, not the
  machine; such numbers are never a root of their own;
- a fragment whose numbers the reading finds wrong is believed only where the same reading
  explains a clear majority of its example's numbers (its own wrong numbers and what follows
  from them left out), and where its numbers are not all right as another step; otherwise
  it is not checked, and the report says why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from qkv.review import steps
from qkv.review.document import OUTPUT, Document
from qkv.review.examples import Example, Placement
from qkv.review.fragments import Fragment
from qkv.review.intervals import Box
from qkv.review.judge import Judgement, Verdict
from qkv.review.kinds import EXPLAINED, Status
from qkv.review.model import evaluate, with_factor
from qkv.review.numbers import Claim

MIN_EXPLAINED = 2 / 3  # of an example's other computed numbers its reading must explain
MIN_SUPPORT = 2  # … and at least this many
MAX_WRONG = 1 / 2  # of a fragment's numbers that may be mistakes under a reading of words
SIBLINGS = 3  # lines between the vectors that print the rows of one step ("z₁ = …", "z₂ = …")
MAX_TYPOS = 1 / 3  # of a printed fragment's numbers that may be typos rather than a misreading
# a known wrong computation (scaling left out, softmax over columns…) explains its numbers
_PRINT_CALL = re.compile(r"\b(?:tensor|array)\(|grad_fn=|dtype=")


@dataclass(frozen=True)
class Unconvincing:
    """A fragment whose mistakes were not reported: the rest of its worked example does not
    support the reading that makes them mistakes."""

    line: int  # its first line (0-based)
    explained: int  # of the example's other computed numbers, how many the reading explains
    numbers: int
    elsewhere: bool = False  # its numbers are all right as another step of the example
    misread: bool = False  # most of its numbers are wrong under the reading
    unmodelled: bool = False  # the words speak of a mask the reading does not apply


def machine_printed(doc: Document, f: Fragment) -> bool:
    """Numbers a program printed: an output block or cell, or numpy's and torch's way of
    printing (1. for 1.0, eight significant digits, tensor(…)) wherever it was pasted."""
    if f.region == OUTPUT or f.kind == "equation":
        return f.region == OUTPUT
    if any(_PRINT_CALL.search(doc.lines[i].text) for i in f.lines):
        return True
    claims = [c for row in f.cells for c in row if not c.masked]
    return any(c.long or re.fullmatch(r"[-+−]?\d+\.", c.text) for c in claims)


def weigh(
    doc: Document,
    judgements: list[Judgement],
    arithmetic: set[tuple[int, int, int]],
    follows: set[tuple[int, int, int]] = frozenset(),  # type: ignore[assignment]
    stated: tuple[float, ...] = (),
) -> tuple[list[Judgement], list[Unconvincing]]:
    """The judgements with what lacks evidence taken out, and the fragments left unchecked.
    ``arithmetic``: (fragment, row, column) of numbers their own arithmetic (or a step the
    words state) finds wrong; ``follows``: of those it finds right as written, which no
    reading of the example can make a mistake; ``stated``: the factors the text scales by."""
    kept: list[Judgement] = []
    dropped: list[Unconvincing] = []
    for j in judgements:
        typos = _typos(doc, j.verdicts)
        verdicts = [
            v
            for v in j.verdicts
            if _admissible(doc, v, typos, arithmetic)
            and not (v.status == Status.ROOT and (v.placement.fragment.index, v.r, v.c) in follows)
        ]
        unsupported = _unsupported(verdicts, j.example)
        unsupported.update(_read_as_another_step(j, verdicts, unsupported))
        unsupported.update(_another_temperature(j, verdicts, stated))
        unsupported.update(_unmodelled_mask(j, verdicts, doc))
        scaled = _scaled_already(j, verdicts, stated)
        dropped += [*unsupported.values(), *scaled.values()]
        verdicts = [
            v
            for v in verdicts
            if not (v.status == Status.ROOT and v.placement.fragment.index in unsupported)
            and v.placement.fragment.index not in scaled
        ]
        kept.append(replace(j, verdicts=_with_causes(verdicts)))
    return kept, dropped


def _read_as_another_step(
    j: Judgement, verdicts: list[Verdict], known: dict[int, Unconvincing]
) -> dict[int, Unconvincing]:
    """Fragments with mistakes whose numbers are all right as another step of the same
    example ("Q Kᵀ/√2 = …" read as the scores: they are the scaled scores), under its
    convention or with the scaling the other way (unscaled where it chose 1/√d_k, or the
    reverse)."""
    inputs = j.example.inputs()
    if not inputs:
        return {}
    readings = [
        evaluate(inputs, with_factor(replace(j.convention, scale=scale), inputs)).at
        for scale in dict.fromkeys((j.convention.scale, "none", "sqrt"))
    ]
    out: dict[int, Unconvincing] = {}
    for index, mine in _by_fragment(verdicts).items():
        if index in known or not any(v.status == Status.ROOT for v in mine):
            continue
        f = mine[0].placement.fragment
        role = mine[0].placement.role
        if any(
            (step != role or k) and _fits(f, box)
            for k, truth in enumerate(readings)
            for step, box in truth.items()
        ):
            out[index] = Unconvincing(f.line, 0, 0, elsewhere=True)
    return out


def _another_temperature(
    j: Judgement, verdicts: list[Verdict], stated: tuple[float, ...]
) -> dict[int, Unconvincing]:
    """Weights found wrong that are the softmax of the printed scores at some temperature
    the text never states: the reading, not the article, is what does not fit."""
    given = [p.fragment for p in j.example.placements if p.given and p.role in _SCORES]
    out: dict[int, Unconvincing] = {}
    for index, mine in _by_fragment(verdicts).items():
        b = mine[0].placement.fragment
        if mine[0].placement.role != "weights" or not any(v.status == Status.ROOT for v in mine):
            continue
        roots = sum(v.status == Status.ROOT for v in mine)
        a = next((f for f in given if f.shape == b.shape), None)
        if a is None or roots <= len(mine) / 3:
            continue  # a slip or two is a mistake whatever the temperature
        if steps.other_temperature(a, b, stated):
            out[index] = Unconvincing(b.line, 0, 0, elsewhere=True)
    return out


def _scaled_already(
    j: Judgement, verdicts: list[Verdict], stated: tuple[float, ...]
) -> dict[int, Unconvincing]:
    """Weights said to leave the scaling out, where the scores the example was given are
    the scaled ones already: not whole numbers, but whole numbers times a scale factor (the
    example's or one the text states: 0.707 = 1/√2), as dot products of small whole numbers
    scaled are. The softmax of them as printed is then right; "scores" named the scaled
    step."""
    diagnosed = {
        v.placement.fragment.index: v
        for v in verdicts
        if v.status == Status.DIAGNOSIS and v.diagnosis in ("scale_forgotten",)
    }
    given = [p.fragment for p in j.example.placements if p.given and p.role == "scores"]
    claims = [c for f in given for row in f.cells for c in row if not c.masked]
    if not diagnosed or not claims or all(c.value == round(c.value) for c in claims):
        return {}  # whole numbers: raw dot products
    for factor in {j.convention.factor, *stated}:
        if not 0 < factor < 1:
            continue
        raw = [(c.value / factor, c.half_unit / factor + 1e-9) for c in claims]
        if all(abs(x - round(x)) <= slack for x, slack in raw):
            return {i: Unconvincing(v.line, 0, 0, elsewhere=True) for i, v in diagnosed.items()}
    return {}


def _unmodelled_mask(
    j: Judgement, verdicts: list[Verdict], doc: Document
) -> dict[int, Unconvincing]:
    """Mistakes under a reading without a mask, in an example whose words speak of one
    (masking one key, masked_fill, -inf): the reading leaves out a step the text took."""
    conv = j.convention
    if conv.causal is not None or conv.padded or "mask" in j.example.given:
        return {}
    first, last = j.example.lines
    words = " ".join(doc.lines[i].text for i in range(max(0, first - 3), last + 1))
    if not _MASK.search(words):
        return {}
    return {
        index: Unconvincing(mine[0].line, 0, 0, unmodelled=True)
        for index, mine in _by_fragment(verdicts).items()
        if any(v.status == Status.ROOT for v in mine)
    }


# a mask, or a bias added to the scores (relative positions, ALiBi): a step no reading models
_MASK = re.compile(
    r"\bmask|masked_fill|-inf\b|−∞|-∞|-1e9|掩码|屏蔽|遮挡|"
    r"(?:position(?:al)?|relative)\s+(?:position\s+)?bias|alibi|相对位置|位置偏置",
    re.I,
)


_SCORES = ("scores", "scaled", "masked")


def _fits(f: Fragment, box: Box) -> bool:
    """Are all the fragment's numbers right as this step (a vector: as one of its rows;
    a matrix: as the step or its transpose)?"""
    if box.ndim != 2:
        return False
    cells = f.cells
    if f.vector:
        return any(
            len(cells[0]) == box.shape[1]
            and all(_as(c, box.lo[r, k], box.hi[r, k]) for k, c in enumerate(cells[0]))
            for r in range(box.shape[0])
        )
    for b in (box, box.T):
        if b.shape == f.shape and all(
            _as(c, b.lo[r, k], b.hi[r, k]) for r, row in enumerate(cells) for k, c in enumerate(row)
        ):
            return True
    return False


def _as(c: Claim, lo: float, hi: float) -> bool:
    """Could the claim be this value? A whole number as written is that number (1 is no
    rounded 0.577: integers among decimals were given their precision when read)."""
    if c.decimals == 0 and c.exponent is None and c.half_unit >= 0.5:
        return lo - 1e-9 <= c.value <= hi + 1e-9
    return c.fits(lo, hi)


def _by_fragment(verdicts: list[Verdict]) -> dict[int, list[Verdict]]:
    out: dict[int, list[Verdict]] = {}
    for v in verdicts:
        out.setdefault(v.placement.fragment.index, []).append(v)
    return out


def _unsupported(verdicts: list[Verdict], example: Example) -> dict[int, Unconvincing]:
    """Fragments with mistakes that their example does not vouch for. A reading is believed
    where it explains a clear majority of the example's computed numbers, leaving out the
    fragment's wrong numbers and what follows from them (a fragment that disagrees with
    everything around it was most likely misread). Where nothing else was computed, names
    written on the fragment and on every input ("Q = K = …", "Output ≈ …") are evidence
    enough."""
    out: dict[int, Unconvincing] = {}
    for index, mine in _by_fragment(verdicts).items():
        own = {id(v) for v in mine if v.status == Status.ROOT}
        if not own:
            continue
        named = _named(mine[0].placement, example)
        if _mostly_wrong(mine, verdicts) and not named:
            out[index] = Unconvincing(mine[0].line, 0, 0, misread=True)
            continue
        rest = [
            v
            for v in verdicts
            if id(v) not in own
            and not (v.status == Status.CONSEQUENCE and any(id(r) in own for r in v.roots()))
        ]
        explained = sum(v.status in EXPLAINED for v in rest)
        if len(rest) < MIN_SUPPORT and named:
            continue
        if explained < MIN_SUPPORT or explained < MIN_EXPLAINED * len(rest):
            out[index] = Unconvincing(mine[0].line, explained, len(rest))
    return out


def _mostly_wrong(mine: list[Verdict], verdicts: list[Verdict]) -> bool:
    """Are most of the numbers of the step this fragment prints wrong under the reading?
    A vector counts with the other rows of its step ("z₂ = …" beside z₁ and z₃)."""
    p = mine[0].placement
    if p.fragment.vector:  # with the rows written just above and below it
        rows = sorted(
            {v.placement.fragment.line for v in verdicts if v.placement.role == p.role}
            | {p.fragment.line}
        )
        k = rows.index(p.fragment.line)
        lo = hi = k
        while lo > 0 and rows[lo] - rows[lo - 1] <= SIBLINGS:
            lo -= 1
        while hi + 1 < len(rows) and rows[hi + 1] - rows[hi] <= SIBLINGS:
            hi += 1
        near = set(rows[lo : hi + 1])
        mine = [
            v
            for v in verdicts
            if v.placement.role == p.role
            and v.placement.fragment.vector
            and v.placement.fragment.line in near
        ]
    roots = sum(v.status == Status.ROOT for v in mine)
    return roots >= 2 and roots > MAX_WRONG * len(mine)


def _named(p: Placement, example: Example) -> bool:
    """Do names written on the fragment and on every input of its example say what they
    are ("V = …", "Output ≈ …"), rather than words around them?"""
    given = [g for g in example.placements if g.given]
    return bool(p.desc.names) and bool(given) and all(g.desc.names for g in given)


def _with_causes(verdicts: list[Verdict]) -> list[Verdict]:
    """Consequences whose root mistakes are all still there (a root taken out takes what
    followed from it along)."""
    kept = {id(v) for v in verdicts if v.status != Status.CONSEQUENCE}
    return [
        v
        for v in verdicts
        if v.status != Status.CONSEQUENCE or all(id(r) in kept for r in v.roots())
    ]


def _typos(doc: Document, verdicts: list[Verdict]) -> set[int]:
    """Printed fragments whose few wrong numbers may be typos in a pasted printout (a digit
    swapped); where most of a printout disagrees, the reading is what is wrong."""
    counts: dict[int, list[int]] = {}
    for v in verdicts:
        f = v.placement.fragment
        if machine_printed(doc, f):
            seen = counts.setdefault(f.index, [0, 0])
            seen[0] += v.status == Status.ROOT
            seen[1] += 1
    return {index for index, (roots, n) in counts.items() if roots <= MAX_TYPOS * n}


def _admissible(
    doc: Document, v: Verdict, typos: set[int], arithmetic: set[tuple[int, int, int]]
) -> bool:
    """May the example judge this number? Arithmetic written out judges itself: the example
    may only say that it follows from a wrong number. A program's printout is wrong on its
    own only as a known wrong computation or in a few typos."""
    f = v.placement.fragment
    if v.status in (Status.ROOT, Status.DIAGNOSIS) and f.kind == "equation":
        return (f.index, v.r, v.c) in arithmetic
    if v.status == Status.ROOT and machine_printed(doc, f):
        return f.index in typos
    return True
