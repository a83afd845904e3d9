"""trace(): attention for one sequence, computed step by step with every intermediate kept.

    inputs -> Q, K, V -> scores -> [scaled] -> [masked] -> weights -> [weighted] -> output
           -> [what 1/sqrt(d_k) would change]

Each arrow is one small function below; each adds a labelled Step (with exact numbers where
a person can write them down) to the Trace. With ``heads`` > 1 the arrows from Q, K, V to the
output run once per head (steps "h1.scores", ...), then the heads are concatenated.

The arguments of trace():

Self-attention: give ``x`` (tokens x d) and optionally projections ``wq``/``wk``/``wv``
(without them Q = K = V = X, as in the article). Cross-attention: give ``q``, ``k``, ``v``.
``columns``: names of X's columns (a CSV header), else 1, 2, ...
``mask``: boolean (True = may attend) or additive numbers, shape (queries, keys).
``lengths``: padding by valid lengths, one for all queries or one per query (d2l's
``valid_lens``): query i sees the first n_i keys. ``window``: w or (left, right) keys around
each query's position; ``document_ids``: one per key, a query sees only its own document's
(packed sequences). All masks are ANDed (the rules of qkv.core.masks, as everywhere in qkv).
``heads``: split the columns of Q, K and V into that many heads, attend in each (scaled
by 1/sqrt(d_k / heads) by default) and concatenate; ``wo`` (d_v x d_out) projects the
result, as multi-head attention's W_O.
``score``: "dot" (Q·Kᵀ) or "additive" (Bahdanau: v_aᵀ tanh(W_a^q q + W_a^k k), with
``wa_q`` (d_q x h), ``wa_k`` (d_k x h) and ``va`` (h) defaulting to identities and ones;
additive scores are not scaled unless ``scale`` is a number).
``bq``, ``bk``, ``bv``: biases (d_k numbers) added to X·W_Q, X·W_K, X·W_V, as a model's
projections have them (Q = X·W_Q + b_Q).
``exact``: False keeps every number a float (a model's weights and hidden states): no
Fractions, which cost time there and give no number a person writes.
``contrast``: when unscaled, also show what 1/sqrt(d_k) would change.
``rank``: for a single query, add each key's weighted value and rank the keys.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from qkv import limits
from qkv.core import exact as ex
from qkv.core.attention import weighted_sum
from qkv.core.masks import Align, as_mask, combine_masks, length_mask, structure_mask
from qkv.core.matrix import as_floats, as_matrix, count
from qkv.core.scale import ScaleArg, is_sqrt, resolve_scale
from qkv.core.softmax import masked_softmax
from qkv.core.spec import AttentionSpec, from_keywords
from qkv.core.text import ensure_text
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
    bq: Any = None,
    bk: Any = None,
    bv: Any = None,
    tokens: Sequence[str] | None = None,
    key_tokens: Sequence[str] | None = None,
    columns: Sequence[str] | None = None,
    scale: ScaleArg = None,
    mask: Any = None,
    causal: bool | str | None = None,
    window: int | Sequence[int] | None = None,
    lengths: Any = None,
    document_ids: Sequence[int] | None = None,
    example: str | None = None,
    contrast: bool = False,
    rank: bool = False,
    heads: int | None = None,
    wo: Any = None,
    score: str | None = None,
    wa_q: Any = None,
    wa_k: Any = None,
    va: Any = None,
    exact: bool = True,
    spec: AttentionSpec | None = None,
) -> Trace:
    """Compute attention step by step and keep every intermediate; the arguments are described
    in this module's docstring (``help(qkv.core.trace.pipeline)``). ``spec`` says what the
    call means (qkv.core.spec); scale, mask, causal, window, lengths (one per query),
    document_ids, heads and score are a convenience that builds one."""
    given = {"scale": scale, "mask": mask, "causal": causal, "window": window}
    given |= {"query_lengths": lengths, "document_ids": document_ids, "heads": heads}
    spec = _one_sequence(from_keywords(spec, score=score, **given))
    align = spec.causal
    additive = _check_score(spec.score, {"W_a^q": wa_q, "W_a^k": wa_k, "v_a": va})
    n_heads = _check_heads(spec.heads, additive)
    weights = {"wq": wq, "wk": wk, "wv": wv, "bq": bq, "bk": bk, "bv": bv}
    chain = _inputs(x, q, k, v, weights, tokens, key_tokens, columns, additive, exact)
    valid_lengths, valid = _allowed(chain, align, spec)
    s_arg = "none" if additive and is_sqrt(spec.scale) else spec.scale  # no q·k grows with d_k
    scores = (wa_q, wa_k, va) if additive else None
    attended, s_value, s_text, d_k, ranking = _attend(
        chain, n_heads, scores, s_arg, spec.may_attend(), align, valid, rank, last=wo is None
    )
    if wo is not None:
        add_wo(chain, wo, attended)
    # the 1/sqrt(d_k) contrast is about one head's dot products
    shown = contrast and s_value == 1.0 and n_heads == 1 and not additive
    return Trace(
        chain.steps, s_value, s_text, d_k, align, example,
        scale_contrast(chain) if shown else None, ranking, n_heads,
        "additive" if additive else "dot", valid_lengths, spec=spec,
    )  # fmt: skip


def _one_sequence(spec: AttentionSpec) -> AttentionSpec:
    """The spec, unless it asks what the hand calculation of one sequence cannot do."""
    if spec.row_lengths is not None:
        raise InputError("trace() is one sequence: give lengths per query, not per batch row")
    if spec.dropout_p:
        raise InputError("the hand calculation has no dropout; leave out dropout_p")
    return spec


def _attend(
    chain: Chain,
    n_heads: int,
    additive: tuple[Any, Any, Any] | None,
    scale: ScaleArg,
    mask: Any,
    align: Align | None,
    valid: np.ndarray | None,
    rank: bool,
    last: bool,
) -> tuple[Any, float, str, int, list[tuple[str, float, float]]]:
    """One head or several: (the result, the scale and its text, d_k of a head, the
    ranking)."""
    if n_heads == 1:
        attended, s_value, s_text, ranking = one_head(
            chain, additive, scale, mask, align, valid, rank=rank, last=last
        )
        return attended, s_value, s_text, chain.d_k, ranking
    attended, s_value, s_text, d_k = multi_head(chain, n_heads, scale, mask, align, valid, last)
    return attended, s_value, s_text, d_k, []


def one_head(
    chain: Chain,
    additive: tuple[Any, Any, Any] | None,
    scale: ScaleArg,
    mask: Any,
    align: Align | None,
    valid: np.ndarray | None,
    *,
    rank: bool,
    last: bool,
) -> tuple[Any, float, str, list[tuple[str, float, float]]]:
    """Scores (dot, or additive with its (W_a^q, W_a^k, v_a)) -> scaled -> masked -> weights
    -> [weighted] -> output: (the output, the scale and its text, the ranking)."""
    if additive is not None:
        add_additive_scores(chain, *additive)
    else:
        add_scores(chain)
    s_value, s_text, _ = add_scaled(chain, scale)
    add_masked(chain, mask, align, valid)
    add_weights(chain)
    ranking = add_weighted(chain) if rank and chain.n_q == 1 else []
    attended = add_output(chain, "output" if last else "attended")
    return attended, s_value, s_text, ranking


def _inputs(
    x: Any,
    q: Any,
    k: Any,
    v: Any,
    projections: dict[str, Any],
    tokens: Sequence[str] | None,
    key_tokens: Sequence[str] | None,
    columns: Sequence[str] | None,
    additive: bool,
    exact: bool = True,
) -> Chain:
    """X and its projections (self-attention), or Q, K, V given directly (cross-attention)."""
    read = as_matrix if exact else _floats
    if x is not None:
        if q is not None or k is not None or v is not None:
            raise InputError("give either x (self-attention) or q, k, v (cross-attention)")
        if key_tokens is not None:
            raise InputError("key tokens apply to cross-attention (q, k, v), not to x")
        return self_inputs(x, projections, tokens, columns, same_width=not additive, read=read)
    if columns is not None:
        raise InputError("column names apply to x, not to q, k, v given directly")
    if any(w is not None for w in projections.values()):
        raise InputError("projections W_Q, W_K, W_V apply to x, not to q, k, v given directly")
    return cross_inputs(q, k, v, tokens, key_tokens, same_width=not additive, read=read)


Reader = Callable[..., tuple[np.ndarray, np.ndarray | None]]


def _floats(value: Any, name: str, max_rows: int | None = None) -> tuple[np.ndarray, None]:
    """as_matrix's reader for a model's numbers: floats, no exact form."""
    return as_floats(value, name, max_rows), None


def _check_score(score: str, weights: dict[str, Any]) -> bool:
    """True for additive scores; InputError for an unknown kind or misplaced W_a."""
    if score not in ("dot", "additive"):
        raise InputError(f"score must be 'dot' or 'additive', not {str(score)[:20]!r}")
    given = [name for name, w in weights.items() if w is not None]
    if score == "dot" and given:
        raise InputError(f"{given[0]} belongs to additive scores (--score additive)")
    return score == "additive"


def _allowed(
    chain: Chain, align: Align | None, spec: AttentionSpec
) -> tuple[list[int] | None, np.ndarray | None]:
    """The valid lengths (one per query, None without) and the mask of lengths, window and
    document ids ANDed (None when none is given): the rules of qkv.core.masks."""
    lengths, window, document_ids = spec.query_lengths, spec.window, spec.document_ids
    n_q, n_k = chain.n_q, chain.k.shape[0]
    valid_lengths, valid = (None, None) if lengths is None else length_mask(lengths, n_q, n_k)
    if window is None and document_ids is None:
        return valid_lengths, valid  # causal alone is add_masked's (combine_masks)
    # align places the queries; a causal band here is the one add_masked applies again
    structured = structure_mask((n_q, n_k), align, window, None, document_ids)
    return valid_lengths, structured if valid is None else structured & valid


def _check_heads(heads: Any, additive: bool) -> int:
    if isinstance(heads, bool) or not isinstance(heads, (int, np.integer)):
        raise InputError(f"heads must be a whole number, not {str(heads)[:20]!r}")
    if not 1 <= heads <= limits.MAX_HEADS:
        raise InputError(f"heads must be between 1 and {limits.MAX_HEADS}, not {heads}")
    if additive and heads > 1:
        raise InputError("additive scores are explained with one head; leave out heads")
    return int(heads)


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
    added: np.ndarray | None = None  # the float mask added to the scaled scores (finite part)
    weights: np.ndarray | None = None
    prefix: str = ""  # "h2." while computing head 2

    def sid(self, base: str) -> str:
        """The id of this chain's step ``base`` ("h2.scores" in head 2)."""
        return self.prefix + base

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
    """InputError for a label longer than limits.MAX_LABEL (a label, not a text) or one that
    is not text (qkv.core.text)."""
    for i, t in enumerate(tokens, start=1):
        ensure_text(t, f"token {i} of {what}")
        if len(t) > limits.MAX_LABEL:
            raise InputError(
                f"token {i} of {what} has {len(t):,} characters; at most {limits.MAX_LABEL}"
            )


