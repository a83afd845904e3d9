"""Attention in float64 NumPy: the reference semantics of qkv (see DESIGN.md, "The spec").

``attention()`` is the batched reference that the PyTorch layer is tested against;
``trace()`` computes the same chain for one sequence and keeps every intermediate, with exact
forms, for the hand calculation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Any, Literal

import numpy as np

from qkv.core import exact as ex
from qkv.core.softmax import masked_softmax
from qkv.core.trace import ScaleContrast, Step, Trace
from qkv.errors import InputError

Align = Literal["bottom_right", "top_left"]
ScaleArg = None | str | float | int | Fraction


def normalize_causal(causal: bool | str | None) -> Align | None:
    """False/None -> None; True, "bottom_right", "causal" -> bottom-right; "top_left"."""
    if causal is None or causal is False:
        return None
    if causal is True or causal in ("bottom_right", "causal", "bottom-right"):
        return "bottom_right"
    if causal in ("top_left", "causal-top-left", "top-left"):
        return "top_left"
    raise InputError(f"causal must be False, True, 'bottom_right' or 'top_left', not {causal!r}")


def causal_mask(n_queries: int, n_keys: int, align: Align = "bottom_right") -> np.ndarray:
    """Boolean (L, S) mask, True = may attend.

    bottom_right: query i sees keys j <= i + S - L (the last query sees every key, as in
    KV-cache decoding and FlashAttention). top_left: j <= i (torch's ``is_causal``).
    The two agree when L == S.
    """
    offset = n_keys - n_queries if align == "bottom_right" else 0
    i = np.arange(n_queries)[:, None]
    j = np.arange(n_keys)[None, :]
    return j <= i + offset


def resolve_scale(scale: ScaleArg, d_k: int) -> tuple[float, str, Fraction | None]:
    """(scale as float, how to write it, exact value or None).

    None or "sqrt": 1/sqrt(d_k); "none": 1; a number: that number.
    """
    if scale is None or scale == "sqrt":
        root = ex.sqrt_exact(d_k)
        return 1.0 / math.sqrt(d_k), f"1/√{d_k}", None if root is None else 1 / root
    if isinstance(scale, str) and scale.strip().lower() == "none":
        return 1.0, "1", Fraction(1)
    try:
        q = Fraction(str(scale).replace("−", "-").strip())
    except (ValueError, ZeroDivisionError):
        raise InputError(f"scale must be 'sqrt', 'none' or a number, not {scale!r}") from None
    value = float(q)
    if not math.isfinite(value) or value <= 0:
        raise InputError(f"scale must be a positive finite number, not {scale!r}")
    return value, ex.fmt_exact(q), q


def _combine_masks(
    mask: np.ndarray | None, causal: Align | None, shape: tuple[int, ...]
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Split a user mask into (allowed bool, additive float) and fold the causal mask in."""
    allowed = additive = None
    if mask is not None:
        m = np.asarray(mask)
        try:
            np.broadcast_shapes(m.shape, shape)
        except ValueError:
            raise InputError(f"mask of shape {m.shape} does not broadcast to {shape}") from None
        if m.dtype == bool:
            allowed = np.broadcast_to(m, shape)
        else:
            additive = np.broadcast_to(m.astype(np.float64), shape)
    if causal is not None:
        c = np.broadcast_to(causal_mask(shape[-2], shape[-1], causal), shape)
        allowed = c if allowed is None else (allowed & c)
    return allowed, additive


def attention(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    *,
    mask: np.ndarray | None = None,
    causal: bool | str | None = False,
    scale: ScaleArg = None,
    return_weights: bool = False,
    return_lse: bool = False,
) -> Any:
    """softmax(mask(scale · q kᵀ)) v in float64, for q (..., L, d), k (..., S, d), v (..., S, dv).

    GQA: with q (..., Hq, L, d) and k, v (..., Hkv, S, d), query head h uses key/value head
    h // (Hq / Hkv). Returns the output, and (output, weights[, lse]) when asked.
    """
    q, k, v = (np.asarray(a, dtype=np.float64) for a in (q, k, v))
    if q.ndim < 2 or k.ndim != q.ndim or v.ndim != q.ndim:
        raise InputError(f"q, k, v need the same rank >= 2, got {q.shape}, {k.shape}, {v.shape}")
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise InputError(f"shapes do not fit: q {q.shape}, k {k.shape}, v {v.shape}")
    if q.ndim >= 3 and q.shape[-3] != k.shape[-3]:
        hq, hkv = q.shape[-3], k.shape[-3]
        if hkv == 0 or hq % hkv:
            raise InputError(f"{hq} query heads are not a multiple of {hkv} key/value heads")
        k = np.repeat(k, hq // hkv, axis=-3)
        v = np.repeat(v, hq // hkv, axis=-3)
    s_value, _, _ = resolve_scale(scale, q.shape[-1])
    with np.errstate(invalid="ignore", over="ignore"):
        scores = np.matmul(q, np.swapaxes(k, -1, -2)) * s_value
    allowed, additive = _combine_masks(mask, normalize_causal(causal), scores.shape)
    if additive is not None:
        scores = scores + additive
    weights, lse = masked_softmax(scores, allowed)
    out = _weighted_sum(weights, v, allowed)
    return pack(out, weights, lse, return_weights, return_lse)


def pack(out: Any, weights: Any, lse: Any, return_weights: bool, return_lse: bool) -> Any:
    """output, or (output, weights), (output, lse), (output, weights, lse): one convention."""
    extra = [x for x, asked in ((weights, return_weights), (lse, return_lse)) if asked]
    return (out, *extra) if extra else out


def _weighted_sum(weights: np.ndarray, v: np.ndarray, allowed: np.ndarray | None) -> np.ndarray:
    """weights @ v, where a NaN in a value nobody may attend to does not leak (0 · NaN)."""
    if allowed is None or np.all(np.isfinite(v)):
        return np.matmul(weights, v)
    clean_v = np.where(np.isfinite(v), v, 0.0)
    out = np.matmul(weights, clean_v)
    # Queries that do attend a non-finite value must still see it.
    bad = ~np.isfinite(v)  # (..., S, dv)
    hit = np.matmul((weights > 0).astype(np.float64), bad.astype(np.float64)) > 0
    with np.errstate(invalid="ignore"):
        return np.where(hit, np.matmul(weights, v), out)


# --------------------------------------------------------------------------------------
# trace(): one sequence, every intermediate kept


def _labels(n: int, prefix: str) -> list[str]:
    return [f"{prefix}{i + 1}" for i in range(n)]


def _as_matrix(value: Any, name: str) -> tuple[np.ndarray, np.ndarray | None]:
    """A 2-D float matrix and its exact form (Fractions) from user data; InputError if bad."""
    if isinstance(value, np.ndarray) and value.dtype != object:
        rows = value.tolist()
    else:
        rows = [list(r) if isinstance(r, (list, tuple, np.ndarray)) else r for r in value]
    if rows and not isinstance(rows[0], list):
        rows = [rows]  # a single vector is one row
    if not rows or not rows[0]:
        raise InputError(f"{name} is empty")
    width = len(rows[0])
    exact_rows: list[list[Fraction]] = []
    for i, row in enumerate(rows, start=1):
        if not isinstance(row, list):
            raise InputError(f"{name} row {i} is not a list of numbers")
        if len(row) != width:
            raise InputError(
                f"{name} row {i} has {len(row)} number{'s' * (len(row) != 1)}, expected {width}"
            )
        exact_row = []
        for j, item in enumerate(row, start=1):
            exact_row.append(_to_fraction(item, f"{name} row {i}, column {j}"))
        exact_rows.append(exact_row)
    matrix = np.array([[float(q) for q in r] for r in exact_rows], dtype=np.float64)
    return matrix, ex.exact_array(exact_rows)


def _to_fraction(item: Any, where: str) -> Fraction:
    if isinstance(item, bool):
        raise InputError(f"{where}: {item!r} is not a number")
    if isinstance(item, Fraction):
        return item
    if isinstance(item, (int, np.integer)):
        return Fraction(int(item))
    if isinstance(item, (float, np.floating)):
        if not math.isfinite(item):
            raise InputError(f"{where} is {item}; only finite numbers are allowed")
        return Fraction(repr(float(item)))  # 0.1 means 1/10, as the user wrote it
    raise InputError(f"{where}: {item!r} is not a number")


def _check_tokens(tokens: Sequence[str] | None, n: int, what: str) -> list[str] | None:
    if tokens is None:
        return None
    tokens = [str(t) for t in tokens]
    if len(tokens) != n:
        rows = "row" if n == 1 else "rows"
        raise InputError(f"{len(tokens)} tokens given for {n} {rows} of {what}")
    return tokens


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
    example: str | None = None,
    contrast: bool = False,
    rank: bool = False,
) -> Trace:
    """Compute attention step by step and keep every intermediate.

    Self-attention: give ``x`` (tokens x d) and optionally projections ``wq``/``wk``/``wv``
    (without them Q = K = V = X, as in the article). Cross-attention: give ``q``, ``k``, ``v``.
    ``mask``: boolean (True = may attend) or additive numbers, shape (queries, keys).
    ``contrast``: when unscaled, also show what 1/sqrt(d_k) would change.
    ``rank``: for a single query, add each key's weighted value and rank the keys.
    """
    steps: list[Step] = []
    align = normalize_causal(causal)

    if x is not None:
        if q is not None or k is not None or v is not None:
            raise InputError("give either x (self-attention) or q, k, v (cross-attention)")
        xm, xe = _as_matrix(x, "X")
        n, d = xm.shape
        tok = _check_tokens(tokens, n, "X") or _labels(n, "t")
        key_tok = tok
        if key_tokens is not None:
            raise InputError("key tokens apply to cross-attention (q, k, v), not to x")
        dims = _labels(d, "")
        steps.append(Step("x", xm, tok, dims, "X", "X", exact=xe))
        proj = {}
        for name, w, label in (("wq", wq, "W_Q"), ("wk", wk, "W_K"), ("wv", wv, "W_V")):
            if w is None:
                continue
            wm, we = _as_matrix(w, label)
            if wm.shape[0] != d:
                raise InputError(
                    f"X and {label} do not fit: X has {d} columns, {label} has {wm.shape[0]} "
                    f"row{'s' * (wm.shape[0] != 1)}"
                )
            tex = label.replace("_", "_{") + "}"
            steps.append(Step(name, wm, dims, _labels(wm.shape[1], ""), label, tex, exact=we))
            proj[name] = (wm, we, label, tex)
        for sid, wname in (("q", "wq"), ("k", "wk"), ("v", "wv")):
            big = sid.upper()
            if wname in proj:
                wm, we, label, tex = proj[wname]
                steps.append(
                    Step(
                        sid,
                        xm @ wm,
                        tok,
                        _labels(wm.shape[1], ""),
                        f"{big} = X·{label}",
                        f"{big} = X{tex}",
                        exact=ex.matmul(xe, we),
                        operands=("x", wname),
                    )
                )
            else:
                steps.append(
                    Step(sid, xm, tok, dims, f"{big} = X", f"{big} = X", exact=xe, same_as="x")
                )
        qs, ks, vs = steps[-3], steps[-2], steps[-1]
    else:
        if wq is not None or wk is not None or wv is not None:
            raise InputError("projections W_Q, W_K, W_V apply to x, not to q, k, v given directly")
        missing = [n for n, m in (("q", q), ("k", k), ("v", v)) if m is None]
        if missing:
            raise InputError(f"missing {', '.join(missing)}: give x, or all of q, k and v")
        qm, qe = _as_matrix(q, "Q")
        km, ke = _as_matrix(k, "K")
        vm, ve = _as_matrix(v, "V")
        if qm.shape[1] != km.shape[1]:
            raise InputError(
                f"Q and K do not fit: Q has {qm.shape[1]} columns, K has {km.shape[1]}"
            )
        if km.shape[0] != vm.shape[0]:
            raise InputError(f"K and V do not fit: K has {km.shape[0]} rows, V has {vm.shape[0]}")
        tok = _check_tokens(tokens, qm.shape[0], "Q") or _labels(qm.shape[0], "q")
        key_tok = _check_tokens(key_tokens, km.shape[0], "K") or _labels(km.shape[0], "k")
        qs = Step("q", qm, tok, _labels(qm.shape[1], ""), "Q", "Q", exact=qe)
        ks = Step("k", km, key_tok, _labels(km.shape[1], ""), "K", "K", exact=ke)
        vs = Step("v", vm, key_tok, _labels(vm.shape[1], ""), "V", "V", exact=ve)
        steps += [qs, ks, vs]

    d_k = qs.matrix.shape[1]
    n_q, n_k = qs.matrix.shape[0], ks.matrix.shape[0]
    s_value, s_text, s_exact = resolve_scale(scale, d_k)

    with np.errstate(over="ignore", invalid="ignore"):
        scores = qs.matrix @ ks.matrix.T
    if not np.all(np.isfinite(scores)):
        raise InputError("Q·Kᵀ overflows float64; the inputs are too large")
    scores_exact = ex.matmul(qs.exact, None if ks.exact is None else ks.exact.T)
    steps.append(
        Step(
            "scores",
            scores,
            tok,
            key_tok,
            "S = Q·Kᵀ",
            r"S = QK^\top",
            exact=scores_exact,
            operands=("q", "k"),
        )
    )
    current, current_exact = scores, scores_exact
    if s_value != 1.0:
        current = scores * s_value
        current_exact = None if scores_exact is None or s_exact is None else scores_exact * s_exact
        if scale is None or scale == "sqrt":
            formula, latex = f"S / √{d_k}", rf"S / \sqrt{{{d_k}}}"
        else:
            formula, latex = f"S · {s_text}", rf"S \cdot {s_text}"
        steps.append(Step("scaled", current, tok, key_tok, formula, latex, exact=current_exact))

    allowed, additive = _build_trace_mask(mask, align, (n_q, n_k))
    if allowed is not None or additive is not None:
        if additive is not None:
            current = current + np.where(np.isfinite(additive), additive, 0.0)
            finite_add = ex.from_float(additive) if np.all(np.isfinite(additive)) else None
            current_exact = (
                None if current_exact is None or finite_add is None else current_exact + finite_add
            )
            allowed = (allowed if allowed is not None else True) & np.isfinite(additive)
        allowed = np.broadcast_to(allowed, (n_q, n_k)).copy()
        current = np.where(allowed, current, -np.inf)
        steps.append(
            Step(
                "masked",
                current,
                tok,
                key_tok,
                "mask(S): -∞ where masked",
                r"\operatorname{mask}(S)",
                exact=current_exact,
                mask=allowed,
            )
        )

    weights, _ = masked_softmax(current, allowed)
    steps.append(
        Step(
            "weights",
            weights,
            tok,
            key_tok,
            "A = softmax(S)",
            r"A = \operatorname{softmax}(S)",
            mask=allowed,
            exponents=_exponents(current, current_exact, allowed),
        )
    )
    ranking: list[tuple[str, float, float]] = []
    if rank and n_q == 1:
        contrib = weights[0][:, None] * vs.matrix
        steps.append(
            Step(
                "weighted",
                contrib,
                key_tok,
                vs.cols,
                "aⱼ · vⱼ",
                r"a_j v_j",
                operands=("weights", "v"),
            )
        )
        totals = contrib.sum(axis=1)
        order = sorted(range(n_k), key=lambda j: -totals[j])
        ranking = [(key_tok[j], float(weights[0, j]), float(totals[j])) for j in order]
    output = _weighted_sum(weights, vs.matrix, allowed)
    steps.append(
        Step("output", output, tok, vs.cols, "O = A·V", "O = AV", operands=("weights", "v"))
    )

    scale_contrast = None
    if contrast and s_value == 1.0:
        c_value, c_text, _ = resolve_scale("sqrt", d_k)
        masked_scaled = (
            np.where(allowed, scores * c_value, -np.inf)
            if allowed is not None
            else (scores * c_value)
        )
        scaled_w, _ = masked_softmax(masked_scaled, allowed)
        rows = []
        for i in range(n_q):
            j = int(np.argmax(weights[i]))
            rows.append((tok[i], key_tok[j], float(weights[i, j]), float(scaled_w[i, j])))
        scale_contrast = ScaleContrast(c_value, c_text, scaled_w, rows)

    return Trace(
        steps=steps,
        scale=s_value,
        scale_text=s_text,
        d_k=d_k,
        causal=align,
        example=example,
        contrast=scale_contrast,
        ranking=ranking,
    )


def _build_trace_mask(
    mask: Any, align: Align | None, shape: tuple[int, int]
) -> tuple[np.ndarray | None, np.ndarray | None]:
    if mask is not None:
        m = np.asarray(mask)
        if m.shape != shape:
            raise InputError(
                f"mask is {'x'.join(map(str, m.shape))}, expected {shape[0]}x{shape[1]} "
                "(queries x keys)"
            )
        if m.dtype != bool and np.any(np.isnan(m.astype(np.float64))):
            raise InputError("mask contains NaN")
    return _combine_masks(mask, align, shape)


def _exponents(
    scores: np.ndarray, exact: np.ndarray | None, allowed: np.ndarray | None
) -> np.ndarray:
    """s_ij - max_j s_ij for each allowed entry (exact when the scores are), None if masked."""
    n, m = scores.shape
    out = np.empty((n, m), dtype=object)
    for i in range(n):
        ok = [j for j in range(m) if allowed is None or allowed[i, j]]
        if not ok:
            continue
        if exact is not None:
            top = max(exact[i, j] for j in ok)
            for j in ok:
                out[i, j] = exact[i, j] - top
        else:
            top_f = max(scores[i, j] for j in ok)
            for j in ok:
                out[i, j] = float(scores[i, j] - top_f)
    return out
