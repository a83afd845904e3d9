"""check(): an article (Markdown, plain text, notebook or HTML page) -> Report.

read the file as lines -> read fragments (tables, LaTeX, arrays) -> name them from their
words -> group them into worked examples -> choose each example's convention -> judge
every printed number -> place fragments no words name where their numbers fit -> report
"""

from __future__ import annotations

import re

from qkv.review import budget, copies, equations, evidence, steps
from qkv.review.document import PROSE, Document, from_text
from qkv.review.examples import Example, Placement, group
from qkv.review.fragments import Fragment, Skipped
from qkv.review.fragments import skipped as skip
from qkv.review.judge import Judgement, TextHints, cells_of, judge, printed_boxes
from qkv.review.model import DERIVED
from qkv.review.readers import code_names, ensure_few, read_all
from qkv.review.report import Report
from qkv.review.roles import Description, unscaled

MIN_SHARE = 0.75  # of its numbers a fragment no words name must match to be placed

_DIVIDE = re.compile(
    r"(?:divid\w*|除以|scal\w* (?:down )?by)\s+(?:\w+\s+){0,3}?(\d+(?:\.\d+)?)", re.I
)
_ROOT = re.compile(r"(?:√|\\sqrt\{|sqrt\(|根号)\s*(\d+(?:\.\d+)?)")
# words that say the numbers are scaled, more than a formula that has √d_k in it
_APPLIED = re.compile(
    r"scaling\s+factor|scal(?:e|ed|ing)\s+(?:\w+\s+){0,3}by\b|divid\w*\s+(?:\w+\s+){0,4}by\b|"
    r"缩放因子|除以|乘以\s*1\s*/",
    re.I,
)
_SCALING = re.compile(r"√|\\sqrt|sqrt|\bd_?\{?k\}?\b|\bscal(?:ed|ing|e)\b|缩放", re.I)
_DROPOUT = re.compile(r"dropout|随机失活|丢弃", re.I)
_DK = re.compile(r"\bd_?\{?k\}?\s*=\s*(\d+)\b")
# a divisor written as a rounded root or put right after the scores: "√2 ≈ 1.414", "S / 1.414"
_APPROX = re.compile(
    r"(?:√|\\sqrt|sqrt)\s*[({]?\s*\w+\s*[)}]?\s*(?:≈|=|\\approx)\s*(\d+\.\d+)|"
    r"\b(?:S|scores?|QK\^?T|QKᵀ|Q\s*K\^?\{?T\}?|XXᵀ)\s*/\s*(\d+(?:\.\d+)?)\b"
)


def load(text: str, name: str) -> Document:
    """The article as lines: a notebook or an HTML page by its name or its first bytes."""
    lower = name.lower()
    head = text.lstrip()[:1000].lower()
    if lower.endswith(".ipynb") or (
        not lower.endswith((".md", ".txt")) and head.startswith("{") and '"cell_type"' in text
    ):
        from qkv.review import notebook

        return notebook.read(text, name)
    if lower.endswith((".html", ".htm")) or head.startswith(("<!doctype html", "<html")):
        from qkv.review import htmlpage  # html.parser is loaded only for pages

        return htmlpage.read(text, name)
    return from_text(text, name)


def check(text: str, name: str = "<text>", seconds: float = budget.SECONDS) -> Report:
    budget.start(seconds)
    ensure_few(text)
    doc = load(text, name)
    fragments, skipped, written = read_all(doc)
    hints = text_hints(doc)
    stated = tuple(1 / float(s[2:]) for s in hints.stated)  # the factors it divides by
    written += steps.find(doc, fragments, stated)
    examples, unnamed = group(fragments, skipped, code_names(doc))
    unnamed = [f for f in unnamed if f.kind != "equation"]  # equations check themselves
    judgements = [j for e in examples if (j := judge(e, hints)) is not None]
    _place_unnamed(unnamed, examples, judgements, hints, skipped)
    judgements, unconvincing = evidence.weigh(doc, judgements, *equations.alone(written), stated)
    skipped += [
        Skipped(u.line, _why(u))
        if u.elsewhere or u.misread or u.unmodelled
        else skip(u.line, "check.unconvincing", explained=u.explained, numbers=u.numbers)
        for u in unconvincing
    ]
    earlier = [v for j in judgements for v in j.verdicts]
    if written:
        judgements.append(equations.judge(written, earlier))
    so_far = [v for j in judgements for v in j.verdicts]
    judgements.append(copies.judge(doc, fragments, written, so_far))
    return Report(name, doc, fragments, examples, judgements, skipped)


