"""A ModelExplanation -> Document: the hand calculation's steps, filled with a real model's
numbers, between a section on where they come from and one on where the head's output goes
(W_O), and the check against the model. The same renderers write it (text, Markdown, LaTeX,
HTML); JSON is the explanation's own (qkv.model-head/1).

Wide matrices are never cut silently. X (tokens × d_model), the head's W_Q, W_K, W_V (d_model
rows) and W_O's columns show the dimensions chosen by ``columns`` (default: as many as fit
the width), each with a note that says which are shown and how to see the others; HTML and
JSON hold every one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from qkv import limits
from qkv.core.exact import fmt
from qkv.core.expand import expand
from qkv.core.lang import default_lang
from qkv.core.trace import Step, Trace
from qkv.errors import InputError
from qkv.render.layout import Document, Section, Table, build, step_table
from qkv.render.messages import t

# Steps whose rows or columns are the model's dimensions (d_model, 384 in MiniLM) or the
# head's (d_head, 32): both are cut to the chosen columns in text, Markdown and LaTeX.
MODEL_ROWS = ("wq", "wk", "wv")
MODEL_COLS = ("x", "wo", "share")
HEAD_COLS = ("wq", "wk", "wv", "bq", "bk", "bv", "q", "k", "v", "output")
LONG_SUM = 4  # a projection's 384 products: the first three, "…", the last
CELL = 9  # a number of 3 digits and its padding, in characters


def fitting(width: int, total: int) -> list[int]:
    """The first dimensions that fit a table ``width`` characters wide (at least 4)."""
    return list(range(min(total, max(4, (width - 16) // CELL))))


def parse_columns(spec: str, total: int) -> list[int] | None:
    """``--columns``: "all" (None), or numbers and ranges from 1: "1-8", "1-4,380-384"."""
    if spec.strip().lower() == "all":
        return None
    chosen: list[int] = []
    for part in spec.replace("，", ",").split(","):
        low, dash, high = part.strip().partition("-")
        try:
            a, b = int(low), int(high) if dash else int(low)
        except ValueError:
            raise InputError(
                f"--columns {spec[:40]!r}: give ranges such as 1-8,380-384 or all"
            ) from None
        if not 1 <= a <= b <= total:
            raise InputError(f"--columns {part.strip()!r} is outside 1..{total}")
        chosen += [c for c in range(a - 1, b) if c not in chosen]
    return chosen


def span_text(cols: list[int]) -> str:
    """1-based ranges: [0, 1, 2, 9] -> "1–3, 10"."""
    runs: list[list[int]] = []
    for c in cols:
        if runs and c == runs[-1][-1] + 1:
            runs[-1].append(c)
        else:
            runs.append([c])
    return ", ".join(f"{r[0] + 1}" if len(r) == 1 else f"{r[0] + 1}–{r[-1] + 1}" for r in runs)


def _window(step: Step, rows: list[int] | None, cols: list[int] | None) -> Step:
    """The step with only the chosen rows and columns (numbers unchanged)."""
    r = list(range(step.shape[0])) if rows is None else rows
    c = list(range(step.shape[1])) if cols is None else cols
    return Step(
        step.id,
        step.matrix[np.ix_(r, c)],
        [step.rows[i] for i in r],
        [step.cols[j] for j in c],
        step.formula,
        step.latex,
    )


def _shown(step: Step, cols: list[int] | None, d_model: int) -> Step:
    """The step with the chosen dimensions of the model and of the head."""
    if cols is None:
        return step
    head = [c for c in cols if c < step.shape[1]] or None  # none chosen there: all of them
    rows = cols if step.id in MODEL_ROWS else None
    if step.id in MODEL_COLS:
        return _window(step, rows, cols)
    return _window(step, rows, head if step.id in HEAD_COLS else None)


def _notes(step: Step, shown: Step, lang: str) -> list[str]:
    """What a cut step shows, and how to see the rest."""
    notes = []
    if shown.shape[1] < step.shape[1]:
        cols = [step.cols.index(c) for c in shown.cols]
        notes.append(t(lang, "model.columns", shown=span_text(cols), total=step.shape[1]))
    if shown.shape[0] < step.shape[0]:
        rows = [step.rows.index(r) for r in shown.rows]
        notes.append(t(lang, "model.rows", shown=span_text(rows), total=step.shape[0]))
    return notes


def _shown_trace(tr: Trace, cols: list[int] | None, d_model: int) -> Trace:
    """The trace with its wide steps cut to ``cols``."""
    steps = [_shown(s, cols, d_model) for s in tr.steps]
    return Trace(steps, tr.scale, tr.scale_text, tr.d_k, tr.causal, heads=tr.heads)


def build_model(e: Any, lang: str, digits: int = 3, columns: list[int] | None = None) -> Document:
    """The Document of a ModelExplanation; ``columns`` (0-based dimensions of d_model) are
    those shown of the wide matrices, None for all."""
    if columns is not None and len(columns) >= e.d_model:
        columns = None
    shown = _shown_trace(e.trace, columns, e.d_model)
    doc = build(shown, lang, digits, entry=None)
    i = 0 if e.query is None else e.query
    j = int(np.argmax(e.trace["weights"].matrix[i]))  # the key it attends to most
    for sec in doc.sections:
        _decorate(sec, e, lang, digits, (i, j))
        if sec.id in e.trace:
            sec.notes += _notes(e.trace[sec.id], shown[sec.id], lang)
        if sec.id == "x":  # its width is the model's, not the columns shown
            sec.text = t(lang, "step.x.text", cols=e.d_model)
    sections = [_source(e, lang), *doc.sections]
    if e.query is not None:
        sections += _query_sections(e, lang, digits)
    sections += _next_sections(e, lang, digits, columns)
    sections.append(_check_section(e, lang))
    title = t(lang, "model.title", model=e.model, layer=e.layer, head=e.head)
    subtitle = f"{doc.subtitle} · {t(lang, 'model.verified', error=_sci(e.check.weights))}"
    return Document(lang, title, subtitle, sections)


def _sci(x: float) -> str:
    return "0" if x == 0 else f"{x:.1e}"


def _decorate(sec: Section, e: Any, lang: str, digits: int, entry: tuple[int, int]) -> None:
    """The arithmetic of one entry: the query's (Q), the key's it attends to most (K, V),
    or (query, that key)."""
    if sec.id not in e.trace or e.trace[sec.id].same_as is not None:
        return
    step = e.trace[sec.id]
    first = {"q": (entry[0], 0), "k": (entry[1], 0), "v": (entry[1], 0), "output": (entry[0], 0)}
    i, j = first.get(sec.id, entry)
    ex = expand(e.trace, sec.id, i, j, digits, most=LONG_SUM)
    if ex is None:
        return
    heading = t(lang, "expand.title", row=step.rows[i], col=step.cols[j])
    if sec.id in ("q", "k", "v"):
        heading = t(lang, "model.expand.long", row=step.rows[i], col=step.cols[j], n=e.d_model)
    sec.expansion = (heading, ex.plain, ex.latex)


def _source(e: Any, lang: str) -> Section:
    d, h = e.d_head, e.head
    span = f"{(h - 1) * d + 1}–{h * d}"
    if e.family == "bert":
        x = t(lang, "model.x.bert1") if e.layer == 1 else t(lang, "model.x.bert", prev=e.layer - 1)
    else:
        norm = "ln_1" if e.family == "gpt2" else "ln1"
        key = "model.x.pre1" if e.layer == 1 else "model.x.pre"
        many = "model.before.one" if e.layer == 2 else "model.before.many"
        x = t(lang, key, norm=norm, before=t(lang, many, prev=e.layer - 1))
    text = t(lang, "model.source.text", layer=e.layer, x=x, head=h, heads=e.heads, span=span, d=d)
    notes = [t(lang, "model.causal" if e.causal else "model.nopad")]
    if e.kv_heads != e.heads:
        group = (h - 1) // (e.heads // e.kv_heads) + 1
        notes.append(t(lang, "model.gqa", head=h, group=group, kv=e.kv_heads))
    if e.query is None:
        notes.append(t(lang, "model.query.hint"))
    tokens = Table(t(lang, "model.tokens"), [str(n + 1) for n in range(len(e.tokens))], [])
    tokens.rows.append(("", list(e.tokens)))
    return Section("model", t(lang, "model.source.title"), text, table=tokens, notes=notes)


def _query_sections(e: Any, lang: str, digits: int) -> list[Section]:
    """One query's row, entry by entry: products, running sums, softmax terms, the output."""
    w = e.work
    keys = [j for j in range(len(w.allowed)) if w.allowed[j]]  # the keys it may see
    labels = [e.tokens[j] for j in keys]

    def num(v: float) -> str:
        return fmt(v, digits)

    def by_dim(values: Any, first: Any = None) -> list[tuple[str, list[str]]]:
        """Rows t = 1..d: [first[t]], then values[t, j] for each key j."""
        return [
            (str(d + 1), [*([] if first is None else [num(first[d])]),
                          *(num(values[d, j]) for j in keys)])
            for d in range(values.shape[0])
        ]  # fmt: skip

    products = Table("t", ["q", *labels], by_dim(w.products, e.trace["q"].matrix[w.query]))
    products.rows.append(("Σ", ["", *(num(w.scores[j]) for j in keys)]))
    running = Table("t", labels, by_dim(w.running))
    columns = (w.scores, w.scaled, w.exponents, w.terms, w.weights)
    soft = Table(
        t(lang, "model.key"),
        ["s", f"s · {e.trace.scale_text}", "s − m", "e^(s − m)", "a"],
        [(e.tokens[j], [num(c[j]) for c in columns]) for j in keys],
    )
    output = Table("t", [*(f"a·v {k}" for k in labels), "o"], by_dim(w.weighted.T))
    for d, row in enumerate(output.rows):
        row[1].append(num(w.output[d]))
    top = max(w.scaled[j] for j in keys)
    words = {"scale": e.trace.scale_text, "m": num(top), "total": num(w.total)}
    return [
        Section(
            f"q.{part}",
            t(lang, f"model.q.{part}.title", token=e.tokens[w.query]),
            t(lang, f"model.q.{part}.text", **words),
            table=table,
        )
        for part, table in (
            ("products", products),
            ("running", running),
            ("softmax", soft),
            ("output", output),
        )
    ]


