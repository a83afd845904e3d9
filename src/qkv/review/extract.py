"""Every matrix an article shows: Markdown tables, bracket rows, LaTeX matrix blocks.

markdown-it-py finds the table blocks and code spans; inside a table block, rows are split
here, because articles written without blank lines run several tables (and their captions)
into one GFM block.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field

from qkv.errors import InputError
from qkv.review.numbers import Claim, clean, parse_claim

MAX_NUMBERS = 4096  # per matrix: beyond this nobody computed it by hand

_DELIM = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_BRACKET_ROW = re.compile(r"^\s*\[([^\[\]]*)\]\s*,?\s*$")
_NESTED = re.compile(r"\[\s*\[[^\n]*\]\s*\]")
_LATEX = re.compile(r"\\begin\{([pbvBV]?matrix\*?)\}(?:\[[a-z]*\])?(.*?)\\end\{\1\}", re.DOTALL)
_ARRAY_LATEX = re.compile(r"\\begin\{array\}\{[^}]*\}(.*?)\\end\{array\}", re.DOTALL)


@dataclass
class Matrix:
    """A matrix as the article wrote it (numbers only; labels kept apart)."""

    index: int
    line: int  # 1-based line of its first row
    kind: str  # "table", "brackets", "latex"
    cells: list[list[Claim]]
    caption: list[str]  # the nearest text lines before it, nearest first
    row_labels: list[str] | None = None
    col_labels: list[str] | None = None
    lead: str = ""  # text on the same line before it ("S = " in S = \begin{bmatrix})
    row_lines: list[int] = field(default_factory=list)  # 1-based line of each row

    def __post_init__(self) -> None:
        if not self.row_lines:  # rows one per line (tables, bracket rows)
            self.row_lines = [self.line + i for i in range(len(self.cells))]

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.cells), len(self.cells[0])


def _split_row(line: str) -> list[str]:
    s = line.strip()
    if s.startswith("|"):
        s = s[1:]
    if s.endswith("|") and not s.endswith("\\|"):
        s = s[:-1]
    return [c.strip() for c in re.split(r"(?<!\\)\|", s)]


def _is_number_cell(text: str) -> bool:
    return parse_claim(text) is not None


def _table_ranges(text: str) -> tuple[list[tuple[int, int]], set[int]]:
    """(table line ranges, lines inside code) from markdown-it, 0-based, end exclusive."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark").enable("table")
    tables: list[tuple[int, int]] = []
    code: set[int] = set()
    for tok in md.parse(text):
        if tok.map is None:
            continue
        if tok.type == "table_open":
            tables.append((tok.map[0], tok.map[1]))
        elif tok.type in ("fence", "code_block"):
            code.update(range(tok.map[0], tok.map[1]))
    return tables, code


def _tables(lines: list[str], start: int, end: int) -> list[tuple[int, list[list[str]]]]:
    """Split one GFM table block into tables: (line of the header, rows incl. header)."""
    found = []
    i = start
    while i < end:
        if _DELIM.match(lines[i]) and i > start and "|" in lines[i - 1]:
            width = len(_split_row(lines[i]))
            header = _split_row(lines[i - 1])
            rows = [header]
            j = i + 1
            while j < end and "|" in lines[j] and not _DELIM.match(lines[j]):
                if j + 1 < end and _DELIM.match(lines[j + 1]):
                    break  # this line is the next table's header
                rows.append(_split_row(lines[j]))
                j += 1
            for k, row in enumerate(rows):
                if len(row) != width:
                    ln = i if k == 0 else i + 1 + k
                    raise InputError(f"line {ln}: table row has {len(row)} cells, expected {width}")
            found.append((i - 1, rows))
            i = j
        else:
            i += 1
    return found


def _table_matrix(
    rows: list[list[str]],
) -> tuple[list[list[str]], list[str] | None, list[str] | None] | None:
    """Numbers, row labels and column labels of a table; None when it holds no matrix."""
    header, body = rows[0], rows[1:]
    col_labels = None
    if all(_is_number_cell(c) for c in header):
        body = [header, *body]
    else:
        col_labels = header
    if not body:
        return None
    row_labels = None
    if not all(_is_number_cell(r[0]) for r in body) and len(body[0]) > 1:
        row_labels = [clean(r[0]) for r in body]
        body = [r[1:] for r in body]
        if col_labels is not None:
            col_labels = col_labels[1:]
    if not all(_is_number_cell(c) for r in body for c in r):
        return None
    return body, row_labels, None if col_labels is None else [clean(c) for c in col_labels]


