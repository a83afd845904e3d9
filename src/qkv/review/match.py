"""Match each extracted matrix to the quantity it claims to be, and judge its numbers.

Candidates come from qkv.core for every plausible setting (scaled or not, causal or not).
A caption may name the quantity and the setting; the numbers decide among the rest. The
setting a matrix claims carries on to the next ones, so a softmax table computed without
the 1/sqrt(d_k) that the scores above it used is reported as "scale_forgotten", once.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from qkv.core.masks import causal_mask
from qkv.core.softmax import softmax
from qkv.core.trace import trace
from qkv.errors import InputError
from qkv.review.extract import Matrix
from qkv.review.hints import Hints, read_hints
from qkv.review.messages import t

INPUTS = ("x", "wq", "wk", "wv", "q", "k", "v")
QUANTITIES = ("xt", "q", "k", "v", "scores", "scaled", "masked", "weights", "output")
DEPENDS_ON_SETTING = ("scaled", "masked", "weights", "output")
SCALES = ("none", "sqrt", "double")  # double: 1/sqrt(d_k) applied twice (only as a diagnosis)


@dataclass(frozen=True)
class Setting:
    scale: str = "none"
    causal: str | None = None
    variant: str = "normal"  # normal | columns | mask_after

    def to_dict(self) -> dict[str, object]:
        return {"scale": self.scale, "causal": self.causal, "variant": self.variant}


@dataclass
class Finding:
    matrix: int
    kind: str  # "mismatch" or a diagnosis name
    line: int
    row: int | None = None
    col: int | None = None
    claimed: str | None = None
    expected: float | None = None
    expected_rounded: str | None = None
    detail: str = ""

    def to_dict(self) -> dict[str, object]:
        d: dict[str, object] = {"matrix": self.matrix, "kind": self.kind, "line": self.line}
        if self.row is not None:
            d.update(
                row=self.row,
                col=self.col,
                claimed=self.claimed,
                expected=_json_number(self.expected),
                expected_rounded=self.expected_rounded,
            )
        if self.detail:
            d["detail"] = self.detail
        return d


@dataclass
class Judged:
    matrix: Matrix
    quantity: str | None  # None: unrecognised
    setting: Setting | None = None
    status: str = "ok"  # input | ok | mismatch | diagnosis | unrecognised
    checked: int = 0
    findings: list[Finding] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        m = self.matrix
        return {
            "index": m.index,
            "line": m.line,
            "kind": m.kind,
            "shape": list(m.shape),
            "quantity": self.quantity or "unrecognised",
            "setting": None if self.setting is None else self.setting.to_dict(),
            "status": self.status,
            "checked": self.checked,
            "caption": m.caption[0] if m.caption else "",
        }


def _json_number(x: float | None) -> float | str | None:
    if x is None or math.isfinite(x):
        return x
    return "-inf" if x < 0 else "inf"


def values(m: Matrix) -> np.ndarray:
    return np.array([[c.value for c in row] for row in m.cells], dtype=np.float64)


def fit(m: Matrix, true: np.ndarray) -> float:
    """Share of the written numbers that the true values round to."""
    if true.shape != m.shape:
        return -1.0
    ok = sum(
        c.consistent(float(true[i, j])) for i, row in enumerate(m.cells) for j, c in enumerate(row)
    )
    return ok / (m.shape[0] * m.shape[1])


class Candidates:
    """Every quantity of every setting, computed once from the inputs."""

    def __init__(self, inputs: dict[str, np.ndarray]):
        self.inputs = inputs
        base: dict[str, Any] = {k: v for k, v in inputs.items() if k in INPUTS}
        first = trace(**base, scale="none")
        self.q, self.k, self.v = first["q"].matrix, first["k"].matrix, first["v"].matrix
        self.d = self.q.shape[1]
        self.L, self.S = self.q.shape[0], self.k.shape[0]
        self.fixed: dict[str, np.ndarray] = {"scores": first["scores"].matrix}
        if "x" in inputs:
            self.fixed["xt"] = inputs["x"].T
            for name in ("q", "k", "v"):
                if f"w{name}" in inputs:
                    self.fixed[name] = first[name].matrix
        self.table: dict[tuple[str, Setting], np.ndarray] = {}
        causals: list[str | None] = [None, "bottom_right"]
        if self.L != self.S:
            causals.append("top_left")
        for scale, causal in itertools.product(SCALES, causals):
            self._add(scale, causal)

    def _add(self, scale: str, causal: str | None) -> None:
        factor = {"none": 1.0, "sqrt": 1 / math.sqrt(self.d), "double": 1 / self.d}[scale]
        scaled = self.fixed["scores"] * factor
        allowed = None if causal is None else causal_mask(self.L, self.S, causal)  # type: ignore[arg-type]
        normal = Setting(scale, causal)
        if scale != "none":
            self.table[("scaled", normal)] = scaled
        if allowed is not None:
            self.table[("masked", normal)] = np.where(allowed, scaled, -np.inf)
        variants = {
            "normal": softmax(scaled, allowed, axis=-1),
            "columns": softmax(scaled, allowed, axis=0),
        }
        if allowed is not None:
            variants["mask_after"] = np.where(allowed, softmax(scaled), 0.0)
        for variant, w in variants.items():
            s = Setting(scale, causal, variant)
            self.table[("weights", s)] = w
            self.table[("output", s)] = w @ self.v

    def get(self, qty: str, setting: Setting) -> np.ndarray | None:
        if qty in self.fixed:
            return self.fixed[qty]
        return self.table.get((qty, setting))

    def settings(self) -> list[Setting]:
        return sorted({s for (_, s) in self.table}, key=_setting_rank)


def _setting_rank(s: Setting) -> tuple[int, int, int]:
    return (
        ("normal", "columns", "mask_after").index(s.variant),
        SCALES.index(s.scale),
        (None, "bottom_right", "top_left").index(s.causal),
    )


def _is_normal(s: Setting, claim_scale: str | None, claim_causal: bool | None) -> bool:
    if s.variant != "normal" or s.scale == "double":
        return False
    if claim_scale is not None and s.scale != claim_scale:
        return False
    return claim_causal is None or (s.causal is not None) == claim_causal


def _diagnosis(found: Setting, claim_scale: str | None, claim_causal: bool | None) -> str:
    if found.variant == "columns":
        return "softmax_over_columns"
    if found.variant == "mask_after":
        return "mask_after_softmax"
    if found.scale == "double":
        return "scale_applied_twice"
    if claim_scale is not None and found.scale != claim_scale:
        return "scale_forgotten" if claim_scale == "sqrt" else "scale_unexpected"
    return "mask_forgotten" if claim_causal else "mask_unexpected"


def _dropout_fits(m: Matrix, true: np.ndarray) -> bool:
    """Some weights zeroed and the rest scaled by one factor 1/(1-p) > 1."""
    if true.shape != m.shape:
        return False
    claimed = values(m)
    keep = claimed != 0
    if keep.all() or not keep.any() or np.any(true[keep] <= 0):
        return False
    factor = float(np.median(claimed[keep] / true[keep]))
    if factor <= 1.01:
        return False
    return all(
        (not keep[i, j])
        or c.consistent(factor * float(true[i, j]))
        or abs(c.value - factor * true[i, j]) <= 0.02 * factor * true[i, j] + c.half_unit
        for i, row in enumerate(m.cells)
        for j, c in enumerate(row)
    )


def find_inputs(matrices: list[Matrix], hints: list[Hints]) -> dict[str, int]:
    """Which matrices are the inputs: named ones first, else the first matrix is X."""
    named: dict[str, int] = {}
    for i, h in enumerate(hints):
        if h.quantity in INPUTS and h.quantity not in named:
            named[h.quantity] = i
    if "x" in named:
        x_shape = matrices[named["x"]].shape
        out = {"x": named["x"]}
        for w in ("wq", "wk", "wv"):
            if w in named and matrices[named[w]].shape[0] == x_shape[1]:
                out[w] = named[w]
        return out
    if all(n in named for n in ("q", "k", "v")):
        return {n: named[n] for n in ("q", "k", "v")}
    return {"x": 0}


def judge(matrices: list[Matrix]) -> list[Judged]:
    """Match and check every matrix, in order."""
    if not matrices:
        raise InputError(
            "no matrix found: the article shows no table, bracket rows or LaTeX matrix"
        )
    hints = [read_hints(m.caption) for m in matrices]
    roles = find_inputs(matrices, hints)
    inputs = {name: values(matrices[i]) for name, i in roles.items()}
    for name, arr in inputs.items():
        if np.any(~np.isfinite(arr)):
            raise InputError(
                f"the input {name.upper()} (line {matrices[roles[name]].line}) "
                "has non-finite entries"
            )
    try:
        cands = Candidates(inputs)
    except InputError as e:
        raise InputError(f"the inputs do not fit together: {e}") from None
    role_of = {i: name for name, i in roles.items()}
    in_force_scale: str | None = None
    in_force_causal: bool | None = None
    judged = []
    for i, (m, h) in enumerate(zip(matrices, hints, strict=True)):
        if i in role_of:
            judged.append(Judged(m, role_of[i], status="input"))
            continue
        claim_scale = h.scale or in_force_scale
        claim_causal = h.causal if h.causal is not None else in_force_causal
        j = _judge_one(m, h, cands, claim_scale, claim_causal)
        judged.append(j)
        # The setting a matrix claims carries on; a diagnosed matrix does not change it.
        if j.quantity in DEPENDS_ON_SETTING and j.setting is not None:
            if j.status == "diagnosis":
                in_force_scale, in_force_causal = claim_scale, claim_causal
            else:
                in_force_scale = j.setting.scale
                in_force_causal = j.setting.causal is not None
    return judged


class Fit(NamedTuple):
    """How well one candidate (a quantity under a setting) explains a matrix."""

    share: float  # of the written numbers that the candidate's true values round to
    qty: str
    setting: Setting
    normal: bool  # a setting the text allows, rather than a known mistake
    true: np.ndarray


def _hinted_quantity(h: Hints, c: Candidates) -> str | None:
    hint = h.quantity
    if hint == "scores" and h.scale == "sqrt":
        return "scaled"
    if hint == "scores" and h.causal:
        return "masked"
    if hint in INPUTS and hint not in c.fixed:
        return None  # a second input-like matrix: let the numbers say what it is
    return hint


def _fits(
    m: Matrix, c: Candidates, claim_scale: str | None, claim_causal: bool | None
) -> list[Fit]:
    fits = []
    for qty in QUANTITIES:
        for s in [Setting()] if qty in c.fixed else c.settings():
            arr = c.get(qty, s)
            if arr is not None and arr.shape == m.shape:
                normal = qty in c.fixed or _is_normal(s, claim_scale, claim_causal)
                fits.append(Fit(fit(m, arr), qty, s, normal, arr))
    return fits


def _judge_one(
    m: Matrix, h: Hints, c: Candidates, claim_scale: str | None, claim_causal: bool | None
) -> Judged:
    """Match one matrix: ok, one diagnosis, mismatched numbers, or unrecognised."""
    hint = _hinted_quantity(h, c)
    fits = _fits(m, c, claim_scale, claim_causal)
    normal = sorted(
        (f for f in fits if f.normal),
        key=lambda f: (f.share, f.qty == hint, [-r for r in _setting_rank(f.setting)]),
        reverse=True,
    )
    hinted = [f for f in normal if f.qty == hint]
    # The caption's quantity wins unless another quantity fits every number.
    best = normal[0] if normal else None
    if hinted and (best is None or best.share < 1.0 or hinted[0].share == 1.0):
        best = hinted[0]
    n_cells = m.shape[0] * m.shape[1]
    if best is not None and best.share == 1.0:
        return Judged(m, best.qty, _setting_of(best.qty, best.setting, c), "ok", n_cells)
    # A diagnosis: the whole matrix fits another computation of the claimed quantity.
    target = hint or (best.qty if best else None)
    for f in sorted(fits, key=lambda f: _setting_rank(f.setting)):
        if f.share == 1.0 and not f.normal and (target is None or f.qty == target):
            kind = _diagnosis(f.setting, claim_scale, claim_causal)
            return _diagnosed(m, f.qty, best.setting if best else f.setting, kind, n_cells)
    transposed = _transposed(m, target, c)
    if transposed is not None:
        return _diagnosed(m, target or "", transposed, "k_transposed", n_cells)
    if best is not None and best.qty == "weights" and _dropout_fits(m, best.true):
        return _diagnosed(m, "weights", best.setting, "dropout", n_cells)
    if best is None or (best.share < 0.5 and hint is None):
        return Judged(m, None, None, "unrecognised", 0)
    setting = _setting_of(best.qty, best.setting, c)
    return Judged(m, best.qty, setting, "mismatch", n_cells, _mismatches(m, best.true))


def _transposed(m: Matrix, target: str | None, c: Candidates) -> Setting | None:
    """The setting under which the matrix is the transpose of the claimed quantity."""
    if target not in ("scores", "scaled", "masked", "weights"):
        return None
    for s in c.settings():
        arr = c.get(target, s)
        if arr is None or s.variant != "normal" or arr.T.shape != m.shape:
            continue
        symmetric = arr.shape == arr.T.shape and np.array_equal(arr, arr.T)
        if not symmetric and fit(m, arr.T) == 1.0:
            return s
    return None


def _mismatches(m: Matrix, true: np.ndarray) -> list[Finding]:
    """A finding for every written number that the true value does not round to."""
    return [
        Finding(
            m.index,
            "mismatch",
            m.row_lines[i],
            i,
            j,
            claim.text,
            float(true[i, j]),
            claim.rounded(float(true[i, j])),
        )
        for i, row in enumerate(m.cells)
        for j, claim in enumerate(row)
        if not claim.consistent(float(true[i, j]))
    ]


def _setting_of(qty: str, s: Setting, c: Candidates) -> Setting | None:
    return None if qty in c.fixed else s


def _diagnosed(m: Matrix, qty: str, s: Setting, kind: str, n: int) -> Judged:
    f = Finding(m.index, kind, m.line, detail=t("en", f"diag.{kind}"))
    return Judged(m, qty, s, "diagnosis", n, [f])
