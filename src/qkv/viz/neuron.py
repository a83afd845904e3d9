"""The neuron view: how q·k builds one score, dimension by dimension (as bertviz's neuron
view, but exact): q_i[t], k_j[t], their product and the running sum, then the scaled score
and the weight. One offline page; choosing another query or key redraws it from the data in
the page (labels set with textContent, never as HTML); the first pair is drawn in the HTML
itself, so the page reads without scripts too.
"""

from __future__ import annotations

import re
from fractions import Fraction
from html import escape
from typing import Any

from qkv import limits
from qkv.core.exact import fmt, fmt_exact
from qkv.core.trace import Step, Trace
from qkv.errors import InputError
from qkv.viz.labels import visible_all
from qkv.viz.page import _script_json, _template


def neuron_data(trace: Trace, head: int | None = None, digits: int = 3) -> dict[str, Any]:
    """Every (query, key) pair's products and running sums, exact where Q and K are."""
    if trace.score != "dot":
        raise InputError("the neuron view shows dot products; additive scores have none")
    if trace.heads > 1 and head is None:
        head = 1
    if head is not None and not 1 <= head <= trace.heads:
        raise InputError(f"head {head} is outside the trace's {trace.heads} heads")
    prefix = f"h{head}." if trace.heads > 1 else ""
    q, k = trace[prefix + "q"], trace[prefix + "k"]
    n, d = q.shape
    m = k.shape[0]
    if n * m * d > limits.EXACT_WORK:
        raise InputError(
            f"{n} queries x {m} keys x {d} dimensions is too much for a neuron view "
            f"(at most {limits.EXACT_WORK:,} products)"
        )
    exact = q.exact is not None and k.exact is not None
    scaled = next((s for s in trace.steps if s.id == prefix + "scaled"), None)
    weights = trace[prefix + "weights"]
    pairs = [[_pair(q, k, i, j, exact, digits) for j in range(m)] for i in range(n)]
    for i in range(n):
        for j in range(m):
            pair = pairs[i][j]
            pair["scaled"] = None if scaled is None else _cell(scaled, i, j, digits)
            ok = weights.mask is None or bool(weights.mask[i, j])
            pair["weight"] = _cell(weights, i, j, digits) if ok else "masked"
    return {
        "queries": list(q.rows),
        "keys": list(k.rows),
        # as the page shows them (whitespace as ␣ ⏎ ⇥); the tokens above stay as they are
        "query_labels": visible_all(list(q.rows)),
        "key_labels": visible_all(list(k.rows)),
        "dims": list(q.cols),
        "q": [[_cell(q, i, t, digits) for t in range(d)] for i in range(n)],
        "k": [[_cell(k, j, t, digits) for t in range(d)] for j in range(m)],
        "pairs": pairs,
        "scale": trace.scale_text,
        "head": head,
        "exact": exact,
    }


def _cell(step: Step, i: int, j: int, digits: int) -> str:
    return fmt(step.matrix[i, j], digits, step.exact_at(i, j))


def _pair(q: Step, k: Step, i: int, j: int, exact: bool, digits: int) -> dict[str, Any]:
    """q_i[t]·k_j[t] for each t, and the sums so far."""
    d = q.shape[1]
    if exact:
        assert q.exact is not None and k.exact is not None
        prods: list[Fraction | float] = [q.exact[i, t] * k.exact[j, t] for t in range(d)]
    else:
        prods = [float(q.matrix[i, t] * k.matrix[j, t]) for t in range(d)]
    sums, total = [], Fraction(0) if exact else 0.0
    for p in prods:
        total = total + p
        sums.append(total)

    def text(x: Fraction | float) -> str:
        return fmt_exact(x) if isinstance(x, Fraction) else fmt(x, digits)

    return {
        "products": [text(p) for p in prods],
        "values": [float(p) for p in prods],
        "sums": [text(s) for s in sums],
        "score": text(sums[-1]) if sums else "0",
    }


def neuron_page(
    trace: Trace,
    query: int = 0,
    key: int = 0,
    *,
    head: int | None = None,
    title: str = "",
    digits: int = 3,
) -> str:
    """The whole page; ``query`` and ``key`` (0-based) are shown first."""
    data = neuron_data(trace, head, digits)
    n, m = len(data["queries"]), len(data["keys"])
    if not (0 <= query < n and 0 <= key < m):
        raise InputError(f"query {query + 1}, key {key + 1} is outside {n} queries x {m} keys")
    heading = title or "q·k, dimension by dimension"
    if data["head"] is not None:
        heading += f" (head {data['head']})"
    parts = {
        "TITLE": escape(heading),
        "TABLE": _table(data, query, key),
        "RESULT": escape(_result(data, query, key)),
        "QUERY_OPTIONS": _options(data["query_labels"], query),
        "KEY_OPTIONS": _options(data["key_labels"], key),
        "DATA": _script_json({**data, "query": query, "key": key}),
    }
    return re.sub(r"\{\{([A-Z_]+)\}\}", lambda mt: parts[mt.group(1)], _template("neuron.html"))


def _result(data: dict[str, Any], i: int, j: int) -> str:
    """The line under the table (the page's script writes the same for other pairs)."""
    pair = data["pairs"][i][j]
    parts = [f"{data['query_labels'][i]} · {data['key_labels'][j]}: score = {pair['score']}"]
    if pair["scaled"] is not None:
        parts.append(f"× {data['scale']} = {pair['scaled']}")
    parts.append(f"weight after softmax = {pair['weight']}")
    return "; ".join(parts)


def _options(labels: list[str], chosen: int) -> str:
    return "".join(
        f'<option value="{i}"{" selected" if i == chosen else ""}>{i + 1}: {escape(t)}</option>'
        for i, t in enumerate(labels)
    )


def _table(data: dict[str, Any], i: int, j: int) -> str:
    """The first pair's rows, drawn in Python the way the page's script draws the others."""
    pair = data["pairs"][i][j]
    top = max((abs(v) for v in pair["values"]), default=0.0) or 1.0
    rows = []
    for t, dim in enumerate(data["dims"]):
        v = pair["values"][t]
        width = 100 * abs(v) / top
        sign = "pos" if v >= 0 else "neg"
        rows.append(
            f"<tr><th>{escape(dim)}</th><td>{escape(data['q'][i][t])}</td><td>×</td>"
            f"<td>{escape(data['k'][j][t])}</td><td>=</td><td>{escape(pair['products'][t])}</td>"
            f'<td class="bar"><span class="{sign}" style="width:{width:.1f}%"></span></td>'
            f"<td>{escape(pair['sums'][t])}</td></tr>"
        )
    return "".join(rows)
