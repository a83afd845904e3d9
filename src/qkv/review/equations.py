"""Arithmetic written out in the text, checked link by link.

    q1 · k1 = [1, 0, 0] · [1, 1, 0] = 1*1 + 0*1 + 0*0 = 1
    output = 0.37 × [1,0] + 0.37 × [0,1] + 0.26 × [1,1]
           = [0.37, 0] + [0, 0.37] + [0.26, 0.26]
           = [0.63, 0.63]
    softmax([30/8, 0.1/8]) → [0.98, 0.02]

A calculation is a chain of links joined by "=" or "≈" (a line that starts with "=" carries
on the line above; "→" after softmax(…) or exp(…) gives its result). Each link that writes
numbers as its result (a number, a vector) is an equation: the link before it must give it.
A link that writes out the terms of the link before it ("= [0.37, 0] + [0, 0.37] + …") is one
equation per term. Numbers in a link that computes are operands, never results.

A left side may use a number found wrong elsewhere (the 0.0 of a softmax rounded to
[0.0, 0.5, 0.5]): then the result is computed again with the true value in its place, and a
result that follows from the written number but not from the true one is a consequence.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from qkv.review import arith, budget
from qkv.review.document import CODE, Document
from qkv.review.examples import Example, Placement
from qkv.review.fragments import Fragment
from qkv.review.judge import Judgement, Verdict
from qkv.review.kinds import WRONG, Status
from qkv.review.model import Convention
from qkv.review.numbers import Claim

MAX_LINE = 4000  # longer lines are data, not arithmetic written out
MAX_LEFT = 300  # characters of one link: a hand calculation is shorter
MAX_JOINED = 6  # lines one calculation may run over
# "=", "≈", "\approx", Typst's "approx"; not "==", "<=", ">=", "!=", ":=", "+=", "=>"
_SIGN = re.compile(r"(?<![<>!=:+\-*/%&|^])(?:=|≈|≒|\\approx\b|(?<![\w\\])approx\b)(?![=>])")
_ARROW = re.compile(r"→|⟶|->|=>")
# markup around arithmetic, blanked out so that offsets stay those of the text
_MARKUP = re.compile(r"\*\*|__|`|\$|\\[()\[\]]|&")
_BULLET = re.compile(r"^\s*(?:[-*+•·]|\d{1,2}[.)、])\s+")
_LITERAL_HEAD = re.compile(
    r"\s*(\[\s*\[[^\[\]=]*\](?:\s*,\s*\[[^\[\]=]*\])*\s*\]|\[[^\[\]=]*\]|\((?:\s*[-+−]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+−]?\d+)?\s*,)+"
    r"\s*[-+−]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+−]?\d+)?\s*\)|"
    r"[-+−]?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\d,])|[-+−]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+−]?\d+)?)"
)
# what makes a number the start of more arithmetic, not a result: "= 1 / (1 + e^-2)";
# "(sums to 1.0)" after it is a remark
_MORE = re.compile(
    r"\s*(?:[+\-−*×·/÷^]|\((?!\s*[\d.]+\s*%)(?=\s*[-+−]?[\d.(\[])|\\(?:cdot|times|frac))"
    r"|\{,\}"  # LaTeX's thousands: "39{,}000" goes on past the 39
)
_UNIT = re.compile(r"[A-Za-z%‰°]")  # 16M, 67%, 3ms: a size, a share or a time, no result
_CONTINUES = re.compile(r"^\s*(?:=|≈|\\approx\b|→|⟶)")
_EMPTY = re.compile(r"^\s*(?:\$\$|\\\[|\\\]|```\w*|~~~)?\s*$")
_CALL_LEFT = re.compile(r"(?:softmax|exp|sqrt)\s*\(", re.I)
# what may stand in written-out arithmetic, read from the end of the text before a sign
_ARITH_TAIL = re.compile(
    r"(?:[\d.\s+\-−*×·/÷^(){}\[\],√@ᵀ]|\^\s*T\b|\.T\b|"
    r"\\(?:[dt]?frac|sqrt|cdot|times|div|left|right|exp|"
    r"mathrm|text|operatorname|,|;|!|quad)|(?<![A-Za-z])(?:e|exp|sqrt|[Ss]oft[Mm]ax|SOFTMAX|ln|log|"
    r"dot|np\.exp|"
    r"math\.exp|torch\.exp|np\.sqrt|math\.sqrt)(?![A-Za-z]))+$"
)


@dataclass
class Equation:
    fragment: Fragment  # the result's numbers, on one row
    left: str  # the link it must follow from, as written
    span: tuple[int, int]  # offsets of the whole calculation in the document's joined text
    node: arith.Node | None = None  # the left link, parsed
    results: tuple[arith.Num, ...] = ()  # the result's numbers in the tree of their link
    first: int = -1  # the line where its calculation starts (the result's line if unknown)
    row_of: tuple[Fragment, int] | None = None  # a printed fragment's row it judges, if any
    column: bool = False  # … or its column of that index (a table with a column per step)

    cells: list[tuple[int, int]] | None = None  # (row, column) of each result, if not one row
    whole: arith.Node | None = None  # of a term written out, the link it is a term of

    def targets(self) -> tuple[Fragment, list[tuple[int, int]]]:
        """The fragment the results stand in, and the (row, column) of each result."""
        fragment, k = self.row_of or (self.fragment, 0)
        if self.cells is not None:
            return fragment, self.cells
        n = len(self.results) or len(fragment.cells[k])
        return fragment, [(i, k) if self.column else (k, i) for i in range(n)]

    @property
    def start(self) -> int:
        return self.first if self.first >= 0 else self.fragment.line


@dataclass(frozen=True)
class _Piece:
    """A stretch of a calculation's text: where it starts in the logical line, its document
    line and its offset in the document's joined text."""

    at: int
    line: int
    offset: int


