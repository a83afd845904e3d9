"""Matrices drawn side by side: what people write to show a product by hand.

                   [0, 0, 1]
    [1, 0, 1, 0]   [1, 1, 0]   [0, 1, 1]           Q  =  │ 1   0 │     K  =  │ 0   1 │
    [0, 2, 0, 2] x [0, 1, 0] = [4, 4, 0]                 │ 0   1 │           │ 1   1 │
    [1, 1, 1, 1]   [1, 1, 0]   [2, 3, 1]

    │  0   1   1 │                │ 0.00  0.71  0.71 │        [0.0, 0.0, 0.0]
    │  1   1   0 │  / 1.414  =    │ 0.71  0.71  0.00 │      + [1.0, 4.0, 0.0]
                                                          -----------------
                                                          = [1.0, 4.0, 0.0]

A matrix is a column of bracketed rows ("[1, 0, 1, 0]") or of box segments ("│ 1   0 │") on
consecutive lines; matrices side by side are told apart by where they stand on the line.
Between two matrices stands what relates them: "×", "x", "·" or "@" (a product), "/ 1.414"
(each entry divided), "+", "=", or a name ("K  =") that names the next one. A drawing with
"=" is a calculation: each row of a result is checked as arithmetic, the row of a product as
Σ_k a[i,k]·b[k,:] (the same numbers, so that a wrong one is traced through). Named matrices
that are no result are fragments like any other; matrices that only enter a product are its
operands.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

from qkv.review import arith
from qkv.review.document import Document
from qkv.review.equations import Equation
from qkv.review.fragments import Fragment
from qkv.review.numbers import Claim

# the sides of a matrix drawn with boxes or with the tall brackets of a formula
_SIDES = "│┃║⎢⎥⎡⎤⎣⎦"
_SIDE = re.compile(f"[{_SIDES}]")
_BRACKET = re.compile(r"\[([^\[\]\n]*)\]")
_RULE = re.compile(rf"^[\s┌┐└┘├┤┬┴┼─━═╭╮╰╯{_SIDES}\-]*$")
_NAME = re.compile(r"([A-Za-z][\w₀-₉]*(?:\s*(?:\^\s*\{?T\}?|ᵀ|\.T))?)\s*=\s*$")
_OUTER = re.compile(r"[\[\],]")  # the outer brackets of a list of rows, and its commas
_SCALAR = re.compile(r"/\s*((?:\d+\.?\d*|\.\d+))")
_PRODUCT = re.compile(r"(?<![A-Za-z])[x×*·@](?![A-Za-z])|\\times|\\cdot")
MAX_CELLS = 64  # of one row of a drawn matrix
_ONE = Claim("1", 1.0, 0.5, 0, None)


@dataclass(frozen=True)
class Group:
    """One row of a drawn matrix on one line: its cells and where it stands."""

    line: int
    start: int
    end: int
    cells: tuple[arith.Node, ...]


@dataclass
class Grid:
    """A drawn matrix: its rows top to bottom."""

    rows: list[Group] = field(default_factory=list)
    name: str = ""
    fragment: Fragment | None = None  # the fragment another reader made of it (LaTeX)
    factor: arith.Node | None = None  # a number written before it: \frac{1}{1.41} M

    @property
    def start(self) -> int:
        return min(g.start for g in self.rows)

    @property
    def end(self) -> int:
        return max(g.end for g in self.rows)

    @property
    def width(self) -> int:
        return len(self.rows[0].cells)

    def literal(self) -> bool:
        return all(arith.is_literal(c) for g in self.rows for c in g.cells)

    def valid(self) -> bool:
        return len({len(g.cells) for g in self.rows}) == 1


@dataclass(frozen=True)
class Link:
    """One side of an "=" in a drawing: one row node per row of what it computes."""

    rows: tuple[arith.Node, ...]
    lines: tuple[int, ...]
    grid: Grid | None  # the matrix it is, when it is one matrix as written
    softmax: bool = False  # it is the softmax of the link before it (→ softmax), not equal


@dataclass
class Drawing:
    """A block of lines that draws matrices: the matrices, left to right, the relations
    between them, and the lines it takes."""

    grids: list[Grid]
    ops: list[str]  # ops[k] stands between grids[k] and grids[k + 1]
    lines: tuple[int, int]  # [first, last + 1)
    continues: bool = False  # it starts with "=": the result of the drawing above


def read(doc: Document, taken: set[int]) -> list[Drawing]:
    """Every drawing of matrices side by side (or one drawn with boxes) on lines no other
    reader took (a grid table is the table reader's)."""
    out: list[Drawing] = []
    texts = [t if i not in taken else "" for i, t in enumerate(doc.texts)]
    i = 0
    while i < len(texts):
        groups = _groups(texts[i], i)
        if not groups:
            i += 1
            continue
        block = [groups]
        j = i + 1
        while j < len(texts):
            more = _groups(texts[j], j)
            if not more and not (_RULE.match(texts[j]) and texts[j].strip()):
                break
            block.append(more)
            j += 1
        drawing = _drawing(texts, [g for line in block for g in line], (i, j))
        if drawing is not None:
            out.append(drawing)
        i = j
    return out


_STRAY = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])")  # a number standing on its own
_DIVISOR = re.compile(r"/\s*\d+(?:\.\d+)?")