def _next_sections(e: Any, lang: str, digits: int, cols: list[int] | None) -> list[Section]:
    """The concatenation and W_O: this head's rows of W_O, and its share of the output."""
    d, h = e.d_head, e.head
    span, width = f"{(h - 1) * d + 1}–{h * d}", e.heads * d
    after = t(lang, "model.after.post" if e.norm == "post" else "model.after.pre")
    bias = t(lang, "model.bo") if e.has_bo else ""
    text = t(
        lang, "model.next.text", heads=e.heads, head=h, span=span, width=width,
        d_model=e.d_model, bias=bias, after=after,
    )  # fmt: skip
    out: list[Section] = []
    for step, key in ((e.wo, "model.wo"), (e.share, "model.share")):
        shown = _shown(step, cols, e.d_model)
        sec = Section(
            step.id,
            t(lang, f"{key}.title", head=h, span=span),
            text if key == "model.wo" else t(lang, "model.share.text", head=h),
            formula=step.formula,
            latex=step.latex,
            table=step_table(shown, digits),
        )
        sec.notes += _notes(step, shown, lang)
        out.append(sec)
    return out


def _check_section(e: Any, lang: str) -> Section:
    c = e.check
    text = t(
        lang, "model.check.text", weights=_sci(c.weights), output=_sci(c.output),
        projection=_sci(c.projection), heads=e.heads, wl=f"{c.weights_limit:.0e}",
        ol=f"{c.output_limit:.1e}", pl=f"{c.projection_limit:.1e}",
    )  # fmt: skip
    return Section("check", t(lang, "model.check.title"), text)