@dataclass
class _Logical:
    """One or more document lines read as one calculation."""

    text: str
    pieces: list[_Piece]

    def line(self, pos: int) -> int:
        return next(p for p in reversed(self.pieces) if p.at <= pos).line

    def offset(self, pos: int) -> int:
        p = next(p for p in reversed(self.pieces) if p.at <= pos)
        return p.offset + pos - p.at


def find(doc: Document) -> list[Equation]:
    out: list[Equation] = []
    for logical in _logical_lines(doc):
        budget.tick()
        out.extend(_chains(doc, logical))
    return out


def _logical_lines(doc: Document) -> list[_Logical]:
    """Lines with a sign, each joined with the lines below that carry its calculation on
    ("= [0.63, 0.63]"), across blank lines and display-math fences."""
    starts = doc.starts()
    out: list[_Logical] = []
    i = 0
    n = len(doc.lines)
    while i < n:
        text = doc.lines[i].text
        if len(text) > MAX_LINE or not re.search(r"\d", text):
            i += 1
            continue
        logical = _Logical(_blank_markup(text), [_Piece(0, i, starts[i])])
        name = _name(logical.text) if doc.lines[i].region != CODE else None
        ticks = text.count("`") if doc.lines[i].region != CODE else 0
        j = i + 1
        while j < n and len(logical.pieces) < MAX_JOINED:
            # an inline code span that wraps onto the next line (Markdown allows it) goes on
            # there: "`1*1 + 0*1 +" then "0*0 = 1`" is one calculation
            wrapped = ticks % 2 == 1 and doc.lines[j].text.strip() != ""
            k = j
            while not wrapped and k < n and k - j < 2 and _EMPTY.match(doc.lines[k].text):
                k += 1
            following = _blank_markup(doc.lines[k].text) if k < n else ""
            if name and _name(following) == name:  # "z1 = …" again: the same calculation
                following = re.sub(r"^(\s*)\S.*?(?==)", lambda m: " " * len(m.group(0)), following)
            if k >= n or not (wrapped or _CONTINUES.match(following)):
                break
            ticks += doc.lines[k].text.count("`")
            at = len(logical.text) + 1
            logical.text += " " + following
            logical.pieces.append(_Piece(at, k, starts[k]))
            j = k + 1
        if _SIGN.search(logical.text) or _ARROW.search(logical.text):
            out.append(logical)
        i = j
    return out


# "z1 = [0, 0.39] + …" names a value; "j=0: …" numbers an item (no calculation of j)
_NAME = re.compile(r"^\s*([A-Za-zα-ω][\w₀-₉^{}']*)\s*=(?!=)(?!\s*\d+\s*[:：,)])")