def self_inputs(
    x: Any,
    projections: dict[str, Any],
    tokens: Sequence[str] | None,
    columns: Sequence[str] | None = None,
    same_width: bool = True,
    read: Reader = as_matrix,
) -> Chain:
    """X, then W_Q/W_K/W_V (each with its bias b_Q/b_K/b_V where given), then Q, K, V (each
    X·W + b, X·W, or X itself).

    ``same_width``: Q and K must have as many columns (a dot product; additive scores
    do not need it). ``read``: as_matrix (exact) or floats."""
    xm, xe = read(x, "X", limits.MAX_TOKENS)
    n, d = xm.shape
    tok = _check_tokens(tokens, n, "X") or _labels(n, "t")
    dims = _columns(columns, d)
    steps = [Step("x", xm, tok, dims, "X", "X", exact=xe)]
    made = _weight_steps(steps, projections, dims, read)
    for wid, label, sid in PROJECTIONS:
        big = sid.upper()
        if wid in made:
            steps.append(_projected(steps[0], made[wid], made.get("b" + wid[1]), label, big))
        else:
            step = Step(sid, xm, tok, dims, f"{big} = X", f"{big} = X", exact=xe, same_as="x")
            steps.append(step)
    q, k = steps[-3], steps[-2]
    if same_width:
        _check_q_k(q, k, [label for wid, label, _ in PROJECTIONS[:2] if wid not in made], d)
    return Chain(steps, q, k, steps[-1])


