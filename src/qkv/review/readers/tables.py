"""Tables: GitHub pipe tables (found by markdown-it), and grid tables drawn with +---+ or
box-drawing characters (┌─┬─┐ │), as people paste them from terminals and other editors.

A table whose cells are numbers, perhaps with a header row and a first column of labels, is a
fragment; any other table is not attention's business and is passed over silently.
"""

from __future__ import annotations

import re

from qkv.review import budget
from qkv.review.document import CODE, Document
from qkv.review.fragments import Fragment, Skipped
from qkv.review.fragments import skipped as skip
from qkv.review.numbers import Claim, clean, parse_claim
from qkv.review.roles import STEPS, named_roles, role_of

# No two runs of spaces may meet without a character between them (as "\s*\|?\s*$" did): a
# long run of spaces then split every way made one line quadratic.
_DELIM = re.compile(r"^\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*(?:\|\s*)?$")
# matched against a stripped line (a leading \s* before the optional corner was quadratic)
_GRID_BORDER = re.compile(r"^[+├┌└╞╘╒┍┕┝┠╟╠╚╔╭╰|│]?[-=─━═┼┬┴+┿╪╫╋┤┐┘╡╛╕┑┙┥┨╢╣╝╗╮╯:\s]+$")
_GRID_ROW = re.compile(r"^\s*[|│┃║].*[|│┃║]\s*$")
_CELL_SPLIT = re.compile(r"(?<!\\)[|│┃║]")


def split_row(line: str) -> list[str]:
    s = line.strip()
    if s[:1] in "|│┃║":
        s = s[1:]
    if s[-1:] in "|│┃║" and not s.endswith("\\|"):
        s = s[:-1]
    return [c.strip() for c in _CELL_SPLIT.split(s)]


def is_number(text: str) -> bool:
    return parse_claim(text) is not None


# the header of a column that numbers the rows: "行 | W^Q 第1列 | …", "# | q1 | q2"
_INDEX_HEADER = re.compile(r"^(?:行|序号|编号|#|no\.?|row|idx|index|i|token|词|字)?$", re.I)


def numbers_and_labels(
    rows: list[list[str]],
) -> tuple[list[list[str]], list[str] | None, list[str] | None] | None:
    """Numbers, row labels and column labels of a table; None when it holds no matrix."""
    header, body = rows[0], rows[1:]
    col_labels = None
    if all(is_number(c) for c in header):
        body = [header, *body]
    else:
        col_labels = header
    if not body:
        return None
    row_labels = None
    first = [clean(r[0]) for r in body]
    counts = ([str(k) for k in range(len(body))], [str(k + 1) for k in range(len(body))])
    counted = (
        col_labels is not None
        and _INDEX_HEADER.match(clean(col_labels[0])) is not None
        and first in counts  # 1, 2, 3 under "行" or "#": the rows' numbers, not a column
    )
    if len(body[0]) > 1 and (counted or not all(is_number(r[0]) for r in body)):
        row_labels = [clean(r[0]) for r in body]
        body = [r[1:] for r in body]
        if col_labels is not None:
            col_labels = col_labels[1:]
    if not body or not body[0] or not all(is_number(c) for r in body for c in r):
        return None
    return body, row_labels, None if col_labels is None else [clean(c) for c in col_labels]


def claims(rows: list[list[str]]) -> list[list[Claim]]:
    out = []
    for row in rows:
        parsed = [parse_claim(c) for c in row]
        out.append([c for c in parsed if c is not None])
    return out


MAX_SIDE = 256  # rows or columns: no matrix recomputed by hand is larger


def too_large_at(line: int) -> Skipped:
    return skip(line, "skip.too_large", most=MAX_SIDE)


def too_large(rows: list[list[str]]) -> bool:
    """Too many rows or columns (one more of each for labels) to be a worked example."""
    return len(rows) > MAX_SIDE + 1 or max(map(len, rows)) > MAX_SIDE + 1


def read(doc: Document, taken: set[int]) -> tuple[list[Fragment], list[Skipped]]:
    found: list[Fragment] = []
    skipped: list[Skipped] = []
    texts = doc.texts
    for start, end in doc.markdown_blocks()[0]:
        for header_line, rows in _gfm_tables(texts, start, end, skipped):
            if too_large(rows):
                skipped.append(too_large_at(header_line))
                continue
            _add(doc, rows, list(range(header_line, header_line + len(rows) + 1)), found, taken)
    _grid_tables(doc, taken, found, skipped)
    return found, skipped


