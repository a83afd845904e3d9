r"""LaTeX matrices: bmatrix, pmatrix, vmatrix, Bmatrix, Vmatrix, matrix, smallmatrix and array,
in $$ … $$, \[ … \] or $ … $. Rows end at \\, cells at &; \text{} labels in the first row or
column become the matrix's labels.

Each \begin is matched with the next \end of the same environment by plain string search, so
the reader is linear in the text however the environments are (un)balanced.
"""

from __future__ import annotations

import re

from qkv.review import budget
from qkv.review.document import Document, Offsets
from qkv.review.fragments import Fragment, Skipped
from qkv.review.fragments import skipped as skip
from qkv.review.readers.tables import (
    MAX_SIDE,
    claims,
    numbers_and_labels,
    too_large,
    too_large_at,
)

ENVIRONMENTS = ("bmatrix", "pmatrix", "vmatrix", "Bmatrix", "Vmatrix", "matrix", "smallmatrix")
_BEGIN = re.compile(r"\\begin\{(" + "|".join(ENVIRONMENTS) + r"|array)\*?\}")
_ARRAY_SPEC = re.compile(r"\s*(?:\[[a-z]*\]\s*)?\{[^{}]*\}")  # one run of spaces at a time
_RULES = re.compile(r"\\(?:hline|hdashline|toprule|midrule|bottomrule)|\\cline\{[^}]*\}")
_TEXT = re.compile(r"\\(?:text|mathrm|textrm|mathbf|textbf|mathit|operatorname)\s*\{([^{}]*)\}")
_SPACING = re.compile(r"\\[,;:!]|\\quad|\\qquad|~")
_ROW_END = re.compile(r"(\\\\|\\cr\b)")
_DISPLAY_START = re.compile(r"\$\$|\\\[|\\\(|(?<!\$)\$(?!\$)")


def _cell(text: str) -> str:
    """A cell as plain text: \text{笔} -> 笔, {-}1 -> -1, -\\infty kept for the number reader."""
    t = _TEXT.sub(r"\1", text)
    t = _SPACING.sub(" ", t)
    if "\\infty" not in t:
        t = t.replace("{", "").replace("}", "")
    return t.strip()


def read(doc: Document, taken: set[int]) -> tuple[list[Fragment], list[Skipped]]:
    text = doc.joined
    lines = Offsets(doc)
    found: list[Fragment] = []
    skipped: list[Skipped] = []
    pos, label_from = 0, 0
    before = set(taken)  # lines other readers took; one line may hold several matrices
    while (m := _BEGIN.search(text, pos)) is not None:
        env = m.group(1)
        end_tag = f"\\end{{{env}"
        end = text.find(end_tag, m.end())
        if end < 0:
            skipped.append(skip(lines.line(m.start()), "skip.unclosed", env=env))
            break  # no later \begin{env} can close either
        body_start = m.end()
        if env == "array":
            spec = _ARRAY_SPEC.match(text, body_start)
            body_start = spec.end() if spec else body_start
        line = lines.line(m.start())
        close = text.find("}", end)
        if line not in before:
            frag = _fragment(doc, text, lines, body_start, end, m.start(), label_from, skipped)
            if frag is not None:
                frag.span = (m.start(), close + 1 if close >= 0 else end + len(end_tag))
                found.append(frag)
                taken.update(range(line, lines.line(end) + 1))
        label_from = pos = close + 1 if close >= 0 else end + len(end_tag)
    return found, skipped


def _fragment(
    doc: Document,
    text: str,
    lines: Offsets,
    body_start: int,
    end: int,
    begin: int,
    label_from: int,
    skipped: list[Skipped],
) -> Fragment | None:
    line = lines.line(begin)
    read = _rows(text, lines, body_start, end)
    if read is None:  # a row wider than any matrix recomputed
        skipped.append(too_large_at(line))
        return None
    rows, row_lines = read
    if not rows:
        return None
    if too_large(rows):
        skipped.append(too_large_at(line))
        return None
    if len({len(r) for r in rows}) > 1:
        skipped.append(skip(line, "skip.latex_ragged"))
        return None
    parsed = numbers_and_labels(rows)
    if parsed is None:
        return None  # a matrix of symbols or expressions
    numbers, row_labels, col_labels = parsed
    if col_labels is not None:
        row_lines = row_lines[1:]
    return Fragment(
        "latex",
        claims(numbers),
        row_lines,
        label=_label(text[max(label_from, _label_start(text, lines, line, begin)) : begin]),
        row_labels=row_labels,
        col_labels=col_labels,
        region=doc.lines[line].region,
        vector=len(numbers) == 1,
        top=line,
    )


def _rows(
    text: str, lines: Offsets, body_start: int, end: int
) -> tuple[list[list[str]], list[int]] | None:
    """The cells of each non-empty row of a matrix's body and the line it starts on; None
    when a row is wider than any matrix qkv check recomputes (it is not split), and no more
    than one row past the longest (the rest is not read)."""
    rows: list[list[str]] = []
    row_lines: list[int] = []
    pos = body_start
    for chunk in _ROW_END.split(text[body_start:end]):
        start, pos = pos, pos + len(chunk)
        if chunk in ("\\\\", "\\cr"):
            continue
        budget.tick()
        if chunk.count("&") > MAX_SIDE:
            return None
        cells = [_cell(c) for c in _RULES.sub("", chunk).split("&")]
        if any(cells):
            rows.append(cells)
            row_lines.append(lines.line(start + len(chunk) - len(chunk.lstrip())))
        if len(rows) > MAX_SIDE + 1:
            break
    return rows, row_lines


def _label_start(text: str, lines: Offsets, line: int, begin: int) -> int:
    """Where the words naming a matrix start: its own line, or the line above when that
    ends in "=" and nothing stands before \\begin ("A =" on one line, the matrix below)."""
    start = lines.starts[line]
    if line and not text[start:begin].strip(" $\\[") and lines.starts[line - 1] < start:
        above = text[lines.starts[line - 1] : start]
        if re.search(r"[=:：]\s*$", above):
            return lines.starts[line - 1]
    return start


def _label(lead: str) -> str:
    """The words before \\begin on its line, from the start of the formula."""
    starts = list(_DISPLAY_START.finditer(lead))
    formula = lead[starts[-1].end() :] if starts else lead
    before = lead[: starts[-1].start()] if starts else ""
    formula = re.sub(r"\\left\s*[(\[|.]|\\right\s*[)\]|.]", "", formula).strip()
    return f"{before.strip()} {formula}".strip() if before.strip() else formula
