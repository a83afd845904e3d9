"""Bracketed numbers: Python lists, numpy and torch prints, one line or many.

    q1 = [1, 0, 2]                      [[1. 0. 1. 0.]
    Q = K = [[1,0],[0,1]] V = [[1,2]]    [0. 2. 0. 2.]]
    tensor([[0.0634, 0.4683]], grad_fn=<SoftmaxBackward0>)        array([1.2e-01, 3.4e-01])

One scanner walks the text once: at each "[" it reads a nested list of numbers (commas or
spaces between them, rows across lines), and gives up at the first character that cannot be
part of one. Nesting is bounded, so a line of a million "[" costs a few steps per character.
"""

from __future__ import annotations

import re

from qkv.review import budget
from qkv.review.document import Document, Offsets
from qkv.review.fragments import Fragment, Skipped
from qkv.review.fragments import skipped as skip
from qkv.review.numbers import Claim, parse_claim

MAX_DEPTH = 4
MAX_NUMBERS = 65_536  # one structure; a hand calculation is far smaller
# characters before a list read as its label: each "[" that is no fragment ("[1]" cited in
# prose) reads its label again, so a long line of them would cost its length squared
MAX_LABEL = 1000
_NUMBER = re.compile(r"[-+−]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][-+−]?\d+)?|inf|nan|∞)", re.IGNORECASE)
_SPACE = " \t\r\n,"
_SOFTMAX_ARGUMENT = re.compile(r"softmax\s*\(\s*$")
_SHAPE_PREFIX = re.compile(r"(?:Size\(|shape\s*[=:(]?|dims?\s*[=:(]|\.view\(|\.reshape\()\s*$")
# what wraps a printed array: np.array( ... ), tensor( ... ), print(
_WRAPPER = re.compile(r"(?:(?:np|numpy|torch|tf)\.)?(?:array|tensor|asarray|Tensor|constant)\(\s*$")


class _Fail(Exception):
    pass


class _Parser:
    """A nested list of numbers starting at text[pos] == "["."""

    def __init__(self, text: str, pos: int):
        self.text, self.pos, self.count = text, pos, 0
        self.row_starts: list[int] = []  # offsets of the innermost lists, in order

    def parse(self, depth: int = 1) -> list[object]:
        if depth > MAX_DEPTH:
            raise _Fail("nested too deep")
        start = self.pos
        self.pos += 1  # "["
        items: list[object] = []
        inner = False
        while True:
            self._skip()
            if self.pos >= len(self.text):
                raise _Fail("unclosed")
            ch = self.text[self.pos]
            if ch == "]":
                self.pos += 1
                if not inner:
                    self.row_starts.append(start)
                return items
            if ch == "[":
                inner = True
                items.append(self.parse(depth + 1))
                continue
            m = _NUMBER.match(self.text, self.pos)
            if m is None or m.end() == self.pos:
                raise _Fail("not a number")
            items.append((m.group(), m.start()))
            self.pos = m.end()
            self.count += 1
            if self.count > MAX_NUMBERS:
                raise _Fail("too many numbers")

    def _skip(self) -> None:
        text, n = self.text, len(self.text)
        while self.pos < n and text[self.pos] in _SPACE:
            self.pos += 1


def _shape(node: object) -> tuple[int, ...] | None:
    """The shape of a rectangular nested list of numbers, or None."""
    if isinstance(node, tuple):
        return ()
    assert isinstance(node, list)
    if not node:
        return None
    shapes = {_shape(child) for child in node}
    if len(shapes) != 1 or None in shapes:
        return None
    (inner,) = shapes
    assert inner is not None
    return (len(node), *inner)


def _matrices(node: list[object], shape: tuple[int, ...]) -> list[list[list[tuple[str, int]]]]:
    """2-D slices of a nested list (leading dimensions of size 1 are dropped)."""
    if len(shape) == 1:
        return [[node]]  # type: ignore[list-item]
    if len(shape) == 2:
        return [node]  # type: ignore[list-item]
    out = []
    for child in node:
        out.extend(_matrices(child, shape[1:]))  # type: ignore[arg-type]
    return out


def read(
    doc: Document,
    taken: set[int],
    spans: list[tuple[int, int]] = (),  # type: ignore[assignment]
) -> tuple[list[Fragment], list[Skipped]]:
    """Arrays outside the lines other readers took and outside written-out equations."""
    text = _without_comment_marks(doc)
    lines = Offsets(doc)
    found: list[Fragment] = []
    skipped: list[Skipped] = []
    pos = 0
    last_end = 0  # where the previous fragment ended: a label starts after it
    while True:
        m = _OPEN.search(text, pos)
        if m is None:
            break
        pos = m.start()
        line = lines.line(pos)
        if line in taken:
            pos = lines.starts[line + 1]
            continue
        if _in_arithmetic(text, spans, pos):
            pos += 1  # written-out arithmetic checks its own numbers (all but softmax's input)
            continue
        budget.tick()
        label_from = max(last_end, lines.starts[line], pos - MAX_LABEL)
        if text[pos] == "(":
            frag, end = _tuple(doc, text, lines, pos, label_from)
            frags = [] if frag is None else [frag]
        else:
            frags, end = _brackets(doc, text, lines, pos, label_from, skipped)
        found.extend(frags)
        if frags:
            last_end = end
        pos = max(end, pos + 1)
    return found, skipped