def _weight_steps(
    steps: list[Step], projections: dict[str, Any], dims: list[str], read: Reader
) -> dict[str, Step]:
    """W_Q, W_K, W_V where given (d rows each), each followed by its bias where given."""
    d = len(dims)
    made: dict[str, Step] = {}
    for wid, label, _ in PROJECTIONS:
        bid = "b" + wid[1]
        if projections.get(wid) is None:
            if projections.get(bid) is not None:
                big = wid[1].upper()
                raise InputError(f"b_{big} needs W_{big} too ({big} = X·W_{big} + b_{big})")
            continue
        wm, we = read(projections[wid], label)
        if wm.shape[0] != d:
            rows = f"row{'s' * (wm.shape[0] != 1)}"
            raise InputError(
                f"X and {label} do not fit: X has {count(d, 'column')}, {label} has "
                f"{wm.shape[0]} {rows}"
            )
        tex = label.replace("_", "_{") + "}"
        made[wid] = Step(wid, wm, dims, _labels(wm.shape[1], ""), label, tex, exact=we)
        steps.append(made[wid])
        if projections.get(bid) is not None:
            made[bid] = _bias_step(projections[bid], made[wid], bid, read)
            steps.append(made[bid])
    return made


def _bias_step(value: Any, w: Step, bid: str, read: Reader) -> Step:
    """b_Q (or b_K, b_V): one number per column of its W, as one row."""
    label = f"b_{bid[1].upper()}"
    bm, be = read(value, label)
    if bm.shape[0] != 1 and bm.shape[1] == 1:  # a column is fine too
        bm, be = bm.T, None if be is None else be.T
    if bm.shape != (1, w.shape[1]):
        columns = count(w.shape[1], "column")
        raise InputError(f"{label} has {count(bm.size)}; {w.formula} has {columns}")
    tex = f"b_{{{bid[1].upper()}}}"
    return Step(bid, bm, [label], list(w.cols), label, tex, exact=be)


