"""Judging a worked example: one convention for all of it, then every printed number.

The convention (scale, causal mask, projection layout) is the one under which the most
printed numbers are right; what the text claims narrows the choice. Then each printed number
is, in the order the steps are computed:

- right: the true value rounds to it (at the precision it is written with);
- carried: it follows from the article's own printed, correctly rounded numbers before it;
- a root mistake: it follows neither from the truth nor from the printed numbers before it;
- a consequence: it follows from printed numbers before it that are wrong.

A fragment whose every number fits a known wrong computation (softmax over columns, the
scaling left out, the mask after the softmax, dropout, K·Qᵀ) gets that diagnosis, once.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field, replace

import numpy as np

from qkv.core.masks import Align
from qkv.review import arith, budget
from qkv.review.examples import DOWNSTREAM, Example, Placement
from qkv.review.intervals import Box
from qkv.review.kinds import WRONG, Status
from qkv.review.model import (
    DERIVED,
    ORDER,
    Convention,
    Entry,
    Values,
    d_k,
    depends_on,
    evaluate,
    with_factor,
)
from qkv.review.numbers import Claim


@dataclass
class Verdict:
    """One printed number's judgement."""

    placement: Placement
    r: int  # row and column in the fragment as written
    c: int
    entry: Entry
    status: Status
    true: float  # the value under the example's convention (midpoint of its interval)
    follows: float | None = None  # what the printed numbers before it give
    causes: list[Verdict] = field(default_factory=list)  # the root mistakes it inherits
    diagnosis: str | None = None

    @property
    def claim(self) -> Claim:
        return self.placement.fragment.cells[self.r][self.c]

    @property
    def line(self) -> int:
        return self.placement.fragment.lines[self.r]

    def roots(self) -> list[Verdict]:
        if self.status in (Status.ROOT, Status.DIAGNOSIS):
            return [self]
        out: list[Verdict] = []
        for cause in self.causes:
            out.extend(v for v in cause.roots() if v not in out)
        return out


@dataclass
class Judgement:
    example: Example
    convention: Convention
    verdicts: list[Verdict]
    diagnoses: dict[int, str]  # fragment index -> diagnosis kind


def printed_boxes(example: Example, shapes: dict[str, tuple[int, ...]]) -> dict[str, Box]:
    """What the article printed of each computed step (NaN where it printed nothing). Of an
    entry printed twice, the later steps were computed from the last print before them (K,
    then Kᵀ "to multiply with"), or from the first when none follows (a recap at the end).
    An author who carries a rounded number on computes with it as written (0.47, not
    something that rounds to it); one who kept the exact value gets the true result."""
    out: dict[str, Box] = {}
    for p in sorted(example.checked, key=lambda p: p.fragment.index):
        if p.role not in shapes:
            continue
        box = out.setdefault(
            p.role, Box(np.full(shapes[p.role], np.nan), np.full(shapes[p.role], np.nan))
        )
        used_after = _first_use(example, p.role)
        for r, c, idx in cells_of(p, shapes[p.role]):
            claim = p.fragment.cells[r][c]
            if np.isnan(box.lo[idx]) or p.fragment.index < used_after:
                box.lo[idx], box.hi[idx] = carried_range(claim)
    return out


def _first_use(example: Example, role: str) -> int:
    """Where the first step computed from ``role`` is printed (fragment index; large if none)."""
    after = DOWNSTREAM.get(role, ())
    return min((p.fragment.index for p in example.checked if p.role in after), default=10**9)


def carried_range(c: Claim) -> tuple[float, float]:
    """What a later step was computed from: the number as written, or the longer value it was
    rounded from (code prints rounded values of what it goes on computing with). Whole
    numbers in a hand calculation are exact (11 is 11); a number printed with %g-style
    digits (0.69 among 0.0566 and 0.254) was rounded at the fragment's precision."""
    if c.masked or (c.decimals == 0 and c.exponent is None):
        return c.value, c.value
    half = c.half_unit if c.carry_half is None else min(c.half_unit, c.carry_half)
    return c.value - half, c.value + half