def _brackets(
    doc: Document, text: str, lines: Offsets, pos: int, label_from: int, skipped: list[Skipped]
) -> tuple[list[Fragment], int]:
    """The fragments of the nested list at pos (none if it is not one) and where it ends."""
    parser = _Parser(text, pos)
    try:
        node = parser.parse()
    except _Fail as e:
        if str(e) == "too many numbers":
            skipped.append(skip(lines.line(pos), "skip.long_list"))
        if str(e) == "nested too deep":  # "[[[[[…": every "[" of the run but the last few too
            run = pos
            while run < len(text) and text[run] in "[ \t\r\n":
                run += 1
            return [], max(pos, run - 2 * MAX_DEPTH)
        return [], pos
    frags = _fragments(doc, text, lines, node, parser, pos, label_from)
    if frags is None:
        return [], pos
    end_line = lines.line(parser.pos)
    for f in frags:
        f.end = (end_line, parser.pos - lines.starts[end_line])
    return frags, parser.pos


# comment marks, and the prompts of an interactive session (>>>, ..., In [3]:, Out[3]:)
_COMMENT = re.compile(r"^(\s*)(#+|//+|%+|--|>>>|\.\.\.(?=\s|$)|In \[\d*\]:|Out\[\d*\]:)")


def _without_comment_marks(doc: Document) -> str:
    """The text with the marks that start comment lines in code (and prompts) blanked out,
    so that an array printed into comments over several lines reads as one:
    "# [[1.9366 6.6831]" newline "#  [2.     7.964 ]]"."""
    out = []
    for line in doc.lines:
        text = line.text
        if line.region == "code":
            text = _COMMENT.sub(lambda m: m.group(1) + " " * len(m.group(2)), text)
            # "[1.0, 0.25, 0.1],  # money's similarities": words after a row, not a row
            text = _WORDS_COMMENT.sub(lambda m: " " * len(m.group(0)), text)
        elif "\\" in text:  # LaTeX spacing between the numbers of (0.422,\ 0.422,\ 0.155)
            text = _TEX_SPACE.sub(lambda m: " " * len(m.group(0)), text)
        out.append(text)
    return "\n".join(out)


_WORDS_COMMENT = re.compile(r"(?<=\S)\s*(?:#|//)[^\[\]\n]*$")
_TEX_SPACE = re.compile(r"\\[ ,;:!]|\\q?quad\b|~")


_OPEN = re.compile(r"[\[(]")
# each number atomic: "\d+\.?\d*" could otherwise split a long run of digits every way
_TUPLE_NUMBER = r"[-+−]?(?>\d+\.?\d*|\.\d+)"
_TUPLE = re.compile(rf"\(\s*((?:{_TUPLE_NUMBER}\s*,\s*)+{_TUPLE_NUMBER})\s*\)")


def _tuple(
    doc: Document, text: str, lines: Offsets, pos: int, label_from: int
) -> tuple[Fragment | None, int]:
    """A vector written in parentheses, "(0.198, 0.886, 1.072)": read only inside a formula
    ($…$) or after "=" or ":", where it cannot be a remark in brackets. Returns it and the
    offset after it."""
    m = _TUPLE.match(text, pos)
    if m is None:
        return None, pos
    before = text[label_from:pos].rstrip()
    if not before.endswith(("$", "=", ":", "：", "\\(", "≈", "→", "->")):
        return None, pos
    claims = [parse_claim(t) for t in m.group(1).split(",")]
    if any(c is None for c in claims):
        return None, pos
    line = lines.line(pos)
    frag = Fragment(
        "array",
        [[c for c in claims if c is not None]],
        [line],
        label=before.rstrip("$").strip(),
        region=doc.lines[line].region,
        vector=True,
    )
    end_line = lines.line(m.end())
    frag.end = (end_line, m.end() - lines.starts[end_line])
    return frag, m.end()


_ASSIGNED = re.compile(r"^\s*([A-Za-z_]\w*)\s*=(?!=)\s*")