def _projected(x: Step, w: Step, bias: Step | None, label: str, big: str) -> Step:
    """Q = X·W_Q (+ b_Q): the bias is added to every row."""
    matrix, exact = x.matrix @ w.matrix, ex.matmul(x.exact, w.exact)
    formula, latex = f"{big} = X·{label}", f"{big} = X{w.latex}"
    if bias is not None:
        matrix = matrix + bias.matrix
        exact = None if exact is None or bias.exact is None else exact + bias.exact
        formula, latex = f"{formula} + {bias.formula}", f"{latex} + {bias.latex}"
    return Step(
        big.lower(),
        matrix,
        list(x.rows),
        list(w.cols),
        formula,
        latex,
        exact=exact,
        operands=("x", w.id),
        bias=None if bias is None else bias.id,
    )


def _columns(columns: Sequence[str] | None, d: int) -> list[str]:
    """X's column labels: the names given (a CSV header), else 1, 2, ..."""
    if columns is None:
        return _labels(d, "")
    names = [str(c) for c in columns]
    check_labels(names, "the columns of X")
    if len(names) != d:
        raise InputError(f"{len(names)} column names given for {count(d, 'column')} of X")
    return names


def _check_q_k(q: Step, k: Step, missing: list[str], d: int) -> None:
    """Q and K of one width; ``missing`` are the projections of W_Q, W_K not given."""
    if q.shape[1] == k.shape[1]:
        return
    # Without W_K, K is X itself (the article's convention): name the projection to add.
    fix = (
        f"give {missing[0]} too ({missing[0][-1]} = X·{missing[0]}, {d} x "
        f"{q.shape[1] if missing[0] == 'W_K' else k.shape[1]})"
        if len(missing) == 1
        else "give W_Q and W_K the same number of columns"
    )
    raise InputError(
        f"Q and K do not fit: {q.formula} has {count(q.shape[1], 'column')}, {k.formula} "
        f"has {k.shape[1]}; {fix}"
    )