def cells_of(
    p: Placement, shape: tuple[int, ...] | None = None
) -> list[tuple[int, int, tuple[int, ...]]]:
    """(fragment row, fragment column, index into the step) of every printed number; none
    when ``shape`` is given and the placement does not fit in it (a step of another head)."""
    out: list[tuple[int, int, tuple[int, ...]]] = []
    for r, row in enumerate(p.fragment.cells):
        for c in range(len(row)):
            if p.role == "weighted":
                out.append((r, c, (p.query or 0, p.rows[r], c)))
            elif p.transposed:
                out.append((r, c, (c, r)))
            else:
                out.append((r, c, (p.rows[r], c if p.cols is None else p.cols[c])))
    if shape is not None and any(
        len(idx) != len(shape) or any(k >= n for k, n in zip(idx, shape, strict=False))
        for _, _, idx in out
    ):
        return []
    return out


@dataclass(frozen=True)
class TextHints:
    """What the article's prose says about the scale, for all its examples."""

    stated: tuple[str, ...] = ()  # factors it states: "divide by 8" -> "1/8"
    scaled: bool = False  # it speaks of √d_k or scaling at all
    applied: tuple[int, ...] = ()  # lines that say the numbers are scaled ("factor is 1/2")
    unapplied: tuple[int, ...] = ()  # lines that say they are not ("no scaling here")
    dropout: bool = False  # it speaks of dropout (zeroed weights are no mistake without it)


def _applied(example: Example, hints: TextHints) -> bool:
    """Does the example's text (its own lines, or the few just above) say it scales?"""
    first, last = example.lines
    said = [line for line in hints.applied if first - 8 <= line <= last]
    unsaid = [line for line in hints.unapplied if first - 8 <= line <= last + 3]
    return bool(hints.stated and said and not unsaid)


def candidates(example: Example, inputs: dict[str, Box], hints: TextHints) -> list[Convention]:
    """Conventions the text allows, most expected first."""
    stated = list(hints.stated)
    # what the words say of the scale, the inputs' words included ("不缩放，直接算：" above Q)
    scale_claims = {p.desc.scale for p in example.placements if p.desc.scale}
    causal_claims = {p.desc.causal for p in example.checked if p.desc.causal is not None}
    if scale_claims == {"none"}:
        scales = ["none"]
    elif "sqrt" in scale_claims or (_applied(example, hints) and "none" not in scale_claims):
        # said and nowhere unsaid: numbers computed without it are a mistake, not a choice
        scales = ["sqrt", *stated] + (["none"] if "none" in scale_claims else [])
    elif hints.scaled:  # unsaid here, but the article speaks of scaling
        scales = ["sqrt", "none", *stated]
    else:  # nothing speaks of it: the softmax of the scores as printed
        scales = ["none", "sqrt", *stated]
    n_q = inputs["x"].shape[0] if "x" in inputs else None
    n_k = inputs["mem"].shape[0] if "mem" in inputs else n_q
    if "q" in inputs and "k" in inputs:
        n_q, n_k = inputs["q"].shape[0], inputs["k"].shape[0]
    aligns: list[Align | None] = ["bottom_right"]
    if n_q != n_k:
        aligns.append("top_left")
    causals: list[Align | None]
    if "mask" in inputs or causal_claims == {False}:
        causals = [None]
    elif True in causal_claims:
        causals = [*aligns, None]  # claimed, but the numbers may say it was not applied
    else:
        causals = [None, *aligns]
    layouts = _layouts(inputs)
    paddings = [(), *_padded_keys(example)]
    out = []
    for scale, causal, layout, padded in itertools.product(
        dict.fromkeys(scales), causals, layouts, paddings
    ):
        conv = Convention(scale=scale, causal=causal, transposed=layout, padded=padded)
        out.append(with_factor(conv, inputs))
    return out