def _caption(lines: list[str], first: int, taken: set[int], n: int = 2) -> list[str]:
    out: list[str] = []
    i = first - 1
    while i >= 0 and len(out) < n and first - i <= 4:
        s = lines[i].strip()
        if i in taken:
            break
        if s:
            out.append(s)
        i -= 1
    return out


def _claims(rows: list[list[str]], line: int) -> list[list[Claim]]:
    out = []
    for r, row in enumerate(rows):
        claims = []
        for cell in row:
            claim = parse_claim(cell)
            if claim is None:
                raise InputError(f"line {line + r}: {cell!r} is not a number")
            claims.append(claim)
        out.append(claims)
    return out


def _refine_integers(cells: list[list[Claim]]) -> list[list[Claim]]:
    """Integers among decimals were written by dropping zeros ("2" for 2.00, as %g does).

    Judge them at the precision of the matrix's decimal numbers: "2" beside "1.94" claims
    2.00 +- 0.005, and "0" beside "0.0466" claims 0 +- 0.00005. A matrix of integers only
    keeps the plain rule: "2" claims it rounds to 2.
    """
    decimal = [c for row in cells for c in row if c.decimals > 0 and c.exponent is None]
    if not decimal:
        return cells
    sig = max(len(c.text.lstrip("-−+0.").replace(".", "")) for c in decimal)
    most = max(c.decimals for c in decimal)
    out = []
    for row in cells:
        new_row = []
        for c in row:
            if c.decimals == 0 and c.exponent is None and not c.masked:
                if c.value == 0:
                    half = 0.5 * 10.0**-most
                else:
                    magnitude = math.floor(math.log10(abs(c.value)))
                    half = max(0.5 * 10.0 ** (magnitude - sig + 1), 0.5 * 10.0**-most)
                c = dataclasses.replace(c, half_unit=min(half, c.half_unit))
            new_row.append(c)
        out.append(new_row)
    return out


def _check_size(cells: list[list[Claim]], line: int) -> None:
    count = sum(len(r) for r in cells)
    if count > MAX_NUMBERS:
        raise InputError(
            f"line {line}: a matrix of {count} numbers is more than qkv check reads "
            f"(at most {MAX_NUMBERS})"
        )


Found = list[tuple[int, Matrix]]  # (0-based first line, matrix)


def extract(text: str) -> list[Matrix]:
    """All matrices, in the order they appear."""
    lines = text.splitlines()
    found: Found = []
    taken: set[int] = set()  # lines that belong to a matrix already found
    _gfm_tables(text, lines, found, taken)
    _bracket_rows(lines, found, taken)
    _nested_brackets(lines, found, taken)
    _latex_matrices(text, lines, found, taken)
    found.sort(key=lambda p: p[0])
    result = []
    for k, (first, mat) in enumerate(found):
        mat.index = k
        mat.caption = _caption(lines, first, taken - {first})
        if mat.lead.strip():
            mat.caption.insert(0, mat.lead.strip())
        _check_size(mat.cells, mat.line)
        mat.cells = _refine_integers(mat.cells)
        result.append(mat)
    return result


def _gfm_tables(text: str, lines: list[str], found: Found, taken: set[int]) -> None:
    table_ranges, code = _table_ranges(text)
    for start, end in table_ranges:
        if start in code:
            continue
        for header_line, rows in _tables(lines, start, end):
            parsed = _table_matrix(rows)
            if parsed is None:
                continue
            body, row_labels, col_labels = parsed
            first = header_line + (1 if col_labels is not None else 0)
            m = Matrix(
                0,
                first + 1 + (1 if col_labels is not None else 0),
                "table",
                _claims(body, first + 2),
                [],
                row_labels,
                col_labels,
            )
            found.append((header_line, m))
            taken.update(range(header_line, header_line + len(rows) + 1))