def cross_inputs(
    q: Any,
    k: Any,
    v: Any,
    tokens: Sequence[str] | None,
    key_tokens: Sequence[str] | None,
    same_width: bool = True,
    read: Reader = as_matrix,
) -> Chain:
    """Q, K and V given directly (cross-attention)."""
    missing = [n for n, m in (("q", q), ("k", k), ("v", v)) if m is None]
    if missing:
        raise InputError(f"missing {', '.join(missing)}: give x, or all of q, k and v")
    qm, qe = read(q, "Q", limits.MAX_TOKENS)
    km, ke = read(k, "K", limits.MAX_TOKENS)
    vm, ve = read(v, "V", limits.MAX_TOKENS)
    if same_width and qm.shape[1] != km.shape[1]:
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
            chain.sid("scores"),
            scores,
            chain.tokens,
            chain.key_tokens,
            f"S{_sub(chain)} = Q{_sub(chain)}·K{_sub(chain)}ᵀ",
            rf"S{_tex_sub(chain)} = Q{_tex_sub(chain)}K{_tex_sub(chain)}^\top",
            exact=exact,
            operands=(chain.q.id, chain.k.id),
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
            chain.sid("scaled"),
            chain.current,
            chain.tokens,
            chain.key_tokens,
            formula,
            latex,
            exact=chain.current_exact,
        )
    )
    return value, text, exact


def add_masked(
    chain: Chain, mask: Any, align: Align | None, valid: np.ndarray | None = None
) -> None:
    """-inf where a query may not look (a boolean mask, causal, padding beyond the valid
    lengths), plus an additive mask."""
    shape = chain.current.shape
    if mask is not None:
        mask = as_mask(mask)
        if mask.shape != shape:
            raise InputError(
                f"mask is {'x'.join(map(str, mask.shape))}, expected {shape[0]}x{shape[1]} "
                "(queries x keys)"
            )
    allowed, additive = combine_masks(mask, align, shape)
    if valid is not None:
        allowed = valid if allowed is None else (allowed & valid)
    if allowed is None and additive is None:
        return
    if additive is not None:
        chain.added = np.broadcast_to(np.where(np.isfinite(additive), additive, 0.0), shape)
        chain.current = chain.current + chain.added
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
            chain.sid("masked"),
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
            chain.sid("weights"),
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
            operands=(chain.sid("weights"), chain.v.id),
        )
    )
    totals = contrib.sum(axis=1)
    order = sorted(range(len(totals)), key=lambda j: -totals[j])
    w = chain.weights[0]
    return [(chain.key_tokens[j], float(w[j]), float(totals[j])) for j in order]


def add_output(chain: Chain, base: str = "output") -> Step:
    """O = A·V (named "attended" when W_O follows)."""
    assert chain.weights is not None
    output = weighted_sum(chain.weights, chain.v.matrix, chain.allowed)
    sub, tex = _sub(chain), _tex_sub(chain)
    return chain.add(
        Step(
            chain.sid(base),
            output,
            chain.tokens,
            chain.v.cols,
            f"O{sub} = A{sub}·V{sub}",
            f"O{tex} = A{tex}V{tex}",
            operands=(chain.sid("weights"), chain.v.id),
        )
    )


_SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def _sub(chain: Chain) -> str:
    """ "₂" in head 2 (S₂ = Q₂·K₂ᵀ), "" with one head."""
    return "" if not chain.prefix else chain.prefix[1:-1].translate(_SUBSCRIPTS)


def _tex_sub(chain: Chain) -> str:
    return "" if not chain.prefix else f"_{{{chain.prefix[1:-1]}}}"