def _padded_keys(example: Example) -> list[tuple[int, ...]]:
    """Keys the printed masked scores hide from every query (−∞ down whole columns of two or
    more rows): a padding mask, which the article claims by printing it."""
    out = []
    for p in example.checked:
        cells = p.fragment.cells
        if p.role != "masked" or p.transposed or p.cols is not None or len(cells) < 2:
            continue
        cols = tuple(j for j in range(len(cells[0])) if all(row[j].masked for row in cells))
        if cols and len(cols) < len(cells[0]) and cols not in out:
            out.append(cols)
    return out


def _layouts(inputs: dict[str, Box]) -> list[tuple[str, ...]]:
    """Which projections may be x·Wᵀ: by shape, or either when W is square."""
    if "x" not in inputs:
        return [()]
    d = inputs["x"].shape[1]
    options: list[list[tuple[str, ...]]] = []
    for w in ("wq", "wk", "wv"):
        if w not in inputs:
            continue
        rows, cols = inputs[w].shape
        both: list[tuple[tuple[str, ...], bool]] = [((), rows == d), ((w,), cols == d)]
        fits = [opt for opt, ok in both if ok]
        options.append(fits or [()])
    layouts = [tuple(x for part in combo for x in part) for combo in itertools.product(*options)]
    return layouts or [()]


def _explained(example: Example, truth: Values, chain: Values) -> int:
    """How many printed numbers are right or follow from the printed numbers before them."""
    count = 0
    for p in example.checked:
        t, d = truth.at.get(p.role), chain.derived.get(p.role)
        if t is None:
            continue
        for r, c, idx in cells_of(p, t.shape):
            claim = p.fragment.cells[r][c]
            if claim.fits(t.lo[idx], t.hi[idx]) or (
                d is not None and claim.fits(d.lo[idx], d.hi[idx])
            ):
                count += 1
    return count


def choose(example: Example, hints: TextHints) -> tuple[Convention, Values, Values] | None:
    """The convention that explains the most printed numbers (the first, on a tie)."""
    inputs = example.inputs()
    if not inputs:
        return None
    best = None
    every = sum(p.fragment.size for p in example.checked)
    for conv in candidates(example, inputs, hints):
        budget.tick()
        truth = evaluate(inputs, conv)
        shapes = {k: v.shape for k, v in truth.at.items()}
        chain = evaluate(inputs, conv, printed_boxes(example, shapes))
        score = _explained(example, truth, chain)
        if best is None or score > best[0]:
            best = (score, conv, truth, chain)
        if score >= every:
            break  # nothing after it can explain more, and the first wins a tie
    assert best is not None
    if best[0] < every and _speaks_of_heads(example):
        best = _best_head(example, inputs, best)
    return best[1], best[2], best[3]


_HEADS = re.compile(r"\bheads?\b|多头|第\s*\w{1,2}\s*个头|头\s*\d|head[_\s]?\d", re.I)


def _speaks_of_heads(example: Example) -> bool:
    return any(
        _HEADS.search(" ".join([p.fragment.label, *p.fragment.context])) for p in example.placements
    )


def _best_head(
    example: Example, inputs: dict[str, Box], best: tuple[int, Convention, Values, Values]
) -> tuple[int, Convention, Values, Values]:
    """Numbers left unexplained may be one head of several: the scores of q and k's first
    (or second …) half of columns, scaled by that head's √d_k, times that half of v."""
    width = d_k(inputs) or 1
    for heads in range(2, min(width, 8) + 1):
        if width % heads:
            continue
        for head in range(heads):
            budget.tick()
            conv = with_factor(replace(best[1], heads=heads, head=head), inputs)
            truth = evaluate(inputs, conv)
            shapes = {k: v.shape for k, v in truth.at.items()}
            chain = evaluate(inputs, conv, printed_boxes(example, shapes))
            score = _explained(example, truth, chain)
            if score > best[0]:
                best = (score, conv, truth, chain)
    return best