def _name(text: str) -> str | None:
    """The name a line sets: "z1 = [0, 0.39] + …" -> z1."""
    m = _NAME.match(text)
    return m.group(1) if m else None


def _blank_markup(text: str) -> str:
    """Bold, code and math delimiters as spaces, and a list bullet too: offsets stay."""
    text = _BULLET.sub(lambda m: " " * len(m.group(0)), text)
    return _MARKUP.sub(lambda m: " " * len(m.group(0)), text)


def _signs(text: str) -> list[tuple[int, int]]:
    """(start, end) of every relation sign outside brackets: "=", "≈", and "→" right after
    softmax(…), exp(…) or sqrt(…)."""
    depth = 0
    out: list[tuple[int, int]] = []
    k = 0
    while k < len(text):
        ch = text[k]
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        elif depth == 0:
            m = _SIGN.match(text, k) or _ARROW.match(text, k)
            if m and (m.re is _SIGN or _after_call(text[:k])):
                out.append((k, m.end()))
                k = m.end()
                continue
        k += 1
    return out


def _after_call(before: str) -> bool:
    """Does the text end with a function applied to something: softmax([…]) →?"""
    stripped = before.rstrip()
    if not stripped.endswith(")"):
        return False
    depth, k = 0, len(stripped) - 1
    while k >= 0:
        depth += {")": 1, "(": -1}.get(stripped[k], 0)
        if depth == 0:
            break
        k -= 1
    return bool(_CALL_LEFT.search(stripped[max(0, k - 12) : k + 1]))


def _chains(doc: Document, logical: _Logical) -> list[Equation]:
    text = logical.text
    signs = _signs(text)
    out: list[Equation] = []
    links: list[tuple[int, int, arith.Node]] = []  # (start, end, tree) of each link
    label_from = 0
    for k, (s_start, s_end) in enumerate(signs):
        before_start = signs[k - 1][1] if k else 0
        seg_end = signs[k + 1][0] if k + 1 < len(signs) else len(text)
        if not links:
            first = _tail_link(text, max(before_start, label_from), s_start)
            if first is None:
                continue  # "x1 · x1 = 1·1 + …": words, and the name they give the result
            links.append(first)
        segment = text[s_end:seg_end]
        node = _parse(segment) if k + 1 < len(signs) and len(segment) <= MAX_LEFT else None
        if node is not None:
            links.append((s_end, seg_end, node))
            continue
        if k + 1 < len(signs) and _unread_step(segment):
            continue  # "= [e^0.7 / 2e^0.7, …] ≈ [..]": the chain's ends are still one claim
        head = _LITERAL_HEAD.match(segment)
        literal = _literal(segment, head)
        if literal is not None and head is not None:
            links.append((s_end, s_end + head.end(), literal))
        out.extend(_equations(doc, logical, links, text[label_from : links[0][0]]))
        links = []
        label_from = s_end + (head.end() if literal is not None and head is not None else 0)
    return out


# a middle link qkv cannot read but that is only arithmetic: numbers, signs, brackets and
# LaTeX's own words (\frac, \left), no words of the author's
_LATEX_WORD = re.compile(r"\\[A-Za-z]+|(?<![A-Za-z])(?:e|exp)(?![A-Za-z])")
_MATH_ONLY = re.compile(r"[\d\s.,+\-−*×·/÷^(){}\[\]_|]*")


_BRACKETED = re.compile(r"\s*(?:\\left\s*)?\[.*(?:\\right\s*)?\]\s*", re.S)


def _unread_step(segment: str) -> bool:
    """A whole vector written out in a form qkv does not read ("[\\frac{e^{0.7}}{2e^{0.7}},
    …]"): one bracket from start to end, nothing but arithmetic inside."""
    if not _BRACKETED.fullmatch(segment) or segment.count("[") != 1:
        return False
    rest = _LATEX_WORD.sub(" ", segment)
    return bool(re.search(r"\d", segment)) and _MATH_ONLY.fullmatch(rest) is not None


def _parse(segment: str) -> arith.Node | None:
    stripped = segment.strip().rstrip(".,;:。，；")
    return arith.parse(stripped) if stripped else None