def _commented_result(label: str) -> str:
    """ "scores = X @ X.T   # [[2, 1, 1], …]": the comment shows what the line computes, so
    the label is the computation when it names a step (scaled, softmax, output), else the
    variable."""
    if not label.rstrip(" [").endswith(("#", "//")):
        return label
    m = _ASSIGNED.match(label)
    if m is None:
        return label
    from qkv.review.roles import role_of

    name, expression = m.group(1), _without_comment_mark(label[m.end() :])
    if role_of(expression) in ("scaled", "weights", "output", "masked"):
        return f"{expression} ="
    return f"{name} ="


def _without_comment_mark(rest: str) -> str:
    """The expression before the comment mark and the "[" that opens the list: what is left
    of "X @ X.T   # [" (taken from the end, one part at a time: a regex with a lazy
    expression and three runs of spaces after it was cubic in a long run of spaces)."""
    s = rest.rstrip()
    s = s[:-1].rstrip() if s.endswith("[") else s
    s = s[:-1] if s.endswith("#") else s[:-2] if s.endswith("//") else s
    return s.rstrip()


def _in_arithmetic(text: str, spans: list[tuple[int, int]], pos: int) -> bool:
    """Is pos inside an equation (and not the vector a softmax is taken of)?"""
    if _inside(spans, pos) is None:
        return False
    return not (text[pos] == "[" and _SOFTMAX_ARGUMENT.search(text, max(0, pos - 20), pos))


def _inside(spans: list[tuple[int, int]], pos: int) -> int | None:
    """The end of the span holding pos, if one does."""
    import bisect

    k = bisect.bisect_right(spans, (pos, float("inf"))) - 1
    if k >= 0 and spans[k][0] <= pos < spans[k][1]:
        return spans[k][1]
    return None


def _fragments(
    doc: Document,
    text: str,
    lines: Offsets,
    node: list[object],
    parser: _Parser,
    start: int,
    label_from: int,
) -> list[Fragment] | None:
    shape = _shape(node)
    if shape is None or not shape or shape[-1] == 0:
        return None
    line = lines.line(start)
    if _SHAPE_PREFIX.search(text, max(label_from, start - 40), start):
        return None  # torch.Size([1, 3, 3]), shape=(…): dimensions, not numbers of a step
    label = text[label_from:start].strip()
    label = _WRAPPER.sub("", label).strip().strip("`").strip()
    label = _commented_result(label)
    if _SOFTMAX_ARGUMENT.search(label):
        label = "masked scores ="  # what the softmax is taken of, whatever the scaling
    if len(shape) == 1 and shape[0] == 1 and not label.endswith(("=", ":")):
        return None  # "[1]" in prose is a citation, not a vector
    if re.search(r"(?:[*·×+]|\\cdot|\\times)\s*$", label):
        return None  # "0.2119 * [0, 1, 1]": an operand of arithmetic, not a step
    rows_at = [lines.line(p) for p in parser.row_starts]
    out = []
    for k, matrix in enumerate(_matrices(node, shape)):
        cells = [[_claim(tok) for tok, _ in row] for row in matrix]
        if any(c is None for row in cells for c in row):
            return None
        row_lines = rows_at[k * len(matrix) : (k + 1) * len(matrix)] if len(shape) > 1 else [line]
        if len(row_lines) != len(matrix):
            row_lines = [line] * len(matrix)
        out.append(
            Fragment(
                "array",
                [[c for c in row if c is not None] for row in cells],
                row_lines,
                label=label,
                region=doc.lines[line].region,
                vector=len(shape) == 1,
                batch=k,
            )
        )
    return out


def _claim(token: str) -> Claim | None:
    return parse_claim(token)


def join_rows(doc: Document, fragments: list[Fragment]) -> list[Fragment]:
    """Vectors written one per line, each alone on its line and of one length, are the rows
    of one matrix (as in "[1, 2, 1]" newline "[1, 1, 1]")."""
    out: list[Fragment] = []
    run: list[Fragment] = []

    def close() -> None:
        if len(run) > 1:
            first = run[0]
            out.append(
                Fragment(
                    "array",
                    [f.cells[0] for f in run],
                    [f.line for f in run],
                    label=first.label,
                    region=first.region,
                )
            )
        else:
            out.extend(run)
        run.clear()

    for f in sorted(fragments, key=lambda f: f.first):
        alone = f.kind == "array" and f.vector and _alone(doc.lines[f.line].text, f)
        if alone and run and f.line == run[-1].line + 1 and f.shape == run[-1].shape:
            run.append(f)
            continue
        close()
        if alone:
            run.append(f)
        else:
            out.append(f)
    close()
    return out


def _alone(text: str, f: Fragment) -> bool:
    """Is the line nothing but this vector (with the label, if the first row has one)?"""
    s = text.strip().rstrip(",;")
    return s.startswith("[") and s.endswith("]") and not f.label