def judge(example: Example, hints: TextHints) -> Judgement | None:
    chosen = choose(example, hints)
    if chosen is None:
        return None
    conv, truth, chain = chosen
    shapes = {k: v.shape for k, v in truth.at.items()}
    shown_weighted = {p.query or 0 for p in example.checked if p.role == "weighted"}
    first: dict[Entry, Verdict] = {}
    verdicts: list[Verdict] = []
    ancestry = _Ancestry(first, shapes, shown_weighted)
    ordered = sorted(example.checked, key=lambda p: (ORDER.index(p.role), p.fragment.index))
    for p in ordered:
        t, d = truth.at.get(p.role), chain.derived.get(p.role)
        if t is None:
            continue
        used = p.fragment.index < _first_use(example, p.role)  # the print later steps read
        for r, c, idx in cells_of(p, t.shape):
            v = _verdict(p, r, c, idx, t, d, ancestry)
            prior = first.setdefault((p.role, idx), v)
            if used:
                first[(p.role, idx)] = v
            copied = prior is not v and prior.claim.value == v.claim.value
            if v.status == Status.ROOT and copied and prior.status in WRONG:
                v.status, v.causes = Status.CONSEQUENCE, [prior]  # the same wrong number, copied on
            verdicts.append(v)
    _unaffected(example, conv, verdicts, shapes)
    diagnoses = _diagnose(example, conv, verdicts, hints.dropout)
    return Judgement(example, conv, verdicts, diagnoses)


def _unaffected(
    example: Example, conv: Convention, verdicts: list[Verdict], shapes: dict[str, tuple[int, ...]]
) -> None:
    """A number computed from a wrong one is a consequence only if the mistake shows in it:
    with the wrong numbers written right (the true value at their precision) and everything
    after them recomputed from those, would it read the same? Then it is carried: 0.5 · 0
    adds nothing, whatever the weight was. Computed on the numbers as written (no rounding
    slack, which would excuse real consequences)."""
    roots = [v for v in verdicts if v.status == Status.ROOT and not v.claim.masked]
    followers = [v for v in verdicts if v.status == Status.CONSEQUENCE]
    if not roots or not followers:
        return
    inputs = {name: Box(box.mid, box.mid) for name, box in example.inputs().items()}
    printed = {
        name: Box(box.mid.copy(), box.mid.copy())
        for name, box in printed_boxes(example, shapes).items()
    }
    for v in roots:
        role, idx = v.entry
        if role in printed:
            fixed = float(v.claim.rounded(v.true)) if v.claim.exponent is None else v.true
            printed[role].lo[idx] = printed[role].hi[idx] = fixed
    corrected = evaluate(inputs, conv, printed).derived
    for step in ORDER:  # what each consequence would have read, step by step
        mine = [v for v in followers if v.entry[0] == step]
        if not mine or step not in corrected or step not in printed:
            continue
        for v in mine:
            idx = v.entry[1]
            printed[step].lo[idx] = printed[step].hi[idx] = corrected[step].mid[idx]
        corrected = evaluate(inputs, conv, printed).derived
    for v in followers:
        d = corrected.get(v.entry[0])
        if d is not None and v.claim.fits(d.lo[v.entry[1]], d.hi[v.entry[1]]):
            v.status, v.causes = Status.CARRIED, []


def _verdict(
    p: Placement,
    r: int,
    c: int,
    idx: tuple[int, ...],
    t: Box,
    d: Box | None,
    ancestry: _Ancestry,
) -> Verdict:
    claim = p.fragment.cells[r][c]
    true = float(t.mid[idx])
    follows = None if d is None else float(d.mid[idx])
    v = Verdict(p, r, c, (p.role, idx), Status.RIGHT, true, follows)
    if claim.fits(t.lo[idx], t.hi[idx]):
        return v
    if d is not None and claim.fits(d.lo[idx], d.hi[idx], strict=True):
        v.causes = ancestry.wrong(p.role, idx)
        v.status = Status.CONSEQUENCE if v.causes else Status.CARRIED
        return v
    if _worked_from_roundings(p, r, c, true):
        v.status = Status.CARRIED
        return v
    v.status = Status.ROOT
    return v