def _groups(text: str, line: int) -> list[Group]:
    """The bracketed rows and box segments of numbers on a line; none on a line that also
    holds numbers outside them ("0.4 × [1, 0] + …" is arithmetic written out)."""
    found = _row_groups(text, line)
    if not found:
        return []
    rest = list(text[: max(g.end for g in found)])  # words after the last one are remarks
    for g in found:
        rest[g.start : g.end] = " " * (g.end - g.start)
    if _STRAY.search(_DIVISOR.sub(" ", "".join(rest))):
        return []
    return found


def _row_groups(text: str, line: int) -> list[Group]:
    out = [g for m in _BRACKET.finditer(text) if (g := _group(m.group(1), line, m.span()))]
    sides = [m.start() for m in _SIDE.finditer(text)]
    k = 0
    while k + 1 < len(sides):
        inner = text[sides[k] + 1 : sides[k + 1]]
        g = _group(inner, line, (sides[k], sides[k + 1] + 1), boxed=True)
        if g is not None:
            out.append(g)
        k += 1
    return _merged(sorted(out, key=lambda g: g.start))


def _group(inner: str, line: int, span: tuple[int, int], boxed: bool = False) -> Group | None:
    """A row of numbers (or of arithmetic such as 1×0+0×1) between brackets or sides."""
    items = inner.split() if boxed else re.split(r"\s*,\s*|\s+", inner.strip())
    items = [i for i in items if i]
    if not items or len(items) > MAX_CELLS:
        return None
    cells = []
    for item in items:
        node = arith.parse(item)
        if node is None or isinstance(node, arith.Vec):
            return None
        cells.append(node)
    return Group(line, span[0], span[1], tuple(cells))


def _merged(groups: list[Group]) -> list[Group]:
    """Cells of a grid table that share a side ("│ 0.20 │ 0.40 │") are one row."""
    out: list[Group] = []
    for g in groups:
        if out and out[-1].end - 1 == g.start:
            prev = out.pop()
            g = Group(g.line, prev.start, g.end, prev.cells + g.cells)
        out.append(g)
    return out


def _drawing(texts: list[str], groups: list[Group], lines: tuple[int, int]) -> Drawing | None:
    per_line = {g.line for g in groups}
    if len(per_line) == len(groups) and (vertical := _vertical(texts, groups, lines)):
        return vertical
    grids = _grids(texts, groups)
    if not grids or not all(g.valid() for g in grids):
        return None
    boxed = any(texts[r.line][r.start] in _SIDES for g in grids for r in g.rows)
    ops = [_relation(texts, lines, a.end, b.start) for a, b in itertools.pairwise(grids)]
    for grid, op in zip(grids[1:], ops, strict=False):
        if op.startswith("name:"):
            grid.name = op[5:]
    before = _before(texts, lines, grids[0].start)
    grids[0].name = before[5:] if before.startswith("name:") else ""
    if _named_side_by_side(texts, grids, ops):
        return Drawing(grids, ops, lines)  # "Q = [[1, 0],   K = [[1, 0], …": named matrices
    if not boxed and not any(op in ("=", "×", "+") or op.startswith("/") for op in ops):
        return None  # brackets one under another with nothing between: an ordinary matrix
    if not boxed and all(len(g.rows) == 1 for g in grids):
        return None  # "[2, 0] · [1, 1] = 2" on one line: arithmetic written out
    return Drawing(grids, ops, lines, continues=before == "=")