def _tail_link(text: str, start: int, end: int) -> tuple[int, int, arith.Node] | None:
    """The longest end of text[start:end] that is arithmetic (the words before it name it)."""
    tail = _ARITH_TAIL.search(text, max(start, end - MAX_LEFT), end)
    if tail is None:
        return None
    start = tail.start()
    before = text[start:end]
    for k in range(len(before)):
        at = start + k
        if not before[k:].strip() or (at and (text[at - 1].isalnum() or text[at - 1] in "._")):
            continue  # "x1": the 1 belongs to a name
        if before[k] == " ":
            continue
        node = _parse(before[k:])
        if node is not None:
            return (start + k, end, node)
    return None


def _literal(segment: str, head: re.Match[str] | None) -> arith.Node | None:
    """The result written right after a sign: a number, [a, b] or (a, b), not followed by
    more arithmetic ("= 1 / (1 + e^-2)" is a step, not a result) or a unit ("16M")."""
    if head is None:
        return None
    rest = segment[head.end() :]
    if _MORE.match(rest) or _UNIT.match(rest):
        return None
    if head.group(1).lstrip().startswith("[["):  # a matrix, row by row
        node = arith.parse(head.group(1))
        return node if node is not None and arith.is_literal(node) else None
    claims = arith.literal_claims(head.group(1))
    if claims is None:
        return None
    nums = [arith.Num(c) for c in claims]
    is_vector = head.group(1).strip()[:1] in "[("
    return arith.Vec(tuple(nums)) if is_vector else nums[0]


def _equations(
    doc: Document,
    logical: _Logical,
    links: list[tuple[int, int, arith.Node]],
    label: str,
) -> list[Equation]:
    """One equation per link written as its result, and one per term written out."""
    if len(links) < 2:
        return []
    span = (logical.offset(links[0][0]), logical.offset(links[-1][1]))
    out: list[Equation] = []
    for i in range(1, len(links)):
        previous, (start, _, node) = links[i - 1], links[i]
        if arith.is_literal(node) and not arith.computes(previous[2]):
            # "= 0.254 ≈ 0.3": a number rounded again, against what was computed before it
            previous = next((p for p in reversed(links[: i - 1]) if arith.computes(p[2])), previous)
        left_text = logical.text[previous[0] : previous[1]].strip()
        if arith.is_literal(node):
            if not arith.computes(previous[2]):
                continue  # "x = 2 = 2.0": nothing computed
            first = links[0][0]
            eq = _equation(doc, logical, previous[2], left_text, node, start, label, span, first)
            if eq is not None:
                out.append(eq)
            continue
        out.extend(_termwise(doc, logical, previous, links[i], span))
    return out


def _termwise(
    doc: Document,
    logical: _Logical,
    previous: tuple[int, int, arith.Node],
    link: tuple[int, int, arith.Node],
    span: tuple[int, int],
) -> list[Equation]:
    """ "0.5·[2, 8] + 0.5·[2, 6] = [1, 4] + [1, 3]": each term written out is an equation."""
    before, after = arith.terms(previous[2]), arith.terms(link[2])
    if len(before) > len(after):  # "a·2 + b·0 + c·1 = 2a + c": a term times 0 left out
        before = [t for t in before if not _times_zero(t)]
    if len(before) != len(after) or len(after) < 2:
        return []
    out = []
    for left, right in zip(before, after, strict=True):
        if not arith.is_literal(right) or not arith.computes(left):
            continue
        eq = _equation(doc, logical, left, "", right, link[0], "", span, previous[0])
        if eq is not None:
            eq.whole = previous[2]  # its factors are a row with the other terms' factors
            out.append(eq)
    return out


def _times_zero(node: arith.Node) -> bool:
    """A product with a factor written as 0 ("0.156 × 0"): a term the next link may drop."""
    if not isinstance(node, arith.Bin) or node.op not in ("*", "·", "×"):
        return False
    return any(
        isinstance(side, arith.Num) and side.claim.value == 0 for side in (node.left, node.right)
    )


