"""trace(): attention for one sequence, computed step by step with every intermediate kept.

    inputs -> Q, K, V -> scores -> [scaled] -> [masked] -> weights -> [weighted] -> output
           -> [what 1/sqrt(d_k) would change]

Each arrow is one small function below; each adds a labelled Step (with exact numbers where
a person can write them down) to the Trace.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from qkv import limits
from qkv.core import exact as ex
from qkv.core.attention import weighted_sum
from qkv.core.masks import Align, as_mask, combine_masks, normalize_causal, structure_mask
from qkv.core.matrix import as_matrix, count
from qkv.core.scale import ScaleArg, is_sqrt, resolve_scale
from qkv.core.softmax import masked_softmax
from qkv.core.trace.record import ScaleContrast, Step, Trace
from qkv.errors import InputError

PROJECTIONS = (("wq", "W_Q", "q"), ("wk", "W_K", "k"), ("wv", "W_V", "v"))


def trace(
    x: Any = None,
    *,
    q: Any = None,
    k: Any = None,
    v: Any = None,
    wq: Any = None,
    wk: Any = None,
    wv: Any = None,
    tokens: Sequence[str] | None = None,
    key_tokens: Sequence[str] | None = None,
    scale: ScaleArg = "sqrt",
    mask: Any = None,
    causal: bool | str | None = False,
    window: int | Sequence[int] | None = None,
    lengths: int | None = None,
    document_ids: Sequence[int] | None = None,
    example: str | None = None,
    contrast: bool = False,
    rank: bool = False,
) -> Trace:
    """Compute attention step by step and keep every intermediate.

    Self-attention: give ``x`` (tokens x d) and optionally projections ``wq``/``wk``/``wv``
    (without them Q = K = V = X, as in the article). Cross-attention: give ``q``, ``k``, ``v``.
    ``mask``: boolean (True = may attend) or additive numbers, shape (queries, keys).
    Structured masks, ANDed with it (qkv.core.masks, as everywhere in qkv): ``window`` w or
    (left, right) keys around each query's position; ``lengths``: the first n keys are real,
    the rest padding; ``document_ids``: one per key, a query sees only its own document's.
    ``contrast``: when unscaled, also show what 1/sqrt(d_k) would change.
    ``rank``: for a single query, add each key's weighted value and rank the keys.
    """
    align = normalize_causal(causal)
    if x is not None:
        if q is not None or k is not None or v is not None:
            raise InputError("give either x (self-attention) or q, k, v (cross-attention)")
        if key_tokens is not None:
            raise InputError("key tokens apply to cross-attention (q, k, v), not to x")
        chain = self_inputs(x, {"wq": wq, "wk": wk, "wv": wv}, tokens)
    else:
        if wq is not None or wk is not None or wv is not None:
            raise InputError("projections W_Q, W_K, W_V apply to x, not to q, k, v given directly")
        chain = cross_inputs(q, k, v, tokens, key_tokens)
    add_scores(chain)
    s_value, s_text, _ = add_scaled(chain, scale)
    structure = Structure(window, lengths, document_ids)
    add_masked(chain, mask, align, structure)
    add_weights(chain)
    ranking = add_weighted(chain) if rank and chain.n_q == 1 else []
    add_output(chain)
    return Trace(
        steps=chain.steps,
        scale=s_value,
        scale_text=s_text,
        d_k=chain.d_k,
        causal=align,
        example=example,
        contrast=scale_contrast(chain) if contrast and s_value == 1.0 else None,
        ranking=ranking,
    )


@dataclass
class Chain:
    """The steps so far and what the next step works on."""

    steps: list[Step]
    q: Step
    k: Step
    v: Step
    current: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # the scores so far
    current_exact: np.ndarray | None = None
    allowed: np.ndarray | None = None  # True = may attend, after masking
    weights: np.ndarray | None = None

    @property
    def tokens(self) -> list[str]:
        return self.q.rows

    @property
    def key_tokens(self) -> list[str]:
        return self.k.rows

    @property
    def d_k(self) -> int:
        return self.q.shape[1]

    @property
    def n_q(self) -> int:
        return self.q.shape[0]

    def add(self, step: Step) -> Step:
        self.steps.append(step)
        return step


def _labels(n: int, prefix: str) -> list[str]:
    return [f"{prefix}{i + 1}" for i in range(n)]


def _check_tokens(tokens: Sequence[str] | None, n: int, what: str) -> list[str] | None:
    if tokens is None:
        return None
    tokens = [str(t) for t in tokens]
    check_labels(tokens, what)
    if len(tokens) != n:
        rows = "row" if n == 1 else "rows"
        raise InputError(f"{len(tokens)} tokens given for {n} {rows} of {what}")
    return tokens


def check_labels(tokens: Sequence[str], what: str) -> None:
    """InputError for a label longer than limits.MAX_LABEL: a label, not a text."""
    for i, t in enumerate(tokens, start=1):
        if len(t) > limits.MAX_LABEL:
            raise InputError(
                f"token {i} of {what} has {len(t):,} characters; at most {limits.MAX_LABEL}"
            )


def self_inputs(x: Any, projections: dict[str, Any], tokens: Sequence[str] | None) -> Chain:
    """X, then W_Q/W_K/W_V where given, then Q, K, V (each X·W, or X itself)."""
    xm, xe = as_matrix(x, "X", limits.MAX_TOKENS)
    n, d = xm.shape
    tok = _check_tokens(tokens, n, "X") or _labels(n, "t")
    dims = _labels(d, "")
    steps = [Step("x", xm, tok, dims, "X", "X", exact=xe)]
    made: dict[str, Step] = {}
    for wid, label, _ in PROJECTIONS:
        if projections[wid] is None:
            continue
        wm, we = as_matrix(projections[wid], label)
        if wm.shape[0] != d:
            rows = f"row{'s' * (wm.shape[0] != 1)}"
            raise InputError(
                f"X and {label} do not fit: X has {count(d, 'column')}, {label} has "
                f"{wm.shape[0]} {rows}"
            )
        tex = label.replace("_", "_{") + "}"
        made[wid] = Step(wid, wm, dims, _labels(wm.shape[1], ""), label, tex, exact=we)
        steps.append(made[wid])
    for wid, label, sid in PROJECTIONS:
        big = sid.upper()
        if wid in made:
            w = made[wid]
            step = Step(
                sid,
                xm @ w.matrix,
                tok,
                list(w.cols),
                f"{big} = X·{label}",
                f"{big} = X{w.latex}",
                exact=ex.matmul(xe, w.exact),
                operands=("x", wid),
            )
        else:
            step = Step(sid, xm, tok, dims, f"{big} = X", f"{big} = X", exact=xe, same_as="x")
        steps.append(step)
    q, k = steps[-3], steps[-2]
    if q.shape[1] != k.shape[1]:
        raise InputError(
            f"Q and K do not fit: {q.formula} has {count(q.shape[1], 'column')}, {k.formula} "
            f"has {k.shape[1]}; give W_Q and W_K the same number of columns"
        )
    return Chain(steps, q, k, steps[-1])


def cross_inputs(
    q: Any, k: Any, v: Any, tokens: Sequence[str] | None, key_tokens: Sequence[str] | None
) -> Chain:
    """Q, K and V given directly (cross-attention)."""
    missing = [n for n, m in (("q", q), ("k", k), ("v", v)) if m is None]
    if missing:
        raise InputError(f"missing {', '.join(missing)}: give x, or all of q, k and v")
    qm, qe = as_matrix(q, "Q", limits.MAX_TOKENS)
    km, ke = as_matrix(k, "K", limits.MAX_TOKENS)
    vm, ve = as_matrix(v, "V", limits.MAX_TOKENS)
    if qm.shape[1] != km.shape[1]:
        raise InputError(
            f"Q and K do not fit: Q has {count(qm.shape[1], 'column')}, K has {km.shape[1]}"
        )
    if km.shape[0] != vm.shape[0]:
        raise InputError(
            f"K and V do not fit: K has {count(km.shape[0], 'row')}, V has {vm.shape[0]}"
        )
    tok = _check_tokens(tokens, qm.shape[0], "Q") or _labels(qm.shape[0], "q")
    key_tok = _check_tokens(key_tokens, km.shape[0], "K") or _labels(km.shape[0], "k")
    qs = Step("q", qm, tok, _labels(qm.shape[1], ""), "Q", "Q", exact=qe)
    ks = Step("k", km, key_tok, _labels(km.shape[1], ""), "K", "K", exact=ke)
    vs = Step("v", vm, key_tok, _labels(vm.shape[1], ""), "V", "V", exact=ve)
    return Chain([qs, ks, vs], qs, ks, vs)


def add_scores(chain: Chain) -> None:
    """S = Q·Kᵀ, exact when Q and K are."""
    with np.errstate(over="ignore", invalid="ignore"):
        scores = chain.q.matrix @ chain.k.matrix.T
    _check_finite(scores, "the scores Q·Kᵀ")
    exact = ex.matmul(chain.q.exact, None if chain.k.exact is None else chain.k.exact.T)
    chain.add(
        Step(
            "scores",
            scores,
            chain.tokens,
            chain.key_tokens,
            "S = Q·Kᵀ",
            r"S = QK^\top",
            exact=exact,
            operands=("q", "k"),
        )
    )
    chain.current, chain.current_exact = scores, exact


def add_scaled(chain: Chain, scale: ScaleArg) -> tuple[float, str, Fraction | None]:
    """S · scale, a step of its own unless the scale is 1."""
    value, text, exact = resolve_scale(scale, chain.d_k)
    if value == 1.0:
        return value, text, exact
    with np.errstate(over="ignore"):
        chain.current = chain.current * value
    _check_finite(chain.current, f"the scaled scores (S · {text})")
    if chain.current_exact is not None:
        chain.current_exact = None if exact is None else chain.current_exact * exact
    if is_sqrt(scale):
        formula, latex = f"S / √{chain.d_k}", rf"S / \sqrt{{{chain.d_k}}}"
    else:
        formula, latex = f"S · {text}", rf"S \cdot {text}"
    chain.add(
        Step(
            "scaled",
            chain.current,
            chain.tokens,
            chain.key_tokens,
            formula,
            latex,
            exact=chain.current_exact,
        )
    )
    return value, text, exact


@dataclass(frozen=True)
class Structure:
    """The structured masks of one sequence (qkv.core.masks.structure_mask's arguments)."""

    window: int | Sequence[int] | None = None
    lengths: int | None = None
    document_ids: Sequence[int] | None = None

    def mask(self, shape: tuple[int, ...], align: Align | None) -> np.ndarray | None:
        """Boolean (queries, keys), or None when there is no structure."""
        if self.window is None and self.lengths is None and self.document_ids is None:
            return None
        n_k = shape[1]
        if self.document_ids is not None and len(self.document_ids) != n_k:
            raise InputError(f"{len(self.document_ids)} document ids given for {n_k} keys")
        lengths = None if self.lengths is None else [self.lengths]  # one sequence: one row
        return structure_mask(shape, align, self.window, lengths, self.document_ids)


def add_masked(
    chain: Chain, mask: Any, align: Align | None, structure: Structure | None = None
) -> None:
    """-inf where a query may not look (a boolean mask, causal, a window, padding, another
    document), plus an additive mask."""
    shape = chain.current.shape
    if mask is not None:
        mask = as_mask(mask)
        if mask.shape != shape:
            raise InputError(
                f"mask is {'x'.join(map(str, mask.shape))}, expected {shape[0]}x{shape[1]} "
                "(queries x keys)"
            )
    allowed, additive = combine_masks(mask, align, shape)
    structured = None if structure is None else structure.mask(shape, align)
    if structured is not None:
        allowed = structured if allowed is None else allowed & structured
    if allowed is None and additive is None:
        return
    if additive is not None:
        chain.current = chain.current + np.where(np.isfinite(additive), additive, 0.0)
        finite_add = ex.from_float(additive) if np.all(np.isfinite(additive)) else None
        if chain.current_exact is not None:
            chain.current_exact = None if finite_add is None else chain.current_exact + finite_add
        allowed = (allowed if allowed is not None else True) & np.isfinite(additive)
    assert allowed is not None
    chain.allowed = np.broadcast_to(allowed, shape).copy()
    _check_finite(chain.current[chain.allowed], "the masked scores (mask added)")
    chain.current = np.where(chain.allowed, chain.current, -np.inf)
    chain.add(
        Step(
            "masked",
            chain.current,
            chain.tokens,
            chain.key_tokens,
            "mask(S): -∞ where masked",
            r"\operatorname{mask}(S)",
            exact=chain.current_exact,
            mask=chain.allowed,
        )
    )


def _check_finite(values: np.ndarray, what: str) -> None:
    """InputError when scores overflowed float64: a softmax of inf is NaN, never an answer."""
    if not np.all(np.isfinite(values)):
        raise InputError(f"{what}: float64 overflows; the inputs or the scale are too large")


def add_weights(chain: Chain) -> None:
    """A = softmax(S) row by row, with each term's exponent s - max for the expansion."""
    chain.weights, _ = masked_softmax(chain.current, chain.allowed)
    chain.add(
        Step(
            "weights",
            chain.weights,
            chain.tokens,
            chain.key_tokens,
            "A = softmax(S)",
            r"A = \operatorname{softmax}(S)",
            mask=chain.allowed,
            exponents=exponents(chain.current, chain.current_exact, chain.allowed),
        )
    )


def add_weighted(chain: Chain) -> list[tuple[str, float, float]]:
    """For one query: each key's weight times its value, and the keys ranked by it."""
    assert chain.weights is not None
    contrib = chain.weights[0][:, None] * chain.v.matrix
    chain.add(
        Step(
            "weighted",
            contrib,
            chain.key_tokens,
            chain.v.cols,
            "aⱼ · vⱼ",
            r"a_j v_j",
            operands=("weights", "v"),
        )
    )
    totals = contrib.sum(axis=1)
    order = sorted(range(len(totals)), key=lambda j: -totals[j])
    w = chain.weights[0]
    return [(chain.key_tokens[j], float(w[j]), float(totals[j])) for j in order]


def add_output(chain: Chain) -> None:
    """O = A·V."""
    assert chain.weights is not None
    output = weighted_sum(chain.weights, chain.v.matrix, chain.allowed)
    chain.add(
        Step(
            "output",
            output,
            chain.tokens,
            chain.v.cols,
            "O = A·V",
            "O = AV",
            operands=("weights", "v"),
        )
    )


def scale_contrast(chain: Chain) -> ScaleContrast:
    """Each row's largest unscaled weight, and the same weight with 1/sqrt(d_k)."""
    assert chain.weights is not None
    scores = next(s for s in chain.steps if s.id == "scores").matrix
    c_value, c_text, _ = resolve_scale("sqrt", chain.d_k)
    scaled = scores * c_value
    if chain.allowed is not None:
        scaled = np.where(chain.allowed, scaled, -np.inf)
    scaled_w, _ = masked_softmax(scaled, chain.allowed)
    rows = []
    for i in range(chain.n_q):
        j = int(np.argmax(chain.weights[i]))
        rows.append(
            (
                chain.tokens[i],
                chain.key_tokens[j],
                float(chain.weights[i, j]),
                float(scaled_w[i, j]),
            )
        )
    return ScaleContrast(c_value, c_text, scaled_w, rows)


def exponents(
    scores: np.ndarray, exact: np.ndarray | None, allowed: np.ndarray | None
) -> np.ndarray:
    """s_ij - max_j s_ij for each allowed entry (exact when the scores are), None if masked."""
    n, m = scores.shape
    out = np.empty((n, m), dtype=object)
    for i in range(n):
        ok = [j for j in range(m) if allowed is None or allowed[i, j]]
        if not ok:
            continue
        source = exact if exact is not None else scores
        top = max(source[i, j] for j in ok)
        for j in ok:
            diff = source[i, j] - top
            out[i, j] = diff if exact is not None else float(diff)
    return out