def _why(u: evidence.Unconvincing) -> str:
    if u.elsewhere:
        return "check.elsewhere"
    return "check.misread" if u.misread else "check.unmodelled"


def text_hints(doc: Document) -> TextHints:
    """Scale factors the prose states ("divide by 8", "√64", "d_k = 64" -> "1/8"), whether
    it speaks of scaling at all, and the lines that say the numbers are scaled or not."""
    found: list[str] = []
    scaled = False
    applied: list[int] = []
    unapplied: list[int] = []
    for k, line in enumerate(doc.lines):
        if line.region != PROSE:
            continue
        scaled = scaled or bool(_SCALING.search(line.text))
        if unscaled(line.text):
            unapplied.append(k)
        elif _APPLIED.search(line.text):
            applied.append(k)
        for m in _DIVIDE.finditer(line.text):
            found.append(f"1/{float(m.group(1)):g}")
        for pattern in (_ROOT, _DK):
            for m in pattern.finditer(line.text):
                found.append(f"1/{float(m.group(1)) ** 0.5:g}")
        for m in _APPROX.finditer(line.text):
            found.append(f"1/{float(m.group(1) or m.group(2)):g}")
    stated = tuple(s for s in dict.fromkeys(found) if 1 < float(s[2:]) <= 1000)
    dropout = any(_DROPOUT.search(t) for t in doc.texts)
    return TextHints(stated, scaled or bool(stated), tuple(applied), tuple(unapplied), dropout)


def _place_unnamed(
    unnamed: list[Fragment],
    examples: list[Example],
    judgements: list[Judgement],
    hints: TextHints,
    skipped: list[Skipped],
) -> None:
    """Fragments no words name: the step of the nearest example whose numbers they match."""
    if unnamed and not examples:
        first = unnamed.pop(0)  # an article of bare matrices: the first is X
        examples.append(
            Example(0, [Placement(first, "x", list(range(first.shape[0])), given=True)])
        )
        judged = judge(examples[0], hints)
        if judged is not None:
            judgements.append(judged)
    for f in unnamed:
        budget.tick()
        example = _nearest(examples, f)
        j = next((j for j in judgements if j.example is example), None)
        placement = None if j is None else _best_fit(f, j)
        if placement is None:
            skipped.append(skip(f.line, "check.unplaced", shape=f"{f.shape[0]}×{f.shape[1]}"))
            continue
        assert j is not None
        example.placements.append(placement)
        rejudged = judge(example, hints)
        if rejudged is not None:
            judgements[judgements.index(j)] = rejudged


def _nearest(examples: list[Example], f: Fragment) -> Example:
    """The example whose computed steps surround the fragment, or the last one before it
    (inputs copied into a second pass over them do not count: they stand earlier)."""

    def first(e: Example) -> int:
        own = [p.fragment.line for p in e.checked] or [p.fragment.line for p in e.placements]
        return min(own) if own else 10**9

    around = [e for e in examples if e.checked and first(e) <= f.line <= e.lines[1]]
    if around:
        return around[-1]
    before = [e for e in examples if e.placements and first(e) <= f.line]
    return before[-1] if before else examples[0]


def _best_fit(f: Fragment, j: Judgement) -> Placement | None:
    """The placement in a step whose true values match the most of the fragment's numbers."""
    from qkv.review.model import evaluate

    inputs = j.example.inputs()
    truth = evaluate(inputs, j.convention)
    known = {name: box.shape for name, box in truth.at.items()}
    chain = evaluate(inputs, j.convention, printed_boxes(j.example, known))
    best: tuple[float, Placement] | None = None
    for role in DERIVED:
        if role not in truth.at or role == "weighted":
            continue
        shape = known[role]
        options = []
        if f.vector and f.shape[1] == shape[1]:
            options = [Placement(f, role, [i], desc=Description()) for i in range(shape[0])]
        elif f.shape == shape:
            options = [Placement(f, role, list(range(shape[0])), desc=Description())]
        for p in options:
            box, derived = truth.at[role], chain.derived.get(role)
            cells = cells_of(p)
            share = sum(
                p.fragment.cells[r][c].fits(box.lo[idx], box.hi[idx])
                or (
                    derived is not None
                    and p.fragment.cells[r][c].fits(derived.lo[idx], derived.hi[idx])
                )
                for r, c, idx in cells
            ) / len(cells)
            if best is None or share > best[0]:
                best = (share, p)
    if best is None or best[0] < MIN_SHARE:
        return None
    return best[1]