def _named_side_by_side(texts: list[str], grids: list[Grid], ops: list[str]) -> bool:
    """Lists of rows side by side, each named on its first line and nothing but brackets
    and commas beside its other rows ("Q = [[1, 0],    K = [[1, 0],")."""
    if len(grids) < 2 or not grids[0].name or not all(op.startswith("name:") for op in ops):
        return False
    for k, grid in enumerate(grids):
        if len(grid.rows) < 2:
            return False
        left = grids[k - 1].end if k else 0
        for row in grid.rows[1:]:
            if _OUTER.sub("", texts[row.line][left : row.start]).strip():
                return False
    return True


def _vertical(texts: list[str], rows: list[Group], lines: tuple[int, int]) -> Drawing | None:
    """Rows added up one under another: "  [a]" "+ [b]" "-----" "= [c]"."""
    signs = [texts[r.line][: r.start].strip() for r in rows]
    if "=" not in signs[1:] or not set(signs) <= {"", "+", "-", "="} or "+" not in signs:
        return None
    return Drawing([Grid([r]) for r in rows], signs[1:], lines)


def _grids(texts: list[str], groups: list[Group]) -> list[Grid]:
    """Rows one under another that overlap on the line are the rows of one matrix (but a
    row that a line starts with "=" or "+" is a calculation's next step, not a row)."""
    grids: list[Grid] = []
    open_: list[Grid] = []  # the matrices whose last row is on the line above
    line = -1
    for g in sorted(groups, key=lambda g: (g.line, g.start)):
        if g.line != line:
            open_ = [m for m in grids if m.rows[-1].line == g.line - 1] if line >= 0 else []
            line = g.line
        stepped = texts[g.line][: g.start].strip() in ("=", "+", "-", "≈")
        home = next(
            (
                m
                for m in open_
                if m.rows[-1].line < g.line
                and m.rows[-1].start < g.end
                and g.start < m.rows[-1].end
                and not stepped
            ),
            None,
        )
        if home is None:
            grids.append(Grid([g]))
        else:
            home.rows.append(g)
    return sorted(grids, key=lambda m: m.start)


def _gap(texts: list[str], lines: tuple[int, int], start: int, end: int) -> str:
    """What stands between two matrices, on any line of the drawing."""
    parts = [texts[k][start:end] for k in range(*lines)]
    return " ".join(p.strip() for p in parts if p.strip())


def _relation(texts: list[str], lines: tuple[int, int], start: int, end: int) -> str:
    """ "×", "+", "=", "/1.414" (then "=" kept apart: "/1.414=") or "name:K" or ""."""
    gap = re.sub(rf"[{_SIDES}┌┐└┘─]", " ", _gap(texts, lines, start, end)).strip()
    bare = _OUTER.sub(" ", gap)  # "],    K = [": lists of rows side by side
    name = _NAME.search(bare)
    if name and not re.sub(r"\s", "", bare[: name.start()]):
        return "name:" + name.group(1).strip()
    scalar = _SCALAR.search(gap)
    if scalar:
        return "/" + scalar.group(1) + ("=" if "=" in gap[scalar.end() :] else "")
    if _PRODUCT.fullmatch(gap.replace(" ", "")) or gap in ("x", "×"):
        return "×"
    return gap if gap in ("=", "+") else ""


def _before(texts: list[str], lines: tuple[int, int], start: int) -> str:
    """What stands left of the first matrix: a name ("Q  ="), "=" or nothing."""
    gap = _gap(texts, lines, 0, start)
    name = _NAME.search(_OUTER.sub(" ", gap))
    if name:
        return "name:" + name.group(1).strip()
    return "=" if gap.strip().endswith("=") else ""


def links(drawing: Drawing) -> list[list[Link]]:
    """The calculations a drawing writes, left to right: each a list of links joined by "="
    (a link is a matrix as written, a product of two, a sum, or one divided by a number);
    a matrix that stands alone is a calculation of one link."""
    chains: list[list[Link]] = []
    chain: list[Link] = []
    k = 0
    k_op = ""  # what stands before the link being read
    grids, ops = drawing.grids, drawing.ops
    while k < len(grids):
        link, k = _link(grids, ops, k)
        if link is None:
            break
        if chain and k_op == "softmax":
            link = Link(link.rows, link.lines, link.grid, softmax=True)
        chain.append(link)
        op = ops[k - 1] if k - 1 < len(ops) else ""
        k_op = op
        if k < len(grids) and op not in ("=", "softmax") and not op.endswith("="):
            chains.append(chain)
            chain = []  # unrelated matrices side by side (or named ones)
    if chain:
        chains.append(chain)
    return chains


