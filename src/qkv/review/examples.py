"""Fragments grouped into worked examples, each fragment placed as (part of) one step.

Words decide first: "q1 = [1, 0, 2]" is row 1 of Q, "softmax for input 2" row 2 of the weights,
"W_Q" a projection. A worked example starts with its inputs and takes every later step until
an input is given again with other numbers, which starts the next example. The earliest step
an example prints is its input: an article that starts from the scores (112 and 96, divided by
8) is checked from there on.

Rows given one vector at a time are assembled: x1, x2, x3 are the rows of X; a vector with no
number in its words belongs to the query the section is about, or else to the next row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import numpy as np

from qkv.review import budget
from qkv.review.fragments import Fragment, Skipped
from qkv.review.fragments import skipped as skip
from qkv.review.intervals import Box
from qkv.review.model import DERIVED, INPUT_ROLES, Convention, evaluate, with_factor
from qkv.review.numbers import Claim
from qkv.review.roles import Description, counts_from_zero, describe, from_zero, indices_of

# one row per query (a row's normaliser too)
ROW_ROLES = ("scores", "scaled", "masked", "exps", "norm", "weights", "output")


@dataclass
class Placement:
    """Where a fragment's numbers sit in a step: fragment row r is step row rows[r] (or
    column, when the fragment is the step transposed); for "weighted", of query ``query``."""

    fragment: Fragment
    role: str
    rows: list[int]
    transposed: bool = False
    query: int | None = None
    desc: Description = field(default_factory=Description)
    given: bool = False  # an input of the example, not checked
    cols: list[int] | None = None  # step column of each fragment column (default: the same)


@dataclass
class Example:
    index: int
    placements: list[Placement] = field(default_factory=list)
    active_query: int | None = None  # the query the current section is about (0-based)
    shapes_cache: dict[str, tuple[int, ...]] = field(default_factory=dict, repr=False)
    shapes_for: tuple[object, ...] | None = field(default=None, repr=False)

    @property
    def given(self) -> dict[str, list[Placement]]:
        out: dict[str, list[Placement]] = {}
        for p in self.placements:
            if p.given:
                out.setdefault(p.role, []).append(p)
        return out

    @property
    def checked(self) -> list[Placement]:
        return [p for p in self.placements if not p.given]

    @property
    def lines(self) -> tuple[int, int]:
        lines = [ln for p in self.placements for ln in p.fragment.lines]
        return min(lines), max(lines)

    def inputs(self, exact: bool = True) -> dict[str, Box]:
        """The given steps as intervals (missing rows: not usable)."""
        out = {}
        for role, places in self.given.items():
            box = assemble(places, exact)
            if box is None:
                continue
            if role not in ("mask", "masked", "weights") and np.isinf(box.lo).any():
                continue  # -∞ marks masked scores; in a vector it is no number to compute with
            out[role] = box
        return out


def _claim_box(c: Claim, exact: bool) -> tuple[float, float]:
    if exact or c.masked:
        return c.value, c.value
    return c.value - c.half_unit, c.value + c.half_unit


def exact_input(places: list[Placement]) -> bool:
    """Inputs a person typed (integers, one decimal, or numbers in code) are exact; inputs
    printed with more digits were rounded from something longer."""
    for p in places:
        if p.fragment.region == "code":
            continue
        if any(c.decimals > 1 or c.exponent is not None for r in p.fragment.cells for c in r):
            return False
    return True


def assemble(places: list[Placement], exact: bool = True) -> Box | None:
    """The matrix the placements of one step print; None unless every row is there."""
    exact = exact and exact_input(places)
    rows: dict[int, list[tuple[float, float]]] = {}
    for p in places:
        cells = p.fragment.cells
        if p.transposed:
            cells = [list(col) for col in zip(*cells, strict=True)]
            targets = list(range(len(cells)))
        else:
            targets = p.rows
        for r, row in zip(targets, cells, strict=False):
            rows.setdefault(r, [_claim_box(c, exact) for c in row])
    if not rows or sorted(rows) != list(range(len(rows))):
        return None
    if len({len(r) for r in rows.values()}) != 1:
        return None
    ordered = [rows[i] for i in range(len(rows))]
    return Box(
        np.array([[lo for lo, _ in r] for r in ordered]),
        np.array([[hi for _, hi in r] for r in ordered]),
    )


def layout_by_shape(inputs: dict[str, Box]) -> tuple[str, ...]:
    """Projections that only fit as x·Wᵀ (torch's nn.Linear layout, out x in)."""
    if "x" not in inputs:
        return ()
    d = inputs["x"].shape[1]
    return tuple(
        w
        for w in ("wq", "wk", "wv")
        if w in inputs and inputs[w].shape[0] != d == inputs[w].shape[1]
    )


def shapes(example: Example) -> dict[str, tuple[int, ...]]:
    """The shape of every step the example's inputs can give."""
    key = tuple((p.role, p.fragment.index, tuple(p.rows)) for p in example.placements if p.given)
    if example.shapes_for != key:
        inputs = example.inputs()
        values = evaluate(inputs, Convention(transposed=layout_by_shape(inputs)))
        example.shapes_cache = {name: box.shape for name, box in values.at.items()}
        example.shapes_for = key
    return example.shapes_cache


def group(
    fragments: list[Fragment], defined: dict[str, str] | None = None
) -> tuple[list[Example], list[Fragment], list[Skipped]]:
    """Worked examples from the fragments that words name, the fragments no words name, and
    the fragments that fit no example (with why)."""
    examples: list[Example] = []
    unnamed: list[Fragment] = []
    skipped: list[Skipped] = []
    zero = counts_from_zero([t for f in fragments for t in (f.label, *f.context[:2])])
    for f in fragments:
        budget.tick()
        if f.batch:  # batch items (or heads) line up only by their place in each array
            skipped.append(skip(f.line, "skip.batch", n=f.batch + 1))
            continue
        d = describe(f.label, f.context)
        d = from_zero(d) if zero else d
        d = _as_defined(d, f.label, defined or {})
        roles = d.names or ([d.role] if d.role else [])
        if not roles:
            unnamed.append(f)
            continue
        if roles[0] == "mask" and not _is_mask(f):
            roles = [r for r in roles if r != "mask"] or []
            if not roles:
                unnamed.append(f)
                continue
        _place(f, d, roles, examples, skipped)
    return examples, unnamed, skipped


_SCALING = re.compile(r"scal|divid|√|\\sqrt|sqrt|缩放|除以", re.I)


def _no_weights(f: Fragment) -> bool:
    """Numbers no softmax gives, even a miscomputed one: many negative or above 1, or rows
    (and columns) that all add up to far from 1."""
    values = [[c.value for c in row if not c.masked] for row in f.cells]
    outside = sum(1 for row in values for v in row if v < 0 or v > 1 + 1e-9)
    if 3 * outside > sum(map(len, values)):  # one slip is a wrong weight; many, no weights
        return True
    columns = [list(col) for col in zip(*values, strict=False)]
    far = [all(abs(sum(line) - 1) > 0.2 for line in lines if line) for lines in (values, columns)]
    return far[0] and far[1]  # a softmax over the columns is still a softmax


_LAST_NAME = re.compile(r"(?<![\w\\])([A-Za-z]\w*)[\s$`]*[=:：]\s*$")


def _as_defined(d: Description, label: str, defined: dict[str, str]) -> Description:
    """A name the code set to a step means that step: "s = (…)" copied from S = QKᵀ/√d."""
    m = _LAST_NAME.search(label)
    role = defined.get(m.group(1).lower()) if m else None
    if role is None or role == d.role:
        return d
    return replace(d, role=role, names=[role])


def looks_like_weights(f: Fragment) -> bool:
    """Every row a probability distribution (entries in [0, 1] summing to 1, within the
    rounding they were written with), and not just zeros and ones."""
    values = [[c.value for c in row] for row in f.cells]
    flat = [v for row in values for v in row]
    if not flat or any(not 0 <= v <= 1 for v in flat) or set(flat) <= {0.0, 1.0}:
        return False
    for row, claims in zip(values, f.cells, strict=True):
        slack = sum(c.half_unit for c in claims) + 1e-9
        if abs(sum(row) - 1) > slack:
            return False
    return True


def _is_mask(f: Fragment) -> bool:
    values = {c.value for r in f.cells for c in r}
    return values <= {0.0, 1.0} or values <= {0.0, float("-inf")}


def _new(examples: list[Example]) -> Example:
    examples.append(Example(len(examples)))
    return examples[-1]


def _place(
    f: Fragment, d: Description, roles: list[str], examples: list[Example], skipped: list[Skipped]
) -> None:
    cur = examples[-1] if examples else _new(examples)
    roles = _by_numbers(f, roles, d)
    known = shapes(cur)
    if roles[0] in INPUT_ROLES or not _derivable(cur, roles[0], f, known):
        if f.kind != "equation":  # arithmetic checks itself; it never gives an input
            _place_given(f, d, roles, examples, skipped, known)
        return
    for k, r in enumerate(roles):
        p = _derived(cur, r, f, d, shapes(cur))
        if p is not None and k == 0 and _another_pass(cur, p):
            cur = _new(examples)  # the same inputs again, in another setting
            cur.placements = [g for g in examples[-2].placements if g.given]
            p = _derived(cur, r, f, d, shapes(cur))
        if p is None and k == 0 and f.kind != "equation":
            # a step of another shape: a new example that starts from it
            _new(examples).placements.append(_given(examples[-1], r, f, d))
            return
        if p is None:
            if f.kind != "equation":  # arithmetic is checked by itself all the same
                shape = f"{f.shape[0]}×{f.shape[1]}"
                skipped.append(skip(f.line, "skip.fits_no", shape=shape, step=f"qty.{r}"))
            return
        cur.placements.append(p)


def _another_pass(example: Example, p: Placement) -> bool:
    """Does the article compute the same rows again ("without scaling … with scaling"): the
    step printed again with other numbers, or after a later step of the same rows?"""
    if p.role == "weighted":
        return False
    for q in example.checked:
        if q.role == "weighted" or not _overlap(p, q):
            continue
        if q.role == p.role == "output" and q.fragment.shape[1] != p.fragment.shape[1]:
            continue  # one head's output and all heads' side by side
        if q.role == p.role and not _same_numbers(p, q):
            return True
        if q.role in DOWNSTREAM.get(p.role, ()) and q.role not in ("sums", "norm"):
            return True
    return False


def _overlap(p: Placement, q: Placement) -> bool:
    if not set(p.rows) & set(q.rows) or p.transposed != q.transposed:
        return False
    return p.cols is None or q.cols is None or bool(set(p.cols) & set(q.cols))


def _same_numbers(p: Placement, q: Placement) -> bool:
    """The same numbers, up to a unit in their last place, in the entries both print (a
    recap, or the same values recomputed by hand: not another pass)."""
    mine, theirs = _entries(p), _entries(q)
    return all(
        abs(mine[k].value - theirs[k].value) <= 2.01 * max(mine[k].half_unit, theirs[k].half_unit)
        or mine[k].value == theirs[k].value
        for k in mine.keys() & theirs.keys()
    )


def _entries(p: Placement) -> dict[tuple[int, int], Claim]:
    """Step (row, column) -> the number the placement prints there."""
    out = {}
    for r, row in enumerate(p.fragment.cells):
        for c, claim in enumerate(row):
            if p.transposed:
                out[(c, r)] = claim
            elif r < len(p.rows):
                out[(p.rows[r], p.cols[c] if p.cols and c < len(p.cols) else c)] = claim
    return out


def _by_numbers(f: Fragment, roles: list[str], d: Description) -> list[str]:
    """What the numbers show, over what the words near them say."""
    if roles[0] in ("scores", "scaled", "masked") and looks_like_weights(f):
        return ["weights"]  # rows of probabilities
    if roles[0] == "sums" and any(not 0.5 <= c.value <= 2 for row in f.cells for c in row):
        return ["norm"]  # row sums far from 1: the exponentials', the softmax's denominators
    if roles[0] == "weights" and not f.vector and _no_weights(f):
        # "… a range where the softmax still works:" over numbers above 1: scores
        return ["scaled" if _SCALING.search(" ".join([d.source, *f.context])) else "scores"]
    if roles[0] in ("scores", "scaled") and any(c.masked for row in f.cells for c in row):
        return ["masked"]  # -∞ where a query may not look: the scores after the mask
    return roles


def _place_given(
    f: Fragment,
    d: Description,
    roles: list[str],
    examples: list[Example],
    skipped: list[Skipped],
    known: dict[str, tuple[int, ...]],
) -> None:
    """An input: of the example so far, or the first of a new one."""
    cur = examples[-1]
    for r in roles:
        if r in DERIVED and _derivable(cur, r, f, known):
            continue
        if f.vector and _given_whole(cur, r):
            _repeat_row(cur, r, f, d, skipped)
            continue
        if _conflicts(cur, r, f, d):
            cur = _new(examples)
        cur.placements.append(_given(cur, r, f, d))


def _given_whole(example: Example, role: str) -> bool:
    return any(not p.fragment.vector for p in example.given.get(role, []))


def _repeat_row(
    example: Example, role: str, f: Fragment, d: Description, skipped: list[Skipped]
) -> None:
    """A vector named like an input given whole above: one of its rows again, or skipped."""
    box = assemble(example.given[role])
    if box is not None:
        for row in range(box.shape[0]):
            if _same_row(f, box, row):
                example.placements.append(Placement(f, role, [row], desc=d, given=True))
                return
    skipped.append(skip(f.line, "skip.given_whole", step=f"qty.{role}"))


def _derivable(example: Example, role: str, f: Fragment, known: dict[str, tuple[int, ...]]) -> bool:
    """Can the example compute this step from what it was given (so it is to be checked)?"""
    given = example.given
    if role not in known or role in given:
        return False
    if role in ("q", "k", "v") and f"w{role}" not in given:
        # no projection shown: Q = X is checked only where the numbers are X's
        x = example.inputs().get("x")
        if x is None or any(w in given for w in ("wq", "wk", "wv")):
            return False
        return _same(f, x)
    return True


def _same(f: Fragment, box: Box) -> bool:
    values = np.array([[c.value for c in r] for r in f.cells])
    if f.vector:
        return (
            any(np.allclose(values[0], row) for row in box.mid)
            if values.shape[1] == box.shape[1]
            else False
        )
    return values.shape == box.shape and bool(np.allclose(values, box.mid))


# The steps an input determines: once one of them is in an example, the input comes too late.
_SOFTMAX_ON = ("scaled", "masked", "exps", "norm", "weights", "sums", "weighted", "output")
DOWNSTREAM = {
    "x": ("xt", "q", "k", "v", "scores", *_SOFTMAX_ON),
    "mem": ("k", "v", "scores", *_SOFTMAX_ON),
    "wq": ("q", "scores", *_SOFTMAX_ON),
    "wk": ("k", "scores", *_SOFTMAX_ON),
    "wv": ("v", "weighted", "output"),
    "q": ("scores", *_SOFTMAX_ON),
    "k": ("scores", *_SOFTMAX_ON),
    "v": ("weighted", "output"),
    "xt": ("scores", *_SOFTMAX_ON),
    "scores": _SOFTMAX_ON,
    **{step: _SOFTMAX_ON[k + 1 :] for k, step in enumerate(_SOFTMAX_ON[:-1])},
    "sums": (),  # a check printed beside the weights; nothing is computed from it
}


def _conflicts(example: Example, role: str, f: Fragment, d: Description) -> bool:
    """Is this input already given with other numbers, or does it come after steps it
    determines (so a new example starts)?"""
    places = example.given.get(role)
    if not places:
        later = DOWNSTREAM.get(role, ())
        return any(p.role in later for p in example.placements)
    box = assemble(places)
    if box is None:
        return False
    if f.vector:
        row = _input_row(example, role, d, f.continues)
        if row >= box.shape[0]:
            return False
        return not _same_row(f, box, row)
    return not _same(f, box)


def _same_row(f: Fragment, box: Box, row: int) -> bool:
    values = np.array([c.value for c in f.cells[0]])
    return values.shape[0] == box.shape[1] and bool(np.allclose(values, box.mid[row]))


def _input_row(example: Example, role: str, d: Description, continues: bool = False) -> int:
    index = d.key_index if role in ("k", "v") else d.index
    if index is not None and not continues:
        return index - 1
    taken = {r for p in example.given.get(role, []) for r in p.rows}
    return max(taken) + 1 if taken else 0


def _given(example: Example, role: str, f: Fragment, d: Description) -> Placement:
    rows = [_input_row(example, role, d, f.continues)] if f.vector else list(range(f.shape[0]))
    return Placement(f, role, rows, transposed=d.transposed and not f.vector, desc=d, given=True)


def _tokens(example: Example) -> list[str]:
    for p in example.given.get("x", []) + example.given.get("q", []):
        if p.fragment.row_labels:
            return p.fragment.row_labels
    return []


def _row(
    example: Example,
    role: str,
    d: Description,
    n: int,
    continues: bool = False,
    f: Fragment | None = None,
) -> int | None:
    """The row a vector of this step fills."""
    placed = {r for p in example.checked if p.role == role for r in p.rows}
    if continues:  # the next one after the vector before it on the line
        free = [r for r in range(n) if r not in placed]
        return free[0] if free else None
    index = d.key_index if role in ("k", "v") else d.index
    if index is not None:
        return index - 1 if 0 < index <= n else None
    tokens = _tokens(example)
    if d.token and d.token in tokens:
        return tokens.index(d.token)
    active = example.active_query
    if role in ROW_ROLES and active is not None and active not in placed and active < n:
        return active
    free = [r for r in range(n) if r not in placed]
    fits = _fitting_rows(example, role, f) if f is not None else []
    if fits and (not free or free[0] not in fits):
        return fits[0]  # the numbers say which row it is (a row printed again, say)
    return free[0] if free else None


def _fitting_rows(example: Example, role: str, f: Fragment) -> list[int]:
    """Rows of the step whose values (unscaled or scaled by 1/√d_k) the vector matches."""
    inputs = example.inputs()
    layout = layout_by_shape(inputs)
    out: list[int] = []
    for scale in ("none", "sqrt"):
        conv = with_factor(Convention(scale=scale, transposed=layout), inputs)
        box = evaluate(inputs, conv).at.get(role)
        if box is None or box.ndim != 2 or box.shape[1] != f.shape[1]:
            continue
        for r in range(box.shape[0]):
            if r not in out and all(
                c.fits(box.lo[r, j], box.hi[r, j]) for j, c in enumerate(f.cells[0])
            ):
                out.append(r)
    return out


def _derived(
    example: Example, role: str, f: Fragment, d: Description, known: dict[str, tuple[int, ...]]
) -> Placement | None:
    if role not in known:
        return None  # an input named after a step ("W_Q = P.sum(…) ="), or nothing to derive
    if role == "weighted":
        return _weighted(example, f, d, known)
    shape = known[role]
    if role in ("sums", "norm") and f.shape == shape[::-1]:  # one per query, as a vector
        return Placement(f, role, list(range(f.shape[0])), transposed=True, desc=d)
    if f.vector:
        return _derived_row(example, role, f, d, shape)
    if (
        f.shape == shape or (_head_output(role, f.shape[1], shape) and f.shape[0] == shape[0])
    ) and not (d.transposed and shape[0] == shape[1]):
        return Placement(f, role, list(range(shape[0])), desc=d)
    if f.shape == shape[::-1]:
        return Placement(f, role, list(range(f.shape[0])), transposed=True, desc=d)
    return None


def _derived_row(
    example: Example, role: str, f: Fragment, d: Description, shape: tuple[int, ...]
) -> Placement | None:
    """A vector: one row of the step (or one entry of it)."""
    if f.shape[1] == 1 and shape[1] > 1 and role in ROW_ROLES:
        pair = _PAIR.search(f.label.translate(_SUBSCRIPTS))
        if f.kind == "equation" and len(indices_of(f.label)) < 2 and not pair:
            return None  # "√3 ≈ 1.7321" is arithmetic; an entry needs its two tokens
        return _entry(example, role, f, d, shape)
    if f.shape[1] != shape[1] and not _head_output(role, f.shape[1], shape):
        return None
    row = _row(example, role, d, shape[0], f.continues, f)
    if row is None:
        return None
    if role in ROW_ROLES:
        example.active_query = row
    return Placement(f, role, [row], desc=d)


def _head_output(role: str, width: int, shape: tuple[int, ...]) -> bool:
    """What one head of several gives: the output, some of the value columns wide."""
    return role == "output" and width < shape[1] and shape[1] % width == 0


_SUBSCRIPTS = str.maketrans("₀₁₂₃₄₅₆₇₈₉", "0123456789")
_PAIR = re.compile(
    r"\b[qx]_?\{?(\d+)\}?\s*(?:·|\\cdot|\*|@|⋅|•|\s)\s*[kx](?:\^?T|ᵀ)?_?\{?(\d+)\}?|"
    # an entry by its two indices: α_{12}, a_{1,2}, s_{21}, w_12
    r"(?:\\alpha|α|\b[aswpe])_\{?([1-9]),?\s*([1-9])\}?(?!\d)",
    re.I,
)


def _entry(
    example: Example, role: str, f: Fragment, d: Description, shape: tuple[int, ...]
) -> Placement | None:
    """One number of a row step: "q1 · k2 = … = 4" is score (1, 2)."""
    pair = _PAIR.search(d.source.translate(_SUBSCRIPTS))
    if pair:  # "query 2: q_2 · k_1" or "α_{21}": the pair says it
        first, second = [int(g) for g in pair.groups() if g is not None]
        base = 0 if d.from_zero or 0 in (first, second) else 1  # q₁·k₀: counted from 0
        row, col = first - base, second - base
    elif len(d.indices) >= 2:
        row, col = d.indices[0] - 1, d.indices[1] - 1
    else:
        row = example.active_query or 0
        taken = {
            c
            for p in example.checked
            if p.role == role and p.cols is not None and p.rows == [row]
            for c in p.cols
        }
        free = [c for c in range(shape[1]) if c not in taken]
        col = d.indices[0] - 1 if d.indices else (free[0] if free else -1)
    if not (0 <= row < shape[0] and 0 <= col < shape[1]):
        return None
    example.active_query = row
    return Placement(f, role, [row], desc=d, cols=[col])


def _weighted(
    example: Example, f: Fragment, d: Description, known: dict[str, tuple[int, ...]]
) -> Placement | None:
    """Products weight·value of one query: a (keys × dv) matrix, or one key's vector."""
    n, m, dv = known["weighted"]
    if f.shape[1] != dv:
        return None
    if not f.vector:
        if f.shape[0] != m:
            return None
        query = d.index - 1 if d.index and d.index <= n else (example.active_query or 0)
        return Placement(f, "weighted", list(range(m)), query=query, desc=d)
    query = example.active_query or 0
    placed = {
        r for p in example.checked if p.role == "weighted" and p.query == query for r in p.rows
    }
    free = [j for j in range(m) if j not in placed]
    if not free:
        return None
    return Placement(f, "weighted", [free[0]], query=query, desc=d)