def multi_head(
    chain: Chain,
    n_heads: int,
    scale: ScaleArg,
    mask: Any,
    align: Align | None,
    valid: np.ndarray | None,
    last: bool,
) -> tuple[Step, float, str, int]:
    """Split the columns of Q, K, V into heads, attend in each, concatenate.

    As in torch's MultiheadAttention: head h takes columns h·d_h .. (h+1)·d_h - 1 of the
    projected Q, K and V (d_h = d_k / heads) and is scaled by 1/sqrt(d_h). Returns the
    concatenation (the step "output" when ``last``, else "concat"), the scale, and d_h.
    """
    widths = {"Q": chain.q.shape[1], "K": chain.k.shape[1], "V": chain.v.shape[1]}
    for name, width in widths.items():
        if width % n_heads:
            raise InputError(
                f"{name} has {count(width, 'column')}, not divisible into {n_heads} heads"
            )
    outputs: list[Step] = []
    s_value, s_text = 1.0, "1"
    for h in range(1, n_heads + 1):
        prefix = f"h{h}."
        q, k, v = (_head_slice(chain, step, h, n_heads) for step in (chain.q, chain.k, chain.v))
        head = Chain(chain.steps, q, k, v, prefix=prefix)
        add_scores(head)
        s_value, s_text, _ = add_scaled(head, scale)
        add_masked(head, mask, align, valid)
        add_weights(head)
        outputs.append(add_output(head))
    subs = " | ".join(f"O{str(h).translate(_SUBSCRIPTS)}" for h in range(1, n_heads + 1))
    tex = r" \mid ".join(f"O_{{{h}}}" for h in range(1, n_heads + 1))
    big, big_tex = ("O", "O") if last else ("C", "C")
    concat = chain.add(
        Step(
            "output" if last else "concat",
            np.hstack([o.matrix for o in outputs]),
            chain.tokens,
            list(chain.v.cols),
            f"{big} = [{subs}]",
            rf"{big_tex} = [{tex}]",
        )
    )
    return concat, s_value, s_text, widths["Q"] // n_heads


def _head_slice(chain: Chain, step: Step, h: int, n_heads: int) -> Step:
    """Head h's columns of Q, K or V."""
    width = step.shape[1] // n_heads
    cols = slice((h - 1) * width, h * width)
    big = step.id.upper()
    first, end = (h - 1) * width + 1, h * width
    span = str(first) if width == 1 else f"{first}–{end}"
    return chain.add(
        Step(
            f"h{h}.{step.id}",
            step.matrix[:, cols],
            list(step.rows),
            list(step.cols[cols]),
            f"{big}{str(h).translate(_SUBSCRIPTS)} = {big}[:, {span}]",
            rf"{big}_{{{h}}} = {big}_{{:,\,{span.replace('–', '..')}}}",
            exact=None if step.exact is None else step.exact[:, cols],
        )
    )


def add_wo(chain: Chain, wo: Any, attended: Step) -> None:
    """W_O, then O = (the attention's result)·W_O: multi-head attention's output projection."""
    wm, we = as_matrix(wo, "W_O")
    width = attended.shape[1]
    if wm.shape[0] != width:
        raise InputError(
            f"W_O does not fit: the attention's result has {count(width, 'column')}, W_O has "
            f"{count(wm.shape[0], 'row')}"
        )
    chain.add(Step("wo", wm, list(attended.cols), _labels(wm.shape[1], ""), "W_O", "W_{O}", we))
    with np.errstate(over="ignore", invalid="ignore"):
        out = attended.matrix @ wm
    _check_finite(out[np.isfinite(attended.matrix).all(axis=1)], "the output O·W_O")
    big = "C" if attended.id == "concat" else "(A·V)"
    tex = "C" if attended.id == "concat" else "(AV)"
    chain.add(
        Step(
            "output",
            out,
            list(attended.rows),
            _labels(wm.shape[1], ""),
            f"O = {big}·W_O",
            f"O = {tex}W_{{O}}",
            exact=ex.matmul(attended.exact, we),
            operands=(attended.id, "wo"),
        )
    )