def _link(grids: list[Grid], ops: list[str], k: int) -> tuple[Link | None, int]:
    """The link that starts at grid k, and the index of the grid after it."""
    a = grids[k]
    op = ops[k] if k < len(ops) else ""
    if op in ("+", "-"):  # a sum of matrices as written, up to the next "="
        end = k + 1
        while end < len(ops) and ops[end] in ("+", "-"):
            end += 1
        return _sum(grids[k : end + 1], ops[k:end]), end + 1
    if op == "×" and k + 1 < len(grids):
        return _product(a, grids[k + 1]), k + 2
    lines = tuple(g.line for g in a.rows)
    if a.factor is not None:
        scaled = tuple(arith.Bin("*", a.factor, arith.Vec(g.cells)) for g in a.rows)
        return Link(scaled, lines, None), k + 1
    if op.startswith("/"):
        divisor = arith.parse(op[1:].rstrip("="))
        if divisor is None:
            return None, k + 1
        divided = tuple(arith.Bin("/", arith.Vec(g.cells), divisor) for g in a.rows)
        return Link(divided, lines, None), k + 1
    return Link(tuple(arith.Vec(g.cells) for g in a.rows), lines, a), k + 1


def _sum(grids: list[Grid], ops: list[str]) -> Link | None:
    """Matrices of one shape added (or subtracted) entry by entry, row by row."""
    if len({(len(g.rows), g.width) for g in grids}) != 1:
        return None
    rows = []
    for i in range(len(grids[0].rows)):
        node: arith.Node = arith.Vec(grids[0].rows[i].cells)
        for op, g in zip(ops, grids[1:], strict=True):
            node = arith.Bin(op, node, arith.Vec(g.rows[i].cells))
        rows.append(node)
    return Link(tuple(rows), tuple(r.line for r in grids[-1].rows), None)


def _product(a: Grid, b: Grid) -> Link | None:
    """Row i of a·b as Σ_k a[i,k]·b[k,:], written with a's and b's own numbers."""
    if a.width != len(b.rows):
        return None
    rows = []
    for g in a.rows:
        node: arith.Node | None = None
        for cell, row in zip(g.cells, b.rows, strict=True):
            term = arith.Bin("*", cell, arith.Vec(row.cells))
            node = term if node is None else arith.Bin("+", node, term)
        assert node is not None
        rows.append(node)
    return Link(tuple(rows), tuple(g.line for g in a.rows), None)


def from_drawings(doc: Document, drawings: list[Drawing]) -> list[Equation]:
    """One equation per row of every result in drawn matrices (readers/layout.py); a drawing
    that starts with "=" carries on the calculation drawn just above it."""
    out: list[Equation] = []
    last: tuple[Link, int] | None = None  # the link a drawing ended with, and where
    for d in drawings:
        starts = doc.starts()
        span = (starts[d.lines[0]], starts[d.lines[1]] - 1)
        for k, chain in enumerate(links(d)):
            if k == 0 and d.continues and last is not None and d.lines[0] - last[1] <= 3:
                chain = [last[0], *chain]
            for before, link in itertools.pairwise(chain):
                out.extend(_drawn(doc, before, link, span, d.lines[0]))
            last = (chain[-1], d.lines[1])
    return out


def _drawn(
    doc: Document, before: Link, link: Link, span: tuple[int, int], first: int
) -> list[Equation]:
    """Each row of a drawn result against the same row of what it is drawn equal to."""
    if link.grid is None or not link.grid.literal() or len(before.rows) != len(link.rows):
        return []
    out = []
    for r, (left, group) in enumerate(zip(before.rows, link.grid.rows, strict=True)):
        if link.softmax:
            left = arith.Call("softmax", left)
        right = arith.Vec(group.cells)
        results = tuple(arith.numbers(right))
        value = arith.value_of(left)
        if value is None or not arith.computes(left) or value.width != len(results):
            continue
        if link.grid.fragment is not None:  # a LaTeX matrix: judged where it was read
            f = link.grid.fragment
            out.append(Equation(f, "", span, left, results, first, row_of=(f, r)))
            continue
        frag = Fragment(
            "equation",
            [[n.claim for n in results]],
            [group.line],
            label=f"{link.grid.name} =" if link.grid.name else "",
            region=doc.lines[group.line].region,
        )
        frag.vector = True
        out.append(Equation(frag, "", span, left, results, first))
    return out


