"""The steps of attention as the checker recomputes them, on intervals, under a convention.

    x -> q = x·W_Q (or x·W_Qᵀ, or x itself), k, v -> scores = q·kᵀ -> scaled -> masked
      -> weights = softmax(rows) -> weighted[i] = weights[i, j]·v[j] -> output = weights·v
    (and sums: each row of the weights added up, as notebooks print to show it is 1; and for
    a softmax written out by hand, exps = e^masked (0 where masked) and norm = their row sums:
    weights computed from printed exps are exps / norm)

``evaluate`` walks these steps once. Given only the inputs, it gives the true values. Given
also what the article printed, each step is computed from the printed values of the steps
before it, where they were printed: what the author would have got by carrying their own
numbers on. A printed number that is wrong against the truth but follows from the printed
numbers before it is a consequence of an earlier mistake, not a mistake of its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from qkv.core.masks import Align, causal_mask
from qkv.review import intervals as iv
from qkv.review.intervals import Box

# The order the steps are computed in; every step reads only steps before it.
ORDER = (
    "x", "mem", "wq", "wk", "wv", "mask", "xt", "q", "k", "v",
    "scores", "scaled", "masked", "exps", "norm", "weights", "sums", "weighted", "output",
)  # fmt: skip
# mem: what the keys and values are computed from in cross-attention (the encoder's states)
INPUT_ROLES = ("x", "mem", "wq", "wk", "wv", "mask")
DERIVED = (
    "xt", "q", "k", "v", "scores", "scaled", "masked", "exps", "norm", "weights", "sums",
    "weighted", "output",
)  # fmt: skip


@dataclass(frozen=True)
class Convention:
    """One reading of a worked example: everything the article may have chosen."""

    scale: str = "none"  # none | sqrt | double (1/d_k, a mistake) | a number such as "1/8"
    factor: float = 1.0
    causal: Align | None = None
    padded: tuple[int, ...] = ()  # keys no query may look at (padding), 0-based
    heads: int = 1  # q, k and v split by columns into this many heads …
    head: int = 0  # … of which the example's scores, weights and output are this one
    transposed: tuple[str, ...] = ()  # projections used as x·Wᵀ (torch's nn.Linear layout)
    axis: int | None = -1  # softmax over rows (-1); over columns (0) or all (None): mistakes
    variant: str = "normal"  # normal | mask_after (softmax, then the mask: a mistake)

    def to_dict(self) -> dict[str, object]:
        return {
            "scale": self.scale,
            "factor": self.factor,
            "causal": self.causal,
            "padded_keys": list(self.padded),
            "head": None if self.heads == 1 else f"{self.head + 1} of {self.heads}",
            "projection": {w: "x·Wᵀ" for w in self.transposed} or "x·W",
            "softmax": {-1: "rows", 0: "columns", None: "whole matrix"}[self.axis],
            "variant": self.variant,
        }


@dataclass
class Values:
    """Each step's value (``at``) and, for steps the article printed, what the steps before
    it give (``derived``), as intervals."""

    at: dict[str, Box] = field(default_factory=dict)
    derived: dict[str, Box] = field(default_factory=dict)


def d_k(inputs: dict[str, Box]) -> int | None:
    """The key dimension: the width of the queries (or of X when Q = X)."""
    for name in ("q", "k"):
        if name in inputs:
            return inputs[name].shape[1]
    if "wq" in inputs:
        return inputs["wq"].shape[1]  # refined by the caller when W_Q is transposed
    if "x" in inputs:
        return inputs["x"].shape[1]
    return None


def factor_of(scale: str, dk: int) -> float:
    if scale == "none":
        return 1.0
    if scale == "sqrt":
        return 1.0 / math.sqrt(dk)
    if scale == "double":
        return 1.0 / dk
    num, _, den = scale.partition("/")
    return float(num) / float(den)


def evaluate(
    inputs: dict[str, Box], conv: Convention, printed: dict[str, Box] | None = None
) -> Values:
    """Every step from the inputs; with ``printed``, each step reads the printed values of
    the steps before it where there are some (NaN in a printed box: not printed)."""
    out = Values()
    for name in ORDER:
        if name in inputs:
            out.at[name] = inputs[name]
            continue
        value = _step(name, out.at, conv, printed)
        if value is None:
            continue
        if printed is not None and name in printed:
            out.derived[name] = value
            value = _merge(printed[name], value)
        out.at[name] = value
    return out


def _merge(printed: Box, derived: Box) -> Box:
    shown = ~np.isnan(printed.lo)
    return Box(np.where(shown, printed.lo, derived.lo), np.where(shown, printed.hi, derived.hi))


def _project(name: str, at: dict[str, Box], conv: Convention) -> Box | None:
    source = "mem" if name in ("k", "v") and "mem" in at else "x"
    x, w = at.get(source), at.get(f"w{name}")
    if x is None:
        return None
    if w is None:
        return x  # no projection printed: Q = K = V = X, as the article this began from
    w = w.T if f"w{name}" in conv.transposed else w
    return iv.matmul(x, w) if x.shape[1] == w.shape[0] else None


def _allowed(at: dict[str, Box], conv: Convention, shape: tuple[int, ...]) -> np.ndarray | None:
    if "mask" in at and at["mask"].shape in (shape, (1, shape[1])):
        m = at["mask"].lo  # 0/1 (1 = may attend), or additive 0/-inf (0 = may attend)
        given = np.asarray(m == 0) if np.isneginf(m).any() else np.asarray(m != 0)
        return np.broadcast_to(given, shape)  # one row: a key padding mask, for every query
    allowed: np.ndarray | None = None
    if conv.causal is not None:
        allowed = causal_mask(shape[0], shape[1], conv.causal)
    if conv.padded:
        keys = np.ones(shape, dtype=bool)
        keys[:, [j for j in conv.padded if j < shape[1]]] = False
        allowed = keys if allowed is None else allowed & keys
    return allowed


def _step(
    name: str, at: dict[str, Box], conv: Convention, printed: dict[str, Box] | None
) -> Box | None:
    """One step from the values of the steps before it (None when they are missing)."""
    if name == "xt":
        return at["x"].T if "x" in at else None
    if name in ("q", "k", "v"):
        return _project(name, at, conv)
    if name == "scores":
        q, k = head_of(at.get("q"), conv), head_of(at.get("k"), conv)
        return (
            iv.matmul(q, k.T)
            if q is not None and k is not None and q.shape[1] == k.shape[1]
            else None
        )
    before = {"scaled": "scores", "masked": "scaled", "weights": "masked"}
    if name in before:
        if before[name] not in at:
            return None
        if name == "scaled":
            return at["scores"].scale(conv.factor)
        if name == "masked":
            return iv.mask(at["scaled"], _allowed(at, conv, at["scaled"].shape))
        return _weights(at, conv, printed)
    if name in ("exps", "norm", "sums"):
        return _written_out(name, at)
    v = head_of(at.get("v"), conv)
    if "weights" not in at or v is None or v.shape[0] != at["weights"].shape[1]:
        return None
    at = {**at, "v": v}  # this head's values
    return _weighted(at) if name == "weighted" else _output(at, printed)


def head_of(box: Box | None, conv: Convention) -> Box | None:
    """The columns of one head (the whole matrix with one head; None when they do not split)."""
    if box is None or conv.heads == 1:
        return box
    width, rest = divmod(box.shape[1], conv.heads)
    if rest:
        return None
    cols = slice(conv.head * width, (conv.head + 1) * width)
    return Box(box.lo[:, cols], box.hi[:, cols])


def _weighted(at: dict[str, Box]) -> Box | None:
    """(queries, keys, dv): weight i, j times value j."""
    w, v = at["weights"], at["v"]
    if w.lo.size * v.shape[1] > iv.CHUNK:  # nobody prints (queries, keys, dv) this large
        return None
    return iv.multiply(Box(w.lo[:, :, None], w.hi[:, :, None]), Box(v.lo[None], v.hi[None]))


def _written_out(name: str, at: dict[str, Box]) -> Box | None:
    """exps = e^masked (0 where masked); norm and sums: the row sums of the exponentials and
    of the weights, (queries, 1)."""
    before = at.get({"exps": "masked", "norm": "exps", "sums": "weights"}[name])
    if before is None:
        return None
    if name == "exps":
        return _exp(before)
    return Box(before.lo.sum(1, keepdims=True), before.hi.sum(1, keepdims=True))


def _exp(m: Box) -> Box:
    with np.errstate(over="ignore"):
        return Box(np.exp(m.lo), np.exp(m.hi))  # e^-inf = 0: masked entries weigh nothing


def _weights(at: dict[str, Box], conv: Convention, printed: dict[str, Box] | None) -> Box:
    if printed is not None and ("exps" in printed or "norm" in printed) and "norm" in at:
        # the softmax written out: each printed exponential over its printed row sum
        e, z = at["exps"], at["norm"]
        with np.errstate(divide="ignore", invalid="ignore"):
            return Box(e.lo / z.hi, e.hi / z.lo)
    if conv.variant == "mask_after" and "scaled" in at:
        allowed = _allowed(at, conv, at["scaled"].shape)
        w = iv.softmax(at["scaled"], conv.axis)
        if allowed is None:
            return w
        return Box(np.where(allowed, w.lo, 0.0), np.where(allowed, w.hi, 0.0))
    return iv.softmax(at["masked"], conv.axis)


def _output(at: dict[str, Box], printed: dict[str, Box] | None) -> Box:
    """weights·v; rows whose weighted values were printed are the sum of those (as written)."""
    out = iv.matmul(at["weights"], at["v"])
    if printed is None or "weighted" not in printed or "weighted" not in at:
        return out
    shown = ~np.isnan(printed["weighted"].lo).all(axis=(1, 2))
    summed = at["weighted"]
    lo = np.where(shown[:, None], summed.lo.sum(axis=1), out.lo)
    hi = np.where(shown[:, None], summed.hi.sum(axis=1), out.hi)
    return Box(lo, hi)


def with_factor(conv: Convention, inputs: dict[str, Box]) -> Convention:
    """The convention with its scale factor worked out for these inputs."""
    dk = d_k(inputs) or 1
    if "wq" in inputs and "wq" in conv.transposed:
        dk = inputs["wq"].shape[0]
    return replace(conv, factor=factor_of(conv.scale, max(1, dk // conv.heads)))


Entry = tuple[str, tuple[int, ...]]  # a step and an index into it (-1: every position)
_ENTRYWISE = {"scaled": "scores", "masked": "scaled", "exps": "masked"}


def depends_on(name: str, idx: tuple[int, ...], shown_weighted: set[int]) -> list[Entry]:
    """The entries of earlier steps that entry ``idx`` of step ``name`` is computed from."""
    i = idx[0]
    if name == "xt":
        return [("x", (idx[1], i))]
    if name in ("q", "k", "v"):
        return [("x", (i, -1)), ("mem", (i, -1)), (f"w{name}", (-1, idx[1]))]
    if name == "scores":
        return [("q", (i, -1)), ("k", (idx[1], -1))]
    if name in _ENTRYWISE:  # the same entry of the step before
        return [(_ENTRYWISE[name], idx)]
    if name in ("weights", "sums", "norm"):  # the whole row of the step before
        before = {"weights": "masked", "sums": "weights", "norm": "exps"}[name]
        written_out: list[Entry] = [("exps", (i, -1)), ("norm", (i, 0))]
        return [(before, (i, -1)), *(written_out if name == "weights" else [])]
    if name == "weighted":
        return [("weights", (i, idx[1])), ("v", (idx[1], idx[2]))]
    if name == "output":
        if i in shown_weighted:
            return [("weighted", (i, -1, idx[1]))]
        return [("weights", (i, -1)), ("v", (-1, idx[1]))]
    return []