def _worked_from_roundings(p: Placement, r: int, c: int, true: float) -> bool:
    """Arithmetic written out whose operands are the true values rounded ("Σ = 2.718 + 2.718
    + 1.000 = 6.436", truly 6.4366): the result follows from them, so it is carried."""
    if p.fragment.left is None:
        return False
    value = arith.evaluate(p.fragment.left)
    f = p.fragment
    if value is None or value.width not in (1, f.size):
        return False
    k = 0 if value.width == 1 else r * f.shape[1] + c  # a matrix result, row after row
    lo, hi = value.at(k)
    return lo <= true <= hi and f.cells[r][c].fits(lo, hi)


class _Ancestry:
    """The wrong printed numbers an entry was computed from (through unprinted steps too)."""

    def __init__(
        self,
        first: dict[Entry, Verdict],
        shapes: dict[str, tuple[int, ...]],
        shown_weighted: set[int],
    ):
        self.first, self.shapes, self.shown_weighted = first, shapes, shown_weighted
        self.cache: dict[Entry, list[Verdict]] = {}

    def wrong(self, name: str, idx: tuple[int, ...]) -> list[Verdict]:
        key = (name, idx)
        if key in self.cache:
            return self.cache[key]
        self.cache[key] = []  # a step never depends on itself; guards the recursion
        out: list[Verdict] = []
        for dep, dep_idx in depends_on(name, idx, self.shown_weighted):
            for full in self._expand(dep, dep_idx):
                v = self.first.get((dep, full))
                if v is not None:
                    if v.status in WRONG and v not in out:
                        out.append(v)
                elif dep in DERIVED:
                    out.extend(w for w in self.wrong(dep, full) if w not in out)
        self.cache[key] = out
        return out

    def _expand(self, name: str, idx: tuple[int, ...]) -> list[tuple[int, ...]]:
        shape = self.shapes.get(name)
        if shape is None or len(shape) != len(idx):
            return []
        axes = [range(n) if i == -1 else [i] for i, n in zip(idx, shape, strict=True)]
        return [tuple(t) for t in itertools.product(*axes)]


def _variants(conv: Convention, inputs: dict[str, Box]) -> list[tuple[str, Convention]]:
    """Known wrong computations, each as the convention that makes it."""
    out = [
        ("softmax_over_columns", replace(conv, axis=0)),
        ("softmax_over_all", replace(conv, axis=None)),
    ]
    if conv.causal is not None or "mask" in inputs:
        out.append(("mask_after_softmax", replace(conv, variant="mask_after")))
    if conv.causal is not None:
        out.append(("mask_forgotten", replace(conv, causal=None)))
    elif "mask" not in inputs:
        out.append(("mask_unexpected", replace(conv, causal="bottom_right")))
    for scale, kind in (
        ("none", "scale_forgotten"),
        ("double", "scale_applied_twice"),
        ("sqrt", "scale_unexpected"),
    ):
        if scale != conv.scale and not (kind == "scale_applied_twice" and conv.scale == "none"):
            out.append((kind, with_factor(replace(conv, scale=scale), inputs)))
    return out