def add_additive_scores(chain: Chain, wa_q: Any, wa_k: Any, va: Any) -> None:
    """Bahdanau's additive scores: S_ij = v_aᵀ tanh(W_a^q q_i + W_a^k k_j).

    Q·W_a^q and K·W_a^k stay exact where the inputs are; tanh is not rational, so the scores
    are floats. Defaults (what d2l's AdditiveAttention learns, set to something a person can
    follow): W_a^q and W_a^k the identity, v_a all ones, hidden size h = d_q.
    """
    given = {"wa_q": wa_q, "wa_k": wa_k}
    widths = [
        as_matrix(w, n)[0].shape[1]
        for n, w in zip(("W_a^q", "W_a^k"), (wa_q, wa_k), strict=True)
        if w is not None
    ]
    hidden = widths[0] if widths else chain.q.shape[1]
    qa, ka = (
        _additive_side(chain, step, given[wid], wid, hidden)
        for step, wid in ((chain.q, "wa_q"), (chain.k, "wa_k"))
    )
    vm, ve = as_matrix([[1] * hidden] if va is None else va, "v_a")
    if vm.shape[0] != 1 and vm.shape[1] == 1:  # a column is fine too
        vm, ve = vm.T, ve.T
    if vm.shape != (1, hidden):
        raise InputError(f"v_a has {vm.size} numbers, expected {hidden} (the hidden size)")
    chain.add(Step("va", vm, ["v_a"], _labels(hidden, ""), "v_a", "v_a", exact=ve))
    with np.errstate(over="ignore", invalid="ignore"):
        scores = np.tanh(qa.matrix[:, None, :] + ka.matrix[None, :, :]) @ vm[0]
    _check_finite(scores, "the additive scores")
    chain.add(
        Step(
            "scores",
            scores,
            chain.tokens,
            chain.key_tokens,
            "S_ij = v_a·tanh(Qa_i + Ka_j)",
            r"S_{ij} = v_a^\top \tanh(Q^a_i + K^a_j)",
            operands=("qa", "ka"),
        )
    )
    chain.current, chain.current_exact = scores, None


def _additive_side(chain: Chain, step: Step, w: Any, wid: str, hidden: int) -> Step:
    """W_a^q (or W_a^k, the identity when not given) and Q·W_a^q (or K·W_a^k)."""
    name, big, d = f"W_a^{step.id}", step.id.upper(), step.shape[1]
    if w is None:
        if d != hidden:
            raise InputError(
                f"{name} defaults to the identity, which needs {big} to have "
                f"{count(hidden, 'column')} (it has {d}); give {name} ({d} x {hidden})"
            )
        w = [[int(i == j) for j in range(d)] for i in range(d)]
    wm, we = as_matrix(w, name)
    if wm.shape != (d, hidden):
        raise InputError(
            f"{name} is {wm.shape[0]}x{wm.shape[1]}, expected {d}x{hidden} "
            f"({big}'s columns x the hidden size)"
        )
    tex = rf"W^{{a}}_{{{step.id}}}"
    chain.add(Step(wid, wm, list(step.cols), _labels(hidden, ""), name, tex, exact=we))
    with np.errstate(over="ignore", invalid="ignore"):
        proj = step.matrix @ wm
    _check_finite(proj, f"{big}·{name}")
    return chain.add(
        Step(
            f"{step.id}a",
            proj,
            list(step.rows),
            _labels(hidden, ""),
            f"{big}a = {big}·{name}",
            f"{big}^a = {big}{tex}",
            exact=ex.matmul(step.exact, we),
            operands=(step.id, wid),
        )
    )


def scale_contrast(chain: Chain) -> ScaleContrast:
    """Each row's largest unscaled weight, and the same weight with 1/sqrt(d_k): the raw
    scores scaled, then masked as the call masked them (a float mask added after the scale)."""
    assert chain.weights is not None
    scores = next(s for s in chain.steps if s.id == "scores").matrix
    c_value, c_text, _ = resolve_scale("sqrt", chain.d_k)
    scaled = scores * c_value
    if chain.added is not None:
        scaled = scaled + chain.added
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
