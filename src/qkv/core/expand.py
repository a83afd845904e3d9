"""How one entry of a step is computed, written out as a person would on paper.

scores  (1, 1):  1·1 + 2·2 + 1·1 + 2·2 + 1·1 = 11
weights (1, 1):  e^0 / (e^0 + e^-2 + e^0) = 0.468
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from qkv.core.exact import fmt, fmt_exact
from qkv.core.trace import Step, Trace


@dataclass(frozen=True)
class Expansion:
    plain: str
    latex: str


def _num(step: Step, i: int, j: int, digits: int) -> str:
    return fmt(step.matrix[i, j], digits, step.exact_at(i, j))


def _paren(text: str) -> str:
    return f"({text})" if text.startswith("-") else text


def _power(e: Fraction | float, digits: int) -> tuple[str, str]:
    text = fmt_exact(e) if isinstance(e, Fraction) else fmt(float(e), digits)
    return f"e^{text}", f"e^{{{text}}}"


def expand(
    trace: Trace, step_id: str, i: int, j: int, digits: int = 3, most: int | None = None
) -> Expansion | None:
    """The arithmetic behind entry (i, j) (0-based) of a step, or None where there is none.

    ``most``: a dot product of more terms than this writes out the first most − 1 and the
    last, with "…" between (a model's 384 products are no line to read)."""
    step = trace[step_id]
    n, m = step.shape
    if not (0 <= i < n and 0 <= j < m) or step.same_as is not None:
        return None
    if step.id == "weighted":
        return _weighted(trace, step, i, j, digits)
    if step.base == "scores" and trace.score == "additive":
        return _additive(trace, step, i, j, digits)
    if step.operands is not None:
        return _product(trace, step, i, j, digits, most)
    if step.base == "scaled":
        return _scaled(trace, step, i, j, digits)
    if step.base == "masked":
        if step.mask is not None and not step.mask[i, j]:
            return Expansion("masked: -∞", r"\text{masked}: -\infty")
        return None
    if step.base == "weights":
        return _softmax(step, i, j, digits)
    return None


def _weighted(trace: Trace, step: Step, i: int, j: int, digits: int) -> Expansion:
    """a_i · v_ij for the single query's weights."""
    result = _num(step, i, j, digits)
    left, right = _num(trace["weights"], 0, i, digits), _num(trace["v"], i, j, digits)
    return Expansion(f"{left}·{_paren(right)} = {result}", rf"{left} \cdot {right} = {result}")


def _product(
    trace: Trace, step: Step, i: int, j: int, digits: int, most: int | None = None
) -> Expansion:
    """A dot product: row i of the first operand with row j (scores) or column j (others)."""
    assert step.operands is not None
    a, b = trace[step.operands[0]], trace[step.operands[1]]
    if step.base == "scores":
        pairs = [(_num(a, i, t, digits), _num(b, j, t, digits)) for t in range(a.shape[1])]
    else:
        pairs = [(_num(a, i, t, digits), _num(b, t, j, digits)) for t in range(a.shape[1])]
    if a.mask is not None:  # A·V: keys a query may not see add nothing
        pairs = [p for t, p in enumerate(pairs) if a.mask[i, t]] or [("0", "0")]
    result = _num(step, i, j, digits)
    shown = _elide(pairs, most)
    plain = " + ".join("…" if x == "…" else f"{x}·{_paren(y)}" for x, y in shown)
    latex = " + ".join(r"\dots" if x == "…" else f"{x} \\cdot {y}" for x, y in shown)
    if step.bias is not None:  # Q = X·W_Q + b_Q: the bias's entry ends the sum
        term = _num(trace[step.bias], 0, j, digits)
        plain, latex = f"{plain} + {_paren(term)}", f"{latex} + {term}"
    return Expansion(f"{plain} = {result}", f"{latex} = {result}")


def _elide(pairs: list[tuple[str, str]], most: int | None) -> list[tuple[str, str]]:
    """The first most − 1 terms, "…", and the last."""
    if most is None or len(pairs) <= most:
        return pairs
    return [*pairs[: max(1, most - 1)], ("…", "…"), pairs[-1]]


def _scaled(trace: Trace, step: Step, i: int, j: int, digits: int) -> Expansion:
    """A score times the scale: s / √d_k, or s · scale."""
    result = _num(step, i, j, digits)
    before = _num(trace[step.prefix + "scores"], i, j, digits)
    if "√" in trace.scale_text:
        return Expansion(
            f"{_paren(before)} / √{trace.d_k} = {result}",
            rf"{before} / \sqrt{{{trace.d_k}}} = {result}",
        )
    return Expansion(
        f"{_paren(before)} · {trace.scale_text} = {result}",
        rf"{before} \cdot {trace.scale_text} = {result}",
    )


def _additive(trace: Trace, step: Step, i: int, j: int, digits: int) -> Expansion:
    """v_a·tanh(qa_i + ka_j), term by term: floats, since tanh of a rational is not one."""
    qa, ka, va = trace["qa"], trace["ka"], trace["va"]
    terms = [
        (_num(va, 0, t, digits), _num(qa, i, t, digits), _num(ka, j, t, digits))
        for t in range(va.shape[1])
    ]
    result = _num(step, i, j, digits)
    plain = " + ".join(f"{w}·tanh({a} + {_paren(b)})" for w, a, b in terms)
    latex = " + ".join(rf"{w} \cdot \tanh({a} + {b})" for w, a, b in terms)
    return Expansion(f"{plain} = {result}", f"{latex} = {result}")


def _softmax(step: Step, i: int, j: int, digits: int) -> Expansion:
    """e^(s_ij - m) over the sum of the row's terms."""
    if step.exponents is None or step.exponents[i, j] is None:
        return Expansion("masked: 0", r"\text{masked}: 0")
    result = _num(step, i, j, digits)
    terms = [_power(e, digits) for e in step.exponents[i] if e is not None]
    top = _power(step.exponents[i, j], digits)
    plain = f"{top[0]} / ({' + '.join(t[0] for t in terms)}) = {result}"
    latex = rf"\frac{{{top[1]}}}{{{' + '.join(t[1] for t in terms)}}} = {result}"
    return Expansion(plain, latex)


def find_index(labels: list[str], key: str, what: str) -> int:
    """A 1-based number or a token label -> 0-based index; ValueError when neither fits."""
    key = key.strip()
    if key.isascii() and key.isdigit():
        k = int(key) if len(key) < 10 else 0
        if 1 <= k <= len(labels):
            return k - 1
        raise ValueError(f"{what} {key[:12]} is out of range 1..{len(labels)}")
    if key in labels:
        return labels.index(key)
    shown = key if len(key) <= 24 else key[:23] + "…"
    # the tokens said, so that a word cut into several tokens ("苹果": 苹, 果) is understood
    names = ", ".join(repr(t) for t in labels[:12]) + (", …" if len(labels) > 12 else "")
    raise ValueError(
        f"{what} {shown!r} is neither a number 1..{len(labels)} nor a token (they are {names})"
    )