def _diagnose(
    example: Example, conv: Convention, verdicts: list[Verdict], dropout: bool = False
) -> dict[int, str]:
    """Fragments whose every number fits one known wrong computation."""
    by_fragment: dict[int, list[Verdict]] = {}
    for v in verdicts:
        by_fragment.setdefault(v.placement.fragment.index, []).append(v)
    variants = _Variants(example, conv, dropout)
    found: dict[int, str] = {}
    by_kind: dict[str, list[Verdict]] = {}
    for index, vs in sorted(by_fragment.items(), key=lambda kv: ORDER.index(kv[1][0].entry[0])):
        if sum(v.status == Status.ROOT for v in vs) < 2:
            continue  # one wrong number is a slip, not a systematic error
        kind = variants.kind(vs[0].placement, vs)
        if not kind:
            continue
        upstream = [v for v in by_kind.get(kind, []) if v.placement.fragment.index != index]
        for v in (v for v in vs if v.status == Status.ROOT):
            if upstream:  # the same wrong computation, carried on from an earlier step
                v.status, v.causes = Status.CONSEQUENCE, upstream
            else:
                v.status, v.diagnosis = Status.DIAGNOSIS, kind
                by_kind.setdefault(kind, []).append(v)
        if not upstream:
            found[index] = kind
    return found


class _Variants:
    """The known wrong computations of one example, each evaluated once when first asked."""

    def __init__(self, example: Example, conv: Convention, dropout: bool = False):
        self.example, self.inputs, self.dropout = example, example.inputs(), dropout
        self.variants = _variants(conv, self.inputs)
        self.values: dict[str, tuple[Values, Values]] = {}

    def kind(self, p: Placement, vs: list[Verdict]) -> str | None:
        if p.role not in ("scores", "scaled", "masked", "weights", "output"):
            return None
        dropout = _dropout(p, vs) if self.dropout else None  # only where the text says so
        if dropout:
            return dropout
        for name, variant in self.variants:
            if name not in self.values:
                truth = evaluate(self.inputs, variant)
                shapes = {k: b.shape for k, b in truth.at.items()}
                chain = evaluate(self.inputs, variant, printed_boxes(self.example, shapes))
                self.values[name] = (truth, chain)
            if _fits_all(p, self.values[name]):
                return name
        return _transposed(p, vs)


def _fits_all(p: Placement, values: tuple[Values, Values]) -> bool:
    truth, chain = values
    t, d = truth.at.get(p.role), chain.derived.get(p.role)
    if t is None or not cells_of(p, t.shape):
        return False
    for r, c, idx in cells_of(p):
        claim = p.fragment.cells[r][c]
        if not (
            claim.fits(t.lo[idx], t.hi[idx]) or (d is not None and claim.fits(d.lo[idx], d.hi[idx]))
        ):
            return False
    return True


def _transposed(p: Placement, vs: list[Verdict]) -> str | None:
    """Scores or weights printed as their transpose (K·Qᵀ for Q·Kᵀ)."""
    if p.role not in ("scores", "scaled", "masked", "weights") or p.fragment.vector:
        return None
    n, m = p.fragment.shape
    if n != m:
        return None
    true = np.full((n, m), np.nan)
    for v in vs:
        true[v.r, v.c] = v.true
    if np.allclose(true, true.T):
        return None
    cells = p.fragment.cells
    ok = all(cells[r][c].consistent(float(true[c, r])) for r in range(n) for c in range(m))
    return "k_transposed" if ok else None


def _dropout(p: Placement, vs: list[Verdict]) -> str | None:
    """Some weights zeroed and the rest scaled by one factor 1/(1 - p) > 1."""
    if p.role != "weights":
        return None
    claimed = np.array([v.claim.value for v in vs])
    true = np.array([v.true for v in vs])
    keep = claimed != 0
    if keep.all() or not keep.any() or np.any(true[keep] <= 0):
        return None
    factor = float(np.median(claimed[keep] / true[keep]))
    if not 1.05 <= factor <= 10:  # 1 / (1 - p) for a dropout rate p of 5% to 90%
        return None
    dropped = [v for k, v in zip(keep, vs, strict=True) if not k]
    if any(v.claim.consistent(v.true) for v in dropped):
        return None  # a zero that is right is no sign of dropout
    ok = all(
        (not k)
        or v.claim.consistent(factor * v.true)
        or abs(v.claim.value - factor * v.true) <= 0.02 * factor * v.true + v.claim.half_unit
        for k, v in zip(keep, vs, strict=True)
    )
    return "dropout" if ok else None