def _equation(
    doc: Document,
    logical: _Logical,
    left: arith.Node,
    left_text: str,
    right: arith.Node,
    at: int,
    label: str,
    span: tuple[int, int],
    span_start: int,
) -> Equation | None:
    value = arith.value_of(left)
    results = tuple(arith.numbers(right))
    written = arith.value_of(right)
    if value is None or written is None or value.lo.shape != written.lo.shape:
        return None  # a vector for a number, rows of another length
    line = logical.line(at)
    width = value.lo.shape[-1] if value.lo.ndim else 1
    claims = [n.claim for n in results]
    rows = [claims[k : k + width] for k in range(0, len(claims), width)]
    frag = Fragment(
        "equation", rows, [line] * len(rows), label=label.strip(), region=doc.lines[line].region
    )
    frag.left = left_text
    frag.vector = len(rows) == 1
    eq = Equation(frag, left_text, span, left, results, logical.line(span_start))
    if len(rows) > 1:  # a matrix: its numbers row after row
        eq.cells = [(k // width, k % width) for k in range(len(claims))]
    return eq


def alone(equations: list[Equation]) -> tuple[set[Cell], set[Cell]]:
    """(fragment index, row, column) of every result its left side does not give, and of
    every one it gives, as written."""
    wrong: set[Cell] = set()
    right: set[Cell] = set()
    for eq in equations:
        value = _value(eq)
        if value is None:
            continue
        fragment, cells = eq.targets()
        for k, (r, c) in enumerate(cells):
            claim = fragment.cells[r][c]
            (right if claim.fits(*value.at(k)) else wrong).add((fragment.index, r, c))
    return wrong, right


Cell = tuple[int, int, int]  # a printed number: fragment index, row, column


def _value(eq: Equation, swap: arith.Swap | None = None) -> arith.Value | None:
    node = eq.node if eq.node is not None else arith.parse(eq.left)
    return None if node is None else arith.value_of(node, swap)


_ROWS = itertools.count()  # numbers the rows that _Known numbers were printed in


@dataclass(frozen=True)
class _Known:
    """A number printed before, in a row that holds a mistake: its true value, and the
    mistakes behind it (its own, or the ones it follows from)."""

    line: int
    text: str
    true: tuple[float, float]
    causes: tuple[Verdict, ...]
    row: int  # the row it was printed in (numbers of one row share it)


def judge(equations: list[Equation], earlier: list[Verdict]) -> Judgement:
    """Every equation's right side against its left side (in document order). A left side
    that uses a number of a row holding a mistake is computed again with the row's true
    values: a result that follows from the written numbers but not from the true ones is a
    consequence. A number that is itself the result of an earlier link of the same
    calculation takes that link's true value; one copied from elsewhere is found by its
    digits."""
    example = Example(-1)
    verdicts: list[Verdict] = []
    known = _botched_rows(earlier)
    plain = _plain_numbers(earlier)  # right numbers of rows without a mistake: (text, line)
    flows: dict[int, _Known] = {}  # id of a result Num -> its row's true value
    seen: set[int] = set()  # operands judged as copies
    for eq in sorted(equations, key=lambda e: (e.span[0], e.fragment.line)):
        fragment, cells = eq.targets()
        placement = Placement(fragment, "equation", sorted({r for r, _ in cells}))
        example.placements.append(placement)
        value = _value(eq)
        if value is None or eq.node is None:
            continue
        swap, causes, copied = _true_operands(eq, eq.whole or eq.node, flows, known, plain)
        true = arith.value_of(eq.node, swap) if swap else None
        verdicts += _copies(eq, copied, seen)
        row = [
            _verdict(placement, r, c, k, value, true, causes)
            for k, (r, c) in enumerate(cells[: value.width])
        ]
        verdicts.extend(row)
        remembered = _remember(eq, row, true or value, flows)
        known.extend(remembered)
        if not remembered:
            plain |= _plain_numbers(row)
    return Judgement(example, Convention(), verdicts, {})


def _verdict(
    p: Placement,
    r: int,
    c: int,
    k: int,
    value: arith.Value,
    true: arith.Value | None,
    causes: list[Verdict],
) -> Verdict:
    """Result ``k`` (the fragment's number at row r, column c) against the left side as
    written (a root where it does not follow) and against the left side's true values (a
    consequence where only those change it)."""
    claim = p.fragment.cells[r][c]
    lo, hi = value.at(k)
    v = Verdict(p, r, c, ("equation", (p.fragment.index, r, c)), Status.RIGHT, (lo + hi) / 2)
    if not claim.fits(lo, hi):
        if true is not None and claim.fits(*true.at(k)):
            v.true = sum(true.at(k)) / 2  # right: a number it uses was printed wrong
            return v
        v.status = Status.ROOT  # wrong even from the numbers as written
        if true is not None:  # … whose true values say what it should be
            v.true, v.follows = sum(true.at(k)) / 2, (lo + hi) / 2
    elif true is not None:
        tlo, thi = true.at(k)
        v.true = (tlo + thi) / 2
        if not claim.fits(tlo, thi):
            v.status, v.causes = Status.CONSEQUENCE, list(causes)
    return v


def _true_operands(
    eq: Equation,
    node: arith.Node,
    flows: dict[int, _Known],
    known: list[_Known],
    plain: set[tuple[str, int]],
) -> tuple[dict[int, tuple[float, float]], list[Verdict], list[tuple[arith.Num, _Known]]]:
    """The true value of every operand that belongs to a row holding a mistake: a result
    of an earlier link by identity, a vector copied whole by its row, a single number by
    its digits (the nearest one printed before; a whole number only where no right one was
    printed before it too: "e^1" after two right scores of 1 and a wrong one). The operands
    found by their digits are also returned: each is a copy of the number it repeats."""
    found: dict[int, _Known] = {}
    copied: list[tuple[arith.Num, _Known]] = []
    for vec in _literal_vectors(node):
        row = _copied_row([n.claim.text for n in vec], eq.start, known)
        found.update({id(n): k for n, k in zip(vec, row or [], strict=False)})
    in_vectors = {id(n) for vec in _literal_vectors(node) for n in vec}
    factors = [n for n in arith.numbers(node) if id(n) not in in_vectors and id(n) not in flows]
    texts = [n.claim.text for n in factors]
    row = _copied_row(texts, eq.start, known) if len(factors) > 1 else None
    found.update({id(n): k for n, k in zip(factors, row or [], strict=False)})
    # one number alone is traced by its digits: the factor of "0.5 * [2, 8, 0]", or what a
    # softmax or an exponential is taken of (a whole number only there: "1/√4" is no score)
    exponents = bool(re.search(r"e\^|exp|softmax", eq.left))
    alone = row is None and (len(factors) == 1 or exponents)
    causes: list[Verdict] = []
    traced: dict[int, _Known] = {}
    among: list[arith.Num] = []  # factors among others, traced only all together
    for num in arith.numbers(node):
        k = flows.get(id(num)) or found.get(id(num))
        text = num.claim.text.replace("−", "-")
        printed_right = any(t == text and n < eq.start for t, n in plain)
        if k is None and alone and id(num) not in in_vectors and (exponents or "." in text):
            ambiguous = "." not in text and printed_right
            k = None if ambiguous else _copied(text, eq.start, known)
            copied += [(num, k)] if k is not None else []
        elif k is None and row is None and id(num) not in in_vectors and not printed_right:
            among.append(num)
        if k is not None:
            traced[id(num)] = k
    # a factor among others ("0.25 / 1.414") by its digits, when they are telling (a decimal
    # of two significant digits or more that no right number printed), and only when every
    # other decimal is accounted for: in "0 + 1.350 + 0.061" the 0.061 may be a product, not
    # the weight 0.061, and 1.350 comes from nowhere: a true value from half the operands
    # would be no true value
    decimals = [n for n in among if "." in n.claim.text]
    found_among = {id(n): _copied(n.claim.text, eq.start, known) for n in decimals}
    if decimals and all(_telling(n.claim) and found_among[id(n)] for n in decimals):
        for n in decimals:
            k = found_among[id(n)]
            assert k is not None
            traced[id(n)] = k
            copied.append((n, k))
    for k in traced.values():
        causes.extend(c for c in k.causes if c not in causes)
    return {i: k.true for i, k in traced.items()}, causes, copied


_OPERANDS = itertools.count(1)  # fragments of operands judged as copies: indices of their own


def _copies(eq: Equation, copied: list[tuple[arith.Num, _Known]], seen: set[int]) -> list[Verdict]:
    """An operand that repeats a wrong number ("0.25 / 1.414" under "… = 0.25") is wrong as
    that number is: a consequence of its mistakes. Only on a calculation of one line, where
    the operand's line is known."""
    out = []
    for num, k in copied:
        if id(num) in seen or eq.start != eq.fragment.line or num.claim.fits(*k.true):
            continue
        seen.add(id(num))
        f = Fragment("equation", [[num.claim]], [eq.fragment.line], region=eq.fragment.region)
        f.index, f.vector = -(10**6) - next(_OPERANDS), True
        v = Verdict(Placement(f, "copy", [0]), 0, 0, ("copy", (f.index, 0, 0)), Status.RIGHT, 0)
        v.true, v.status, v.causes = sum(k.true) / 2, Status.CONSEQUENCE, list(k.causes)
        out.append(v)
    return out


def _telling(claim: Claim) -> bool:
    return "." in claim.text and claim.significant >= 2


def _literal_vectors(node: arith.Node) -> list[list[arith.Num]]:
    """The vectors of two numbers or more written as they are ("[1.0, 4.0, 0.0]")."""
    if isinstance(node, arith.Vec):
        nums = [i for i in node.items if isinstance(i, arith.Num)]
        if all(isinstance(i, arith.Vec) for i in node.items):  # a matrix: its rows
            return [row for item in node.items for row in _literal_vectors(item)]
        return [nums] if len(nums) == len(node.items) >= 2 else []
    if isinstance(node, arith.Bin):
        return _literal_vectors(node.left) + _literal_vectors(node.right)
    if isinstance(node, (arith.Neg, arith.Call, arith.Transpose)):
        return _literal_vectors(node.arg)
    return []


def _copied_row(texts: list[str], line: int, known: list[_Known]) -> list[_Known] | None:
    """The nearest row printed before the line with the same numbers in the same order."""
    rows: dict[int, list[_Known]] = {}
    for k in known:
        if k.line < line:
            rows.setdefault(k.row, []).append(k)
    texts = [t.replace("−", "-") for t in texts]
    best = None
    for row in rows.values():
        if [k.text for k in row] == texts and (best is None or row[0].line >= best[0].line):
            best = row
    return best


def _copied(text: str, line: int, known: list[_Known]) -> _Known | None:
    """The nearest number printed before the line with the same digits."""
    best = None
    for k in known:
        if k.text == text and k.line < line and (best is None or k.line >= best.line):
            best = k
    return best


def _remember(
    eq: Equation, row: list[Verdict], true: arith.Value, flows: dict[int, _Known]
) -> list[_Known]:
    """A result row holding a mistake: each of its numbers with its true value, for the
    links and the calculations that use them."""
    causes = tuple(r for v in row for r in (v.roots() if v.status in WRONG else []))
    if not causes:
        return []
    out = []
    row_id = next(_ROWS)
    for i, (num, v) in enumerate(zip(eq.results, row, strict=False)):
        k = _Known(v.line, v.claim.text.replace("−", "-"), true.at(i), causes, row_id)
        flows[id(num)] = k
        out.append(k)
    return out


def _plain_numbers(verdicts: list[Verdict]) -> set[tuple[str, int]]:
    """(text, line) of every number of a printed row that holds no mistake."""
    rows: dict[tuple[int, int], list[Verdict]] = {}
    for v in verdicts:
        rows.setdefault((v.placement.fragment.index, v.r), []).append(v)
    return {
        (v.claim.text.replace("−", "-"), v.line)
        for row in rows.values()
        if not any(v.status in WRONG for v in row)
        for v in row
    }


def _botched_rows(verdicts: list[Verdict]) -> list[_Known]:
    """Every number of a printed row that holds a mistake (the row's right numbers too: they
    are as unreliable a source as the wrong one), with its true value."""
    rows: dict[tuple[int, int], list[Verdict]] = {}
    for v in verdicts:
        rows.setdefault((v.placement.fragment.index, v.r), []).append(v)
    out = []
    for row in rows.values():
        causes = tuple(r for v in row for r in (v.roots() if v.status in WRONG else []))
        if causes:
            row_id = next(_ROWS)
            out += [
                _Known(v.line, v.claim.text.replace("−", "-"), (v.true, v.true), causes, row_id)
                for v in sorted(row, key=lambda v: v.c)
            ]
    return out


__all__ = ["Claim", "Equation", "alone", "find", "judge"]
