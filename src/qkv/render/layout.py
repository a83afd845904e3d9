"""Trace -> Document: titles, explanations, formatted cells and expansions, in one language.

Every face (terminal, Markdown, LaTeX, HTML) lays out the same Document, so the words and the
digits are decided here once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qkv import limits
from qkv.core.exact import fmt
from qkv.core.expand import expand
from qkv.core.trace import ScaleContrast, Step, Trace
from qkv.render.messages import t

MAX_TABLE = limits.MAX_TABLE  # rows or columns beyond this do not fit a table a person reads


@dataclass
class Table:
    corner: str
    cols: list[str]
    rows: list[tuple[str, list[str]]]


@dataclass
class Section:
    id: str
    title: str
    text: str
    formula: str = ""
    latex: str = ""
    table: Table | None = None
    expansion: tuple[str, str, str] | None = None  # (heading, plain, latex)
    notes: list[str] = field(default_factory=list)


@dataclass
class Document:
    lang: str
    title: str
    subtitle: str
    sections: list[Section]


def step_table(step: Step, digits: int) -> Table:
    rows = []
    for i, label in enumerate(step.rows):
        cells = []
        for j in range(step.shape[1]):
            if step.mask is not None and step.base == "masked" and not step.mask[i, j]:
                cells.append("-∞")
            else:
                cells.append(fmt(step.matrix[i, j], digits, step.exact_at(i, j)))
        rows.append((label, cells))
    return Table("", list(step.cols), rows)


def _step_text(step: Step, trace: Trace, lang: str) -> str:
    if step.same_as is not None:
        return t(lang, "step.same.text", id=step.id.upper())
    if step.head is not None and (step.base in ("q", "k", "v") or step.head > 1):
        return _head_text(step, lang)
    if step.id in ("wq", "wk", "wv", "bq", "bk", "bv"):  # a projection, or its bias
        return t(lang, f"step.{step.id[0]}.text", what=t(lang, f"what.{step.id[1]}"))
    if step.id in ("wa_q", "wa_k"):
        return t(lang, "step.wa.text", what=step.id[-1].upper())
    if step.id == "x":
        return t(lang, "step.x.text", cols=step.shape[1])
    if step.base == "scaled":
        return t(lang, "step.scaled.text", scale=trace.scale_text)
    if step.base == "scores" and trace.score == "additive":
        return t(lang, "step.additive.text")
    if step.id == "concat" or (step.id == "output" and step.operands is None and trace.heads > 1):
        return t(lang, "step.concat.text", heads=trace.heads)
    if step.id == "output" and "wo" in trace:
        return t(lang, "step.projected.text")
    return t(lang, f"step.{step.base}.text")


def _head_text(step: Step, lang: str) -> str:
    """A head's share of Q, K or V; the other steps' words once, in head 1."""
    assert step.head is not None
    if step.base not in ("q", "k", "v"):
        return t(lang, "head.again", head=step.head)
    key = "step.split.text" if len(step.cols) > 1 else "step.split.one"  # "column 1"
    span = f"{step.cols[0]}–{step.cols[-1]}" if len(step.cols) > 1 else step.cols[0]
    return t(lang, key, head=step.head, span=span, what=step.base.upper())


def _step_title(step: Step, trace: Trace, lang: str) -> str:
    if step.base == "scores" and trace.score == "additive":
        return t(lang, "step.additive.title")
    if step.id == "output" and step.operands is None and trace.heads > 1:
        title = t(lang, "step.concat.title")
    elif step.id == "output" and "wo" in trace:
        title = t(lang, "step.projected.title")
    elif step.base == "weights":
        title = t(lang, "step.weights.title", formula=weights_formula(step, trace)[0])
    else:
        title = t(lang, f"step.{step.base}.title")
    return title if step.head is None else t(lang, "head.title", title=title, head=step.head)


def weights_formula(step: Step, trace: Trace) -> tuple[str, str]:
    """A = softmax(…) with the argument the steps before it made (plain, LaTeX): S/√d_k
    once scaled, mask(…) once masked. The heading then says what was computed."""
    before = {s.base for s in trace.steps if s.head == step.head}
    arg, tex = "S", "S"
    if "scaled" in before:
        if trace.scale_text.startswith("1/√"):
            arg, tex = "S/√d_k", r"S/\sqrt{d_k}"
        else:
            arg, tex = f"{trace.scale_text}·S", rf"{trace.scale_text} \cdot S"
    if "masked" in before:
        arg, tex = f"mask({arg})", rf"\operatorname{{mask}}({tex})"
    return f"A = softmax({arg})", rf"A = \operatorname{{softmax}}({tex})"


def mask_text(trace: Trace, lang: str) -> str:
    parts = []
    if trace.causal is not None:
        parts.append(t(lang, f"mask.{trace.causal}"))
    if trace.lengths is not None:
        parts.append(t(lang, "mask.lengths", lengths=", ".join(map(str, trace.lengths))))
    if parts:
        return "; ".join(parts)
    masked = any(s.base == "masked" for s in trace.steps)
    return t(lang, "mask.given" if masked else "mask.none")


def build(
    trace: Trace, lang: str = "en", digits: int = 3, entry: tuple[int, int] | None = (0, 0)
) -> Document:
    """Lay a Trace out; ``entry`` (0-based) is the entry whose arithmetic each step shows."""
    sections = []
    same = [s for s in trace.steps if s.same_as is not None]
    for step in trace.steps:
        if step.same_as is None:
            sections.append(_step_section(step, trace, lang, digits, entry))
        elif step is same[0]:  # Q = K = V = X: one line, not three copies of X
            ids = " = ".join(s.id.upper() for s in same)
            sections.append(
                Section(id=step.id, title=f"{ids} = X", text=t(lang, "step.same.text", id=ids))
            )
    if trace.ranking:
        sections.append(_ranking_section(trace, lang, digits))
    if trace.contrast is not None:
        sections.append(_contrast_section(trace.contrast, lang, digits))
    subtitle = t(
        lang, "doc.settings", d_k=trace.d_k, scale=trace.scale_text, mask=mask_text(trace, lang)
    )
    if trace.heads > 1:
        subtitle += " · " + t(lang, "doc.heads", heads=trace.heads)
    if trace.score == "additive":
        subtitle += " · " + t(lang, "doc.additive")
    title = t(lang, "doc.title")
    if trace.example:
        title = f"{title} · {t(lang, 'doc.example', name=trace.example)}"
    return Document(lang, title, subtitle, sections)


def _step_section(
    step: Step, trace: Trace, lang: str, digits: int, entry: tuple[int, int] | None
) -> Section:
    sec = Section(
        id=step.id,
        title=_step_title(step, trace, lang),
        text=_step_text(step, trace, lang),
        formula=step.formula,
        latex=step.latex,
        table=step_table(step, digits),
    )
    if step.base == "weights" and trace.score == "dot":
        sec.formula, sec.latex = weights_formula(step, trace)
    if step.base == "scores" and trace.score == "additive":
        sec.notes.append(t(lang, "additive.note"))
    if step.base == "masked" and trace.lengths is not None and step.head in (None, 1):
        sec.notes.append(t(lang, "lengths.note", lengths=", ".join(map(str, trace.lengths))))
    if entry is not None:
        ex = expand(trace, step.id, entry[0], entry[1], digits)
        if ex is not None:
            row, col = step.rows[entry[0]], step.cols[entry[1]]
            sec.expansion = (t(lang, "expand.title", row=row, col=col), ex.plain, ex.latex)
    return sec


def _ranking_section(trace: Trace, lang: str, digits: int) -> Section:
    cols = [t(lang, f"ranking.col.{c}") for c in ("key", "weight", "value")]
    rows = [
        (str(n), [key, fmt(w, digits), fmt(val, digits)])
        for n, (key, w, val) in enumerate(trace.ranking, start=1)
    ]
    return Section(
        id="ranking",
        title=t(lang, "ranking.title"),
        text=t(lang, "ranking.text"),
        table=Table(t(lang, "ranking.col.rank"), cols, rows),
    )


def _contrast_section(c: ScaleContrast, lang: str, digits: int) -> Section:
    cols = [
        t(lang, "contrast.col.top"),
        t(lang, "contrast.col.before"),
        t(lang, "contrast.col.after", scale=c.scale_text),
    ]
    rows = [
        (row, [col, fmt(before, digits), fmt(after, digits)]) for row, col, before, after in c.rows
    ]
    return Section(
        id="contrast",
        title=t(lang, "contrast.title"),
        text=t(lang, "contrast.text", scale=c.scale_text),
        table=Table(t(lang, "contrast.col.token"), cols, rows),
        notes=[t(lang, "contrast.after")],
    )


def too_large(trace: Trace) -> tuple[str, int, int] | None:
    """The first step too large for a table, as (id, rows, cols), else None."""
    for step in trace.steps:
        n, m = step.shape
        if n > MAX_TABLE or m > MAX_TABLE:
            return step.id, n, m
    return None
