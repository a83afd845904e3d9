"""Matrices written as plain rows of numbers, with no brackets or rules: what pandas prints for a
DataFrame, what np.savetxt or `cat weights.csv` shows, and what people type in plain text:

             I    like  apples            0.4011,0.1978,0.4011        weights:
    I     0.42    0.31    0.27            0.1084,0.4458,0.4485        0.42 0.31 0.27
    like  0.30    0.40    0.30                                        0.30 0.40 0.30

A block is consecutive lines with the same count of numbers, each perhaps after one label
("I", "q1:", "x₁ ="); the line right above it, when it holds only names, names the columns.
In prose, one line alone is a vector only when a label names it ("q1: 1 0 1").
"""

from __future__ import annotations

import re

from qkv.review import budget
from qkv.review.document import CODE, OUTPUT, Document
from qkv.review.fragments import Fragment, Skipped
from qkv.review.numbers import Claim, clean, parse_claim
from qkv.review.readers.tables import MAX_SIDE, too_large_at

_SPLIT = re.compile(r"[\s,;，；]+")
_OTHER = re.compile(r"[\[\]|&\\{}()+*/·×^]")  # brackets, tables, LaTeX, arithmetic: not ours
_LABEL = re.compile(r"^\s*([^\d\s=:：][^=:：]{0,24}?)\s*[=:：]\s+(?=\S)")  # "q1:", "x₁ =", "权重："


Row = tuple[str | None, list[Claim]]
# a row of more numbers than qkv check recomputes, found from its first MAX_SIDE + 2 words
# (a 5 MB line of numbers is not split and parsed whole to be skipped after)
WIDE: Row = (None, [])


def _row(text: str) -> tuple[Row | None, bool]:
    """(the row, whether its label was written with ":" or "=") or (None, False)."""
    if not text.strip() or _OTHER.search(text):
        return None, False
    named = _LABEL.match(text)
    label = clean(named.group(1)) if named else None
    rest = text[named.end() :] if named else text
    parts = _SPLIT.split(rest.strip(), maxsplit=MAX_SIDE + 2)
    tokens = [t for t in parts if t]
    if len(parts) > MAX_SIDE + 2:  # one may be a label, another the unsplit rest
        head = tokens[1 : MAX_SIDE + 1]
        return (WIDE if all(parse_claim(t) is not None for t in head) else None), False
    if label is None and tokens and parse_claim(tokens[0]) is None:
        label, tokens = clean(tokens[0]), tokens[1:]  # a row label, as pandas prints
    claims = [parse_claim(t) for t in tokens]
    if not claims or any(c is None for c in claims):
        return None, False
    return (label, [c for c in claims if c is not None]), named is not None


def read(doc: Document, taken: set[int]) -> tuple[list[Fragment], list[Skipped]]:
    found: list[Fragment] = []
    skipped: list[Skipped] = []
    i, texts, last_wide = 0, doc.texts, -2
    while i < len(texts):
        budget.tick()
        row, named = _row(texts[i]) if i not in taken else (None, False)
        if row is None or doc.lines[i].region == CODE:
            i += 1
            continue
        if row is WIDE:
            if i != last_wide + 1:  # a run of wide rows is noted once
                skipped.append(too_large_at(i))
            last_wide, i = i, i + 1
            continue
        rows, lines = _block(texts, taken, row, i)
        i = lines[-1] + 1
        if len(lines) > MAX_SIDE:
            skipped.append(too_large_at(lines[0]))
            continue
        frags = _side_by_side(doc, lines) or [_fragment(doc, rows, lines, named, taken)]
        found.extend(f for f in frags if f is not None)
        if any(frags):
            taken.update(lines)
    return found, skipped


def _block(texts: list[str], taken: set[int], row: Row, i: int) -> tuple[list[Row], list[int]]:
    """The rows of the block starting with ``row`` on line i, and their lines: the lines
    below with as many numbers and a label alike. Past MAX_SIDE + 1 rows only their lines
    are kept (the block is too large to read; only where it ends matters)."""
    rows, lines = [row], [i]
    while (j := lines[-1] + 1) < len(texts) and j not in taken:
        budget.tick()
        nxt, _ = _row(texts[j])
        if nxt is None or nxt is WIDE or len(nxt[1]) != len(row[1]):
            break
        if (nxt[0] is None) != (row[0] is None):
            break
        if len(rows) <= MAX_SIDE:
            rows.append(nxt)
        lines.append(j)
    return rows, lines


def _side_by_side(doc: Document, lines: list[int]) -> list[Fragment | None]:
    """Matrices printed next to each other under a line that names each one where it starts
    ("Q (rows q1..q4)      K (rows k1..k4)      V"): one fragment each, split at those
    columns, when every row has the same count of numbers in each part."""
    if not lines or lines[0] == 0:
        return []
    head = doc.texts[lines[0] - 1]
    names = list(re.finditer(r"(?:^|(?<=\s\s))([A-Za-z][\w^]{0,4})(?=\s|$|\()", head))
    if len(names) < 2 or re.search(r"\d", "".join(m.group(1) for m in names)):
        return []
    cuts = [m.start() for m in names] + [10**6]
    parts: list[list[list[Claim]]] = [[] for _ in names]
    for ln in lines:
        text = doc.texts[ln]
        for k in range(len(names)):
            start = 0 if k == 0 else cuts[k]
            tokens = _SPLIT.split(text[start : cuts[k + 1]].strip())
            claims = [parse_claim(t) for t in tokens if t]
            if not claims or None in claims:
                return []
            parts[k].append([c for c in claims if c is not None])
    if any(len({len(r) for r in part}) != 1 for part in parts):
        return []
    region = doc.lines[lines[0]].region
    return [
        Fragment("table", part, lines, label=f"{m.group(1)} =", region=region, top=lines[0] - 1)
        for m, part in zip(names, parts, strict=True)
    ]


