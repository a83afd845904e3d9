"""check(): an article (Markdown, plain text, notebook or HTML page) -> Report.

The checker is a pipeline of stages; each takes the values of the stages before it and gives
new ones (no stage rewrites another's objects):

    load                 text -> Document (lines, regions; notebook.py, htmlpage.py)
    readers.read_all     Document -> fragments (numbers as printed), written arithmetic,
                         what could not be read
    steps.find, sums     fragments -> more arithmetic: softmax steps the words state, a
                         "Sum = …" under the numbers it adds up
    examples.group       fragments -> worked examples (words bind fragments to steps),
                         fragments no words name, fragments that fit no example
    judge.judge          example -> Judgement: the reading (convention) that explains the
                         most printed numbers, and a verdict for every number
    unnamed.place        unnamed fragments -> placed where their numbers fit
    evidence.weigh       judgements -> those whose reading is convincing, the rest as notes
    equations.judge      written arithmetic -> verdicts, link by link, with the true values
                         of wrong numbers it uses
    copies.judge         wrong rows printed again elsewhere -> their verdicts
    report.Report        every verdict once, as findings (a mistake and what follows)
"""

from __future__ import annotations

import re

from qkv.review import budget, copies, equations, evidence, steps
from qkv.review import unnamed as unnamed_stage
from qkv.review.document import PROSE, Document, from_text
from qkv.review.examples import group
from qkv.review.fragments import Skipped
from qkv.review.fragments import skipped as skip
from qkv.review.judge import TextHints, judge
from qkv.review.readers import code_names, ensure_few, read_all
from qkv.review.report import Report
from qkv.review.roles import unscaled

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
    """The report on one article: ``text`` as read from the file ``name`` (its suffix picks the
    reader: Markdown or plain text, .ipynb, .html), checked within ``seconds`` of CPU time
    (InputError past it, or for an unreadable text). The stages are listed at the top of this
    module; qkv.check() is the public face (a path or a text)."""
    budget.start(seconds)
    ensure_few(text)
    doc = load(text, name)
    fragments, skipped, written = read_all(doc)
    hints = text_hints(doc)
    stated = tuple(1 / float(s[2:]) for s in hints.stated)  # the factors it divides by
    written += steps.find(doc, fragments, stated)
    written += steps.sums(written, fragments)
    examples, unnamed, unfit = group(fragments, code_names(doc))
    skipped = skipped + unfit
    unnamed = [f for f in unnamed if f.kind != "equation"]  # equations check themselves
    judgements = [j for e in examples if (j := judge(e, hints)) is not None]
    examples, judgements, unplaced = unnamed_stage.place(unnamed, examples, judgements, hints)
    skipped += unplaced
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


_COMMENT = re.compile(r"(?:^|\s)(?:#|//|--)\s?(.*)$")


def _comment(code: str) -> str:
    """The words of a comment in a line of code ("// d_k = 2. sqrt(d_k) = 1.414"): code
    explained in its comments says what a paragraph would."""
    m = _COMMENT.search(code)
    return m.group(1) if m else ""


def text_hints(doc: Document) -> TextHints:
    """Scale factors the prose states ("divide by 8", "√64", "d_k = 64" -> "1/8"), whether
    it speaks of scaling at all, and the lines that say the numbers are scaled or not."""
    found: list[str] = []
    scaled = False
    applied: list[int] = []
    unapplied: list[int] = []
    for k, line in enumerate(doc.lines):
        text = line.text if line.region == PROSE else _comment(line.text)
        if not text:
            continue
        scaled = scaled or bool(_SCALING.search(text))
        if unscaled(text):
            unapplied.append(k)
        elif _APPLIED.search(text):
            applied.append(k)
        for m in _DIVIDE.finditer(text):
            found.append(f"1/{float(m.group(1)):g}")
        for pattern in (_ROOT, _DK):
            for m in pattern.finditer(text):
                found.append(f"1/{float(m.group(1)) ** 0.5:g}")
        for m in _APPROX.finditer(text):
            found.append(f"1/{float(m.group(1) or m.group(2)):g}")
    stated = tuple(s for s in dict.fromkeys(found) if 1 < float(s[2:]) <= 1000)
    dropout = any(_DROPOUT.search(t) for t in doc.texts)
    return TextHints(stated, scaled or bool(stated), tuple(applied), tuple(unapplied), dropout)