def _bracket_rows(lines: list[str], found: Found, taken: set[int]) -> None:
    """Bracket rows, one per line, as in the article: [1, 2, 1, 2, 1]."""
    i = 0
    while i < len(lines):
        if i in taken or not _BRACKET_ROW.match(lines[i]):
            i += 1
            continue
        j = i
        rows = []
        while j < len(lines) and j not in taken and (bm := _BRACKET_ROW.match(lines[j])):
            cells = [c for c in re.split(r"[,\s;]+", bm[1].strip()) if c]
            if not cells or not all(_is_number_cell(c) for c in cells):
                break
            rows.append(cells)
            j += 1
        if not rows:
            i += 1
            continue
        if len({len(r) for r in rows}) > 1:
            bad = next(k for k, r in enumerate(rows) if len(r) != len(rows[0]))
            raise InputError(
                f"line {i + bad + 1}: row has {len(rows[bad])} numbers, expected {len(rows[0])}"
            )
        found.append((i, Matrix(0, i + 1, "brackets", _claims(rows, i + 1), [])))
        taken.update(range(i, j))
        i = j


def _nested_brackets(lines: list[str], found: Found, taken: set[int]) -> None:
    """Nested brackets on one line: X = [[1, 2], [3, 4]]."""
    for n, line in enumerate(lines):
        if n in taken:
            continue
        for m in _NESTED.finditer(line):
            inner = re.findall(r"\[([^\[\]]*)\]", m.group(0))
            rows = [[c for c in re.split(r"[,\s;]+", r.strip()) if c] for r in inner]
            if not rows or not all(rows) or not all(_is_number_cell(c) for r in rows for c in r):
                continue
            if len({len(r) for r in rows}) > 1:
                raise InputError(f"line {n + 1}: ragged rows in {m.group(0)[:40]!r}")
            mat = Matrix(0, n + 1, "brackets", _claims(rows, n + 1), [], lead=line[: m.start()])
            found.append((n, mat))
            taken.add(n)


def _latex_matrices(text: str, lines: list[str], found: Found, taken: set[int]) -> None:
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)
    for pattern in (_LATEX, _ARRAY_LATEX):
        for m in pattern.finditer(text):
            line0 = _line_of(offsets, m.start())
            if line0 in taken:
                continue
            mat = _latex_matrix(text, m, offsets, line0)
            if mat is not None:
                found.append((line0, mat))
                taken.update(range(line0, _line_of(offsets, m.end()) + 1))


def _latex_matrix(text: str, m: re.Match[str], offsets: list[int], line0: int) -> Matrix | None:
    r"""One LaTeX matrix (rows split at \\, cells at &), with labels when it has them."""
    group = m.lastindex or 1
    rows, row_lines = [], []
    pos = m.start(group)
    for chunk in re.split(r"(\\\\)", m.group(group)):
        start, pos = pos, pos + len(chunk)
        if chunk == "\\\\":
            continue
        cells = [c.strip() for c in re.sub(r"\\hline|\\cline\{[^}]*\}", "", chunk).split("&")]
        if any(cells):
            rows.append(cells)
            row_lines.append(_line_of(offsets, start + len(chunk) - len(chunk.lstrip())) + 1)
    if not rows:
        return None
    row_labels = col_labels = None
    if all(_is_number_cell(c) for r in rows for c in r):
        numbers = rows
    else:
        table = _table_matrix([[_strip_text(c) for c in r] for r in rows])
        if table is None:
            return None
        numbers, row_labels, col_labels = table
        if col_labels is not None:
            row_lines = row_lines[1:]  # the header row held the labels
    if len({len(r) for r in numbers}) > 1:
        raise InputError(f"line {line0 + 1}: LaTeX matrix rows have different lengths")
    return Matrix(
        0,
        line0 + 1,
        "latex",
        _claims(numbers, line0 + 1),
        [],
        row_labels,
        col_labels,
        lead=text[offsets[line0] : m.start()],
        row_lines=row_lines,
    )


def _strip_text(cell: str) -> str:
    m = re.fullmatch(r"\s*\\(?:text|mathrm|textrm)\{(.*)\}\s*", cell)
    return m.group(1) if m else cell


def _line_of(offsets: list[int], pos: int) -> int:
    import bisect

    return bisect.bisect_right(offsets, pos) - 1