def _corner(
    rows: list[list[str]], row_labels: list[str] | None, col_labels: list[str] | None
) -> str:
    """The words in the top-left cell of a labelled table ("weight | I | like"), if any."""
    if row_labels is None or col_labels is None:
        return ""
    corner = clean(rows[0][0])
    # "weight | I | like" names the step, "编码器位置 | h1 | …" cross-attention's keys' source;
    # "query \ key | …" only the axes
    named = role_of(corner) in (*STEPS, "mem", "x") or named_roles(f"{corner.strip('$')} =")
    return corner if named else ""


def _add(
    doc: Document,
    rows: list[list[str]],
    lines: list[int],
    found: list[Fragment],
    taken: set[int],
    top: int | None = None,
) -> None:
    """Fragments from a table's rows (lines: the line of each row; delimiter rows are left
    out). Q, K and V printed side by side ("q1 q2 k1 k2 v1 v2") become three fragments; a
    table whose columns are steps ("key | vector | q·k | softmax") one fragment a column."""
    if _by_column(doc, rows, lines, found, top):
        taken.update(lines)
        return
    parsed = numbers_and_labels(rows)
    if parsed is None:
        return
    body, row_labels, col_labels = parsed
    row_lines = [ln for ln in lines if not _DELIM.match(doc.texts[ln])]
    if col_labels is not None:
        row_lines = row_lines[1:]
    row_lines = row_lines[: len(body)]
    if len({len(r) for r in body}) > 1 or len(row_lines) != len(body):
        return
    cells = claims(body)
    groups = _side_by_side(col_labels) or [(_corner(rows, row_labels, col_labels), None)]
    for label, cols in groups:
        part = cells if cols is None else [[row[c] for c in cols] for row in cells]
        found.append(
            Fragment(
                "table",
                part,
                row_lines,
                label=label,
                row_labels=row_labels,
                col_labels=col_labels
                if cols is None or col_labels is None
                else [col_labels[c] for c in cols],
                region=doc.lines[row_lines[0]].region,
                top=lines[0] if top is None else top,
            )
        )
    taken.update(lines)


_INDEXED = re.compile(r"^\\?[A-Za-z]+[_^]?\{?\s*\d+\s*\}?$|^[A-Za-z][₀-₉]+$")  # k1, q_{2}, x₃
_TUPLE_CELL = re.compile(r"^[(\[]([^()\[\]]*)[)\]]$")  # items are cleaned one by one


def _tuple_items(cell: str) -> list[str]:
    m = _TUPLE_CELL.match(clean(cell))
    return m.group(1).split(",") if m else []


def _by_column(
    doc: Document, rows: list[list[str]], lines: list[int], found: list[Fragment], top: int | None
) -> bool:
    """One query against several keys, a row per key and a column per step: "key | vector |
    q·k | softmax(q·k)". Each column is a fragment (numbers as one column, vectors as a
    matrix), named by its header or, for the vectors, by the rows' names (k_1, k_2 …)."""
    header, body = [clean(h) for h in rows[0]], rows[1:]
    row_lines = [ln for ln in lines if not _DELIM.match(doc.texts[ln])][1:]
    if len(body) < 2 or len(header) < 3 or len(row_lines) != len(body):
        return False
    columns = [_column([r[j] if j < len(r) else "" for r in body]) for j in range(1, len(header))]
    roles = {role_of(h) for h in header[1:]} - {None}
    indexed = sum(bool(_INDEXED.match(h)) for h in header[1:])
    if any(c is None for c in columns) or len(roles) < 2 or indexed > 1:
        return False  # "k1 | k2 | k3" name a matrix's columns, not steps
    if _side_by_side(header[1:]):
        return False  # "W^Q 第1列 | W^Q 第2列 | W^K 第1列": matrices side by side
    row_names = [clean(r[0]) for r in body]
    letter = _grouped(row_names[0])
    for name, cells in zip(header[1:], columns, strict=True):
        label = name if role_of(name) else (letter.group(1) if letter else "")
        found.append(
            Fragment(
                "table",
                cells or [],
                row_lines,
                label=f"{label} =",
                row_labels=row_names,
                region=doc.lines[row_lines[0]].region,
                top=lines[0] if top is None else top,
            )
        )
    return True