def _fragment(
    doc: Document, rows: list[Row], lines: list[int], named: bool, taken: set[int]
) -> Fragment | None:
    width = len(rows[0][1])
    alone = len(rows) == 1
    if alone and not (named or doc.lines[lines[0]].region == OUTPUT):
        return None  # "in 2 layers" is no vector; "q1: 1 0 1" is
    if width < 2 and (alone or rows[0][0] is None):
        return None  # a column of lone numbers is a list, not a matrix
    labels = [label for label, _ in rows]
    cells = [claims for _, claims in rows]
    header = _header(doc, lines[0], taken, width, labels)
    if header is not None and len(header) == width - 1 and _counts(cells):
        labels = [c[0].text for c in cells]  # pandas' own index: 0, 1, 2 …
        cells = [c[1:] for c in cells]
    elif header is not None and len(header) != width:
        header = header[-width:] if len(header) == width + 1 and labels[0] else None
    top = lines[0] - 1 if header is not None else None
    if alone and labels[0] is not None and header is None:
        region = doc.lines[lines[0]].region
        return Fragment("array", cells, lines, label=f"{labels[0]} =", region=region, vector=True)
    return Fragment(
        "table",
        cells,
        lines,
        row_labels=None if labels[0] is None else [str(x) for x in labels],
        col_labels=header,
        region=doc.lines[lines[0]].region,
        vector=alone,
        top=top,
    )


def _header(
    doc: Document, line: int, taken: set[int], width: int, labels: list[str | None]
) -> list[str] | None:
    """The names on the line right above the rows, if that line holds only names laid out as
    columns: printed output, names set apart by wide gaps or commas, or the rows' own labels
    (a sentence such as "the weights are" names no columns)."""
    above = line - 1
    if line == 0 or above in taken or doc.lines[above].region != doc.lines[line].region:
        return None
    text = doc.texts[above]
    if not text.strip() or _OTHER.search(text) or re.search(r"[=:：。.!?！？]\s*$", text):
        return None
    names = [clean(t) for t in _SPLIT.split(text.strip()) if t]
    if any(parse_claim(n) is not None for n in names) or len(names) > width + 1:
        return None
    laid_out = (
        doc.lines[line].region == OUTPUT
        or len(re.findall(r"\S(?:\s{2,}|\t|\s*,\s*)\S", text)) >= len(names) - 1
        or names[-len(labels) :] == labels
    )
    return names if laid_out else None


def _counts(cells: list[list[Claim]]) -> bool:
    """Does the first column count the rows (0, 1, 2 … or 1, 2, 3 …), as an index does?"""
    first = [c[0].value for c in cells]
    return first in ([float(k) for k in range(len(first))], [k + 1.0 for k in range(len(first))])


# One entry named by its indices: "α_{12} = 0.274", "s₂₁ = 0.59", "q2 · k1 = 5", "w_1,3 ≈ 0.1";
# or a row's sum of exponentials, the softmax's denominator: "Sum = 9.738"
_NAME = r"(?:\\alpha|α|\\?[A-Za-z])(?:_\{?\d+(?:,\s*\d+)?\}?|[₀-₉]+|\d+)"
_ENTRY = re.compile(
    rf"(?<![\w\\])({_NAME}(?:\s*(?:·|\\cdot|\*|⋅|@)\s*{_NAME}(?:\^\{{?T\}}?|ᵀ)?)?|"
    r"\b[Ss]um\b|总和|分母)"
    r"[\s$`]*(?:=|≈|\\approx)[\s$`]*([-−]?\d+(?:\.\d+)?)"
    r"(?![\d.]|\s*(?:[*/+×·^(]|\\cdot|\\times|[-−+]\s*\d|,\s*[-−]?\d))"
)


def entries(doc: Document, taken: set[int], spans: list[tuple[int, int]]) -> list[Fragment]:
    """Single numbers named by their indices, outside code and written-out arithmetic."""
    found: list[Fragment] = []
    starts = doc.starts()
    for i, line in enumerate(doc.lines):
        if i in taken or line.region == CODE or ("=" not in line.text and "≈" not in line.text):
            continue
        done = 0
        for m in _ENTRY.finditer(line.text):
            at = starts[i] + m.start(2)
            if any(a <= at < b for a, b in spans):
                continue  # the result of arithmetic written out checks itself
            claim = parse_claim(m.group(2))
            if claim is None:
                continue
            label = line.text[done : m.start(2)].strip(" $`")
            found.append(
                Fragment(
                    "array",
                    [[claim]],
                    [i],
                    label=label,
                    region=line.region,
                    vector=True,
                    end=(i, m.end()),  # the words after it name what follows
                )
            )
            done = m.end()
    return found
