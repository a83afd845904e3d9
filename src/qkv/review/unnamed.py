"""Stage: fragments no words name, placed where their numbers fit.

Takes the examples the words built, their judgements and the unnamed fragments; gives new
examples (each with the placements it gained), their new judgements and the fragments that
fit nowhere. A fragment is placed in the step of the nearest example whose true values match
at least MIN_SHARE of its numbers; an article of bare matrices starts from the first as X.
"""

from __future__ import annotations

from dataclasses import replace

from qkv.review import budget
from qkv.review.examples import Example, Placement
from qkv.review.fragments import Fragment, Skipped
from qkv.review.fragments import skipped as skip
from qkv.review.judge import Judgement, TextHints, cells_of, judge, printed_boxes
from qkv.review.model import DERIVED, evaluate
from qkv.review.roles import Description

MIN_SHARE = 0.75  # of its numbers a fragment no words name must match to be placed


def place(
    unnamed: list[Fragment],
    examples: list[Example],
    judgements: list[Judgement],
    hints: TextHints,
) -> tuple[list[Example], list[Judgement], list[Skipped]]:
    """(examples, judgements) with the unnamed fragments placed, and those left out."""
    examples, judgements, skipped = list(examples), list(judgements), []
    if unnamed and not examples:
        first, unnamed = unnamed[0], unnamed[1:]  # an article of bare matrices: the first is X
        examples = [Example(0, [Placement(first, "x", list(range(first.shape[0])), given=True)])]
        judged = judge(examples[0], hints)
        judgements += [judged] if judged is not None else []
    for f in unnamed:
        budget.tick()
        k = examples.index(_nearest(examples, f))
        j = next((j for j in judgements if j.example is examples[k]), None)
        placement = None if j is None else _best_fit(f, j)
        if placement is None or j is None:
            skipped.append(skip(f.line, "check.unplaced", shape=f"{f.shape[0]}×{f.shape[1]}"))
            continue
        grown = replace(examples[k], placements=[*examples[k].placements, placement])
        examples[k] = grown
        rejudged = judge(grown, hints)
        judgements = (
            [jj for jj in judgements if jj is not j]
            if rejudged is None
            else [rejudged if jj is j else jj for jj in judgements]
        )
    return examples, judgements, skipped


def _nearest(examples: list[Example], f: Fragment) -> Example:
    """The example whose computed steps surround the fragment, or the last one before it
    (inputs copied into a second pass over them do not count: they stand earlier)."""

    def first(e: Example) -> int:
        own = [p.fragment.line for p in e.checked] or [p.fragment.line for p in e.placements]
        return min(own) if own else 10**9

    around = [e for e in examples if e.checked and first(e) <= f.line <= e.lines[1]]
    if around:
        return around[-1]
    before = [e for e in examples if e.placements and first(e) <= f.line]
    return before[-1] if before else examples[0]


def _best_fit(f: Fragment, j: Judgement) -> Placement | None:
    """The placement in a step whose true values match the most of the fragment's numbers."""
    inputs = j.example.inputs()
    truth = evaluate(inputs, j.convention)
    known = {name: box.shape for name, box in truth.at.items()}
    chain = evaluate(inputs, j.convention, printed_boxes(j.example, known))
    best: tuple[float, Placement] | None = None
    for role in DERIVED:
        if role not in truth.at or role == "weighted":
            continue
        shape = known[role]
        options = []
        if f.vector and f.shape[1] == shape[1]:
            options = [Placement(f, role, [i], desc=Description()) for i in range(shape[0])]
        elif f.shape == shape:
            options = [Placement(f, role, list(range(shape[0])), desc=Description())]
        for p in options:
            box, derived = truth.at[role], chain.derived.get(role)
            cells = cells_of(p)
            share = sum(
                p.fragment.cells[r][c].fits(box.lo[idx], box.hi[idx])
                or (
                    derived is not None
                    and p.fragment.cells[r][c].fits(derived.lo[idx], derived.hi[idx])
                )
                for r, c, idx in cells
            ) / len(cells)
            if best is None or share > best[0]:
                best = (share, p)
    if best is None or best[0] < MIN_SHARE:
        return None
    return best[1]