def render_model(
    e: Any,
    fmt_name: str = "text",
    *,
    lang: str | None = None,
    digits: int = 3,
    columns: str | list[int] | None = None,
    width: int = 100,
    standalone: bool = False,
) -> str:
    """The explanation in text, markdown, latex, html or json. ``columns``: a --columns spec
    or 0-based dimensions; default: all in HTML, as many as fit ``width`` elsewhere;
    ``standalone``: LaTeX as a whole document."""
    if fmt_name == "json":
        return str(e.to_json())
    doc = model_document(e, fmt_name, lang=lang, digits=digits, columns=columns, width=width)
    if fmt_name == "text":
        from qkv.render.text import to_string

        return to_string(doc, width)
    if fmt_name == "markdown":
        from qkv.render.markdown import render as markdown

        return markdown(doc)
    if fmt_name == "latex":
        from qkv.render.latex import render as latex

        return latex(doc, standalone)
    from qkv.render.html import render as html

    return html(doc, wide=True)


def model_document(
    e: Any,
    fmt_name: str,
    *,
    lang: str | None = None,
    digits: int = 3,
    columns: str | list[int] | None = None,
    width: int = 100,
) -> Document:
    """The Document, with the columns a format shows (HTML: all, by default)."""
    from qkv.render import FORMATS

    if fmt_name not in FORMATS:
        raise InputError(f"unknown format {fmt_name!r}; formats: {', '.join(FORMATS)}")
    if isinstance(columns, str):
        chosen = parse_columns(columns, e.d_model)
    elif columns is None:
        chosen = None if fmt_name == "html" else fitting(width, e.d_model)
    else:
        chosen = list(columns)
    if fmt_name != "html" and len(e.tokens) > limits.MAX_TABLE:
        raise InputError(
            f"{len(e.tokens)} tokens are too many for a table (at most {limits.MAX_TABLE}); "
            "use --format html or json"
        )
    return build_model(e, lang or e.lang or default_lang(), digits, chosen)


def text_of(e: Any) -> str:
    """``str(explanation)``."""
    return render_model(e, "text")


def html_of(e: Any) -> str:
    """Jupyter: a scrolling fragment with every column."""
    from qkv.render.html import fragment

    return fragment(model_document(e, "html"), wide=True)