def _column(cells: list[str]) -> list[list[Claim]] | None:
    """A column of numbers (n×1) or of vectors "(1, 3, 0, 1)" (n×d); None otherwise."""
    items = [[c] if is_number(c) else _tuple_items(c) for c in cells]
    parsed = [[parse_claim(t) for t in row] for row in items]
    if not all(parsed) or len({len(r) for r in parsed}) != 1:
        return None
    out = [[c for c in row if c is not None] for row in parsed]
    return out if all(len(r) == len(parsed[0]) for r in out) else None


# a column named by a matrix and a position: "q1", "k_{2}", "W^Q 第1列", "Q dim 2"
_GROUPED = re.compile(r"^([A-Za-z][\w^{}]*?)(?:[\s_]*\{?\d+\}?|\s+\S.*)$")
MAX_NAME = 64  # characters of a column's name read as a matrix and a position


def _grouped(label: str) -> re.Match[str] | None:
    """_GROUPED's match, for names short enough to be one (its lazy name and the run of
    spaces and underscores after it can split a long run many ways: quadratic)."""
    return _GROUPED.match(label) if len(label) <= MAX_NAME else None


def _side_by_side(col_labels: list[str] | None) -> list[tuple[str, list[int] | None]]:
    """[(name, columns)] when the columns are named q1 q2 k1 k2 … (or "W^Q 第1列" …) in
    groups by the matrix they belong to, each a matrix the words can name."""
    if not col_labels:
        return []
    names = [m.group(1) if (m := _grouped(c.strip())) else None for c in col_labels]
    if None in names:
        return []
    groups: dict[str, list[int]] = {}
    for c, name in enumerate(names):
        groups.setdefault(str(name).upper(), []).append(c)
    if len(groups) < 2 or not all(named_roles(f"{name} =") for name in groups):
        return []
    return [(f"{name} =", cols) for name, cols in groups.items()]


def _gfm_tables(
    lines: list[str], start: int, end: int, skipped: list[Skipped]
) -> list[tuple[int, list[list[str]]]]:
    """Split one GFM table block into tables: (line of the header, rows incl. header).

    Articles written without blank lines run several tables (and their captions) into one
    block; a delimiter row starts a new table whose header is the line above it.
    """
    found = []
    i = start
    while i < end:
        budget.tick()
        if not (_DELIM.match(lines[i]) and i > start and "|" in lines[i - 1]):
            i += 1
            continue
        width = len(split_row(lines[i]))
        rows = [split_row(lines[i - 1])]
        j = i + 1
        while j < end and "|" in lines[j] and not _DELIM.match(lines[j]):
            if j + 1 < end and _DELIM.match(lines[j + 1]):
                break  # this line is the next table's header
            rows.append(split_row(lines[j]))
            j += 1
        if all(len(r) == width for r in rows):
            found.append((i - 1, rows))
        else:
            bad = next(k for k, r in enumerate(rows) if len(r) != width)
            line = i - 1 if bad == 0 else i + bad
            skipped.append(skip(line, "skip.cells", cells=len(rows[bad]), width=width))
        i = j
    return found


def _grid_tables(
    doc: Document, taken: set[int], found: list[Fragment], skipped: list[Skipped]
) -> None:
    """Runs of lines drawn as a grid: | a | b | rows between +---+ or ├───┼ borders."""
    texts = doc.texts
    i = 0
    while i < len(texts):
        budget.tick()
        if i in taken or not _is_grid_line(texts[i]):
            i += 1
            continue
        j = i
        while j < len(texts) and j not in taken and _is_grid_line(texts[j]):
            j += 1
        row_lines = [k for k in range(i, j) if _GRID_ROW.match(texts[k])]
        rows = [split_row(texts[k]) for k in row_lines]
        if len(row_lines) >= 1 and any(_GRID_BORDER.match(texts[k].strip()) for k in range(i, j)):
            if too_large(rows):
                skipped.append(too_large_at(i))
            elif len({len(r) for r in rows}) == 1:
                before = len(found)
                _add(doc, rows, row_lines, found, taken, top=i)
                if len(found) > before:
                    taken.update(range(i, j))
            elif doc.lines[i].region != CODE:
                skipped.append(skip(i, "skip.grid_ragged"))
        i = j


def _is_grid_line(text: str) -> bool:
    s = text.strip()
    if not s:
        return False
    return bool(_GRID_ROW.match(s)) or (
        bool(_GRID_BORDER.match(s)) and any(ch in s for ch in "-=─━═")
    )