def fragments(doc: Document, drawings: list[Drawing]) -> list[Fragment]:
    """The drawn matrices that stand alone (named, "Q = │…│", or not): fragments like any
    other matrix. Results and operands of a drawn calculation are not: the calculation
    checks them."""
    out = []
    for d in drawings:
        for chain in links(d):
            grid = chain[0].grid
            if len(chain) != 1 or grid is None or not grid.literal():
                continue
            if d.continues and grid is d.grids[0]:
                continue  # "= │…│": the result of the drawing above
            cells = [[n.claim for c in g.cells for n in arith.numbers(c)] for g in grid.rows]
            lines = [g.line for g in grid.rows]
            label = f"{grid.name} =" if grid.name else ""
            region = doc.lines[lines[0]].region
            out.append(Fragment("table", cells, lines, label=label, region=region))
    return out


# what may stand between two LaTeX matrices of one formula, and what it means
_TEX_NOISE = re.compile(r"\\(?:right|left|big[lr]?|Big[lr]?)\s*[()\[\].|]?|\\[,;:!]|\\q?quad|[{}]")
_TEX_SPACES = re.compile(r"\\(?:right|left|big[lr]?|Big[lr]?)\s*[()\[\].|]?|\\[,;:!]|\\q?quad")
_TEX_SOFTMAX = re.compile(r"\\(?:xrightarrow|overset|xlongrightarrow|stackrel)[^=]*softmax", re.I)
_TEX_FACTOR = re.compile(r"(?:\\[dt]?frac\s*\{\s*1\s*\}\s*\{([^{}]+)\}|\b1\s*/\s*([\d.]+))\s*$")
_TEX_FORMULA_END = re.compile(r"\$|\\\]|\\\)|\n\s*\n")


def latex_drawings(doc: Document, fragments: list[Fragment]) -> list[Drawing]:
    r"""Matrices of one formula that a product, "=", a factor or "→ softmax" relate:
    $QK^T = \begin{pmatrix}…\end{pmatrix} \begin{pmatrix}…\end{pmatrix} = \begin{pmatrix}…$."""
    text = doc.joined
    shown = sorted((f for f in fragments if f.kind == "latex" and f.span), key=lambda f: f.line)
    out: list[Drawing] = []
    group: list[Grid] = []
    ops: list[str] = []
    for f in shown:
        assert f.span is not None
        grid = _latex_grid(f)
        if group:
            prev = group[-1].fragment
            assert prev is not None and prev.span is not None
            op = _latex_relation(text[prev.span[1] : f.span[0]])
            if op is None:
                out += _latex_drawing(group, ops)
                group, ops = [], []
            else:
                ops.append(op)
        if not group:
            grid.factor = _factor(text[max(0, f.span[0] - 80) : f.span[0]])
        group.append(grid)
    out += _latex_drawing(group, ops)
    return out


def _latex_grid(f: Fragment) -> Grid:
    rows = [
        Group(line, 0, 0, tuple(arith.Num(c) for c in row))
        for line, row in zip(f.lines, f.cells, strict=True)
    ]
    return Grid(rows, fragment=f)


def _latex_relation(between: str) -> str | None:
    r""" "×" (nothing, \cdot or \times between), "=", "softmax" (an arrow with softmax on it),
    or None when the two are not one calculation."""
    if _TEX_FORMULA_END.search(between) or len(between) > 120:
        return None
    if _TEX_SOFTMAX.search(between):
        return "softmax"
    plain = _TEX_NOISE.sub(" ", between).replace("\\cdot", " ").replace("\\times", " ")
    plain = plain.strip()
    if plain in ("", "×", "·"):
        return "×"
    return "=" if plain in ("=", "\\approx", "≈") else None


def _factor(before: str) -> arith.Node | None:
    r"""The number a formula multiplies its first matrix by: \frac{1}{1.41} M, 1/2 M."""
    m = _TEX_FACTOR.search(_TEX_SPACES.sub(" ", before).rstrip())
    if m is None:
        return None
    node = arith.parse(arith.from_latex(m.group(1) or m.group(2)))
    return None if node is None else arith.Bin("/", arith.Num(_ONE), node)


def _latex_drawing(grids: list[Grid], ops: list[str]) -> list[Drawing]:
    if len(grids) < 2 or not any(op in ("=", "softmax") for op in ops):
        return []
    lines = (min(g.rows[0].line for g in grids), max(g.rows[-1].line for g in grids) + 1)
    return [Drawing(grids, ops, lines)]
