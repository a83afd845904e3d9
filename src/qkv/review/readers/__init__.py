"""Every reader over one Document: tables, LaTeX matrices, bracketed arrays, in that order
(a line one reader took is not read again), then each fragment's words: the lines above it,
and for what a notebook cell printed, the expression the cell printed."""

from __future__ import annotations

import dataclasses
import math
import re

from qkv import limits
from qkv.errors import InputError
from qkv.review import equations, temperature
from qkv.review.document import CODE, OUTPUT, Document
from qkv.review.equations import Equation
from qkv.review.fragments import Fragment, Skipped
from qkv.review.numbers import Claim
from qkv.review.readers import arrays, latex, layout, plain, tables
from qkv.review.roles import describe, role_of

CONTEXT_LINES = 3
MAX_FRAGMENTS = 3000  # a worked example shows a few dozen
MAX_SIDE = tables.MAX_SIDE  # rows or columns of a matrix recomputed by hand: far fewer
MAX_CELLS = 50_000
_PRINTED = re.compile(r"\bprint\s*\(((?:[^()]|\([^()]*\))*)\)")
_SHAPE_EXPR = re.compile(r"\.shape\b|\.size\(|\blen\(|\.sum\(|\.dtype\b|\ballclose\(")
_FENCE = re.compile(r"^\s*(```|~~~)")
_NOT_SHOWN = re.compile(r"^(?:\w+\s*=(?!=)|[rfbu]*[\"'])")  # keyword arguments, strings
_ASSIGNS = re.compile(r"[\w.\[\], ]+[-+*/@]?=(?!=)")  # "P = …", "a, b = …", "x += 1"
# where a table, a matrix or a vector starts: counted before anything is parsed, so that a
# file of many thousands of them is refused at once rather than after seconds of parsing.
# [^\S\n] (a space but not a line end) keeps each try within its line, and one optional
# group between the two runs of spaces leaves one way to split them: linear in the text (the
# \s* it replaces ran over every blank line below each line start: cubic in blank lines)
_STARTS = re.compile(
    r"^[^\S\n]*(?:\|[^\S\n]*)?:?-+:?[^\S\n]*\|[^\S\n|:-]*(?:[|:-][^\S\n|:-]*)*$"
    r"|\[\s*\[|\\begin\{|<table",
    re.M | re.I,
)
_HTML_CELL = re.compile(r"<t[dh]\b", re.I)
_BOX_BARS = "│┃║"  # the column rules of grid tables drawn with box characters
_VECTORS = re.compile(r"\[\s*[-+−]?\d")


def ensure_few(text: str) -> None:
    """InputError when the text holds far more lines or matrices than any worked example
    (counted in one pass each, before any of them is read)."""
    lines = text.count("\n") + 1
    if lines > limits.MAX_ARTICLE_LINES:
        raise InputError(
            f"the article has {lines:,} lines; qkv check reads at most "
            f"{limits.MAX_ARTICLE_LINES:,} (split it into smaller files)"
        )
    # a table parser spends seconds on far fewer cells than this
    bars = text.count("|") + sum(text.count(bar) for bar in _BOX_BARS)
    if bars + len(_HTML_CELL.findall(text)) > MAX_CELLS:
        raise InputError(
            f"the article's tables hold more than {MAX_CELLS} cells; qkv check reads fewer "
            "(split it into smaller files)"
        )
    many = sum(1 for _ in _STARTS.finditer(text))
    vectors = sum(1 for _ in _VECTORS.finditer(text)) // 20  # rows of matrices count too
    if max(many, vectors) > MAX_FRAGMENTS:
        raise InputError(
            f"the article shows more than {MAX_FRAGMENTS} matrices and tables; "
            "qkv check reads fewer (split it into smaller files)"
        )


def read_all(doc: Document) -> tuple[list[Fragment], list[Skipped], list[Equation]]:
    taken: set[int] = set()
    fragments: list[Fragment] = []
    skipped: list[Skipped] = []
    for reader in (tables.read, latex.read):
        found, missed = reader(doc, taken)
        fragments.extend(found)
        skipped.extend(missed)
        taken.update(ln for f in found for ln in f.lines)
    drawings = layout.read(doc, taken)
    taken.update(ln for d in drawings for ln in range(*d.lines))
    drawn = layout.from_drawings(doc, drawings)
    fragments.extend(layout.fragments(doc, drawings))
    found_eqs = equations.find(doc)
    lines = {eq.fragment.line for eq in found_eqs}
    found_eqs += [eq for eq in temperature.find(doc) if eq.fragment.line not in lines]
    written = [eq for eq in found_eqs if eq.fragment.line not in taken]
    spans = sorted(eq.span for eq in written)
    found, missed = arrays.read(doc, taken, spans)  # arrays share lines with equations
    rows, missed_rows = plain.read(doc, taken | {ln for f in found for ln in f.lines})
    rows += plain.entries(doc, taken | {ln for f in found + rows for ln in f.lines}, spans)
    fragments += found + rows
    skipped += missed + missed_rows
    taken.update(ln for f in rows for ln in f.lines)
    fragments = _within_limits(arrays.join_rows(doc, fragments), skipped)
    fragments += [eq.fragment for eq in written if eq.fragment.line not in taken]
    fragments += [eq.fragment for eq in drawn]
    written += drawn
    fragments.sort(key=lambda f: (f.first, f.lines[-1]))
    lefts = {id(eq.fragment): eq.left for eq in written if eq.left}
    ends = _ends([f for f in fragments if f.kind != "equation"])
    for k, f in enumerate(fragments):
        f.index = k
        f.cells = refine(f.cells)
        f.context = context(doc, f, ends)
        f.label = _continued(doc, f)
        if id(f) in lefts:  # the arithmetic says what it computes: e^a / (…) is a softmax
            f.context.insert(0, lefts[id(f)])
        below = _caption_below(doc, f)
        if below and not describe(f.label, f.context).role:
            f.context.insert(0, below)
        prev = fragments[k - 1] if k else None
        if prev is None:
            continue
        if prev.line == f.line and prev.kind == f.kind and not re.search(r"\w", f.label):
            f.label, f.context, f.continues = prev.label, prev.context, True
        elif _sibling(prev, f) and describe(f.label, f.context).role is None:
            f.context, f.continues = prev.context, True  # the next item of a list
    _printed_names(doc, fragments)
    formulas = layout.from_drawings(doc, layout.latex_drawings(doc, fragments))
    kept = {id(f) for f in fragments}  # by identity: "in fragments" compared every pair
    return fragments, skipped, [eq for eq in written if id(eq.fragment) in kept] + formulas


def _continued(doc: Document, f: Fragment) -> str:
    """The label of a result on a line that carries the one above on ("Output = Weights @ V"
    then "       ≈ [[4.3, …": the name is the line above's)."""
    if f.label.strip() not in ("=", "≈") or f.line == 0:
        return f.label
    above = doc.texts[f.line - 1].strip()
    if "=" not in above or re.search(r"\d", above) or len(above) > 80:
        return f.label
    return f"{above} {f.label.strip()}"


def _within_limits(fragments: list[Fragment], skipped: list[Skipped]) -> list[Fragment]:
    """The fragments small enough to recompute; the others are noted as skipped."""
    if len(fragments) > MAX_FRAGMENTS:
        raise InputError(
            f"the article shows {len(fragments)} matrices and vectors; qkv check reads at "
            f"most {MAX_FRAGMENTS} (split it into smaller files)"
        )
    skipped += [tables.too_large_at(f.line) for f in fragments if max(f.shape) > MAX_SIDE]
    return [f for f in fragments if max(f.shape) <= MAX_SIDE]


def _sibling(prev: Fragment, f: Fragment) -> bool:
    """The next item of a list: the same kind and shape, on one of the next two lines."""
    return (
        prev.kind == f.kind
        and prev.shape == f.shape
        and prev.vector == f.vector
        and 0 < f.line - prev.lines[-1] <= 2
    )


def context(doc: Document, f: Fragment, ends: dict[int, int]) -> list[str]:
    """The non-empty lines above the fragment, nearest first, up to another fragment; of a
    line another fragment ends on, only the words after it ("[4, 16, 12], the softmax is")."""
    out: list[str] = []
    i = f.first - 1
    while i >= 0 and len(out) < CONTEXT_LINES and f.first - i <= 6:
        if f.region == OUTPUT and doc.lines[i].region != OUTPUT:
            break  # what a cell printed is named by its own text or by the print call
        text = doc.lines[i].text
        if i in ends:
            tail = _without_print_suffix(text[ends[i] :]).strip(" ,;.")
            if tail:
                out.append(tail)
            break
        text = text.strip()
        if text and not _FENCE.match(text):
            out.append(text)
        i -= 1
    return out


# what torch and numpy print after the numbers, which says nothing of the next print; a
# match starts at a comma or where a run of spaces starts, never inside one (tried at every
# space of a long run, "\s*" made one line quadratic)
_PRINT_ITEM = r"\s*(?:grad_fn=<\w+>|requires_grad=True|dtype=[\w.]+|device='[^']*')"
_PRINT_SUFFIX = re.compile(rf"(?:,|(?<!\s)){_PRINT_ITEM}(?:,?{_PRINT_ITEM})*\)*")
_CLOSING = re.compile(r"[\]\)\s,]+")  # the brackets that close what was printed


def _without_print_suffix(text: str) -> str:
    """The words after a printed value, without what torch and numpy print after it."""
    if not _PRINT_SUFFIX.match(text) and (closing := _CLOSING.match(text)):
        text = text[closing.end() :]
    return _PRINT_SUFFIX.sub("", text)


def _ends(fragments: list[Fragment]) -> dict[int, int]:
    """Line -> column where the last fragment on it ends (the whole line for tables)."""
    out: dict[int, int] = {}
    for f in fragments:
        if f.end is not None:
            out[f.end[0]] = max(out.get(f.end[0], 0), f.end[1])
        for line in range(f.first, f.lines[-1] + 1):
            if f.end is None or line != f.end[0]:
                out[line] = 10**9
    return out


_CAPTION = re.compile(r"^\s*(?:table|tab\.|figure|fig\.|表|图|上表|上图)\s*\d*\s*[:.：。]?", re.I)


def _caption_below(doc: Document, f: Fragment) -> str | None:
    """A caption written under a table ("table 1: raw scores", "表 2:权重")."""
    for i in range(f.lines[-1] + 1, min(f.lines[-1] + 4, len(doc.lines))):
        text = doc.lines[i].text.strip()
        if re.fullmatch(r"[-+=|─━═┼┴└┘┌┐├┤│\s]*", text):
            continue  # a border or a blank line
        return text if _CAPTION.match(text) else None
    return None


def _printed_names(doc: Document, fragments: list[Fragment]) -> None:
    """Output fragments without words take the names of what their cell printed, in order:
    print(Q); print(K) prints Q first, then K."""
    by_cell: dict[tuple[int | None, int | None], list[Fragment]] = {}
    for f in fragments:
        ln = doc.lines[f.line]
        if f.region == OUTPUT and (ln.cell, ln.block) != (None, None):
            by_cell.setdefault((ln.cell, ln.block), []).append(f)
    codes: dict[tuple[int | None, int | None], list[str]] = {}  # one pass over the lines
    for ln in doc.lines:
        if ln.region == CODE and (ln.cell, ln.block) in by_cell:
            codes.setdefault((ln.cell, ln.block), []).append(ln.text)
    for cell, outs in by_cell.items():
        code = codes.get(cell, [])
        names = _printed_expressions(code)
        unnamed = [f for f in outs if not re.search(r"\w", f.label)]
        # one fragment per printed value only where none has a label of its own: a tensor
        # read line by line ("tensor([[…]," then "[…]])") gives a name to no single line
        whole = len(unnamed) == len(outs)
        for f, name in zip(unnamed, names, strict=False):
            label = _defined(code, name)
            # what the cell printed says more than the prose around it, where it names a step
            # ("x @ x.T" under "the scores are then divided by √d_k" is not scaled)
            if (whole and role_of(label) is not None) or not any(map(role_of, f.context)):
                f.label = label


def _defined(code: list[str], name: str) -> str:
    """A printed variable's label: its name, or the computation that made it when that says
    more ("scores = q @ k.T / math.sqrt(3)" printed as scores holds scaled scores)."""
    for line in reversed(code):
        m = re.match(rf"\s*{re.escape(name)}\s*=(?!=)\s*(.+)", line.split("#")[0])
        if m and role_of(m.group(1)) in ("scaled", "weights", "output", "masked"):
            return f"{m.group(1).strip()} ="
    return f"{name} ="


def _printed_expressions(code: list[str]) -> list[str]:
    out: list[str] = []
    for line in code:
        for m in _PRINTED.finditer(line.split("#")[0]):
            # print("weights:", w) shows w; print(q, k, sep="\n") shows q, then k
            args = [_formatted(a) for a in _top_level(m.group(1))]
            args = [a for a in args if a and not _NOT_SHOWN.match(a)]
            out.extend(_subject(a) for a in args)
    last = next((ln.strip() for ln in reversed(code) if ln.strip()), "")
    if last and not _ASSIGNS.match(last) and not last.startswith(("print", "#", "import", "from")):
        out.extend(_subject(part) for part in _top_level(last))  # "Q, K, V" shows a tuple
    # shapes and checks print no step; row sums of the weights are one
    return [e for e in out if not _SHAPE_EXPR.search(e) or role_of(e) == "sums"]


# what only changes how a value is shown: pd.DataFrame(w, index=…), np.round(w, 3), w.numpy()
_SHOWN = r"(?:DataFrame|Series|round|around|array|asarray|tensor|display|pprint)"
_WRAPPED = re.compile(rf"^(?:(?:np|numpy|torch|pd|pandas)\.)?{_SHOWN}\s*\((.*)\)$", re.S)
_METHOD = re.compile(r"^(.+?)\.(?:round|numpy|detach|cpu|tolist|squeeze|to_numpy)\([^()]*\)$")


def _formatted(arg: str) -> str:
    """f"weights: {w}" shows w (one value in braces); other arguments stay as they are."""
    m = re.fullmatch(
        r"[rR]?[fF][rR]?([\"'])[^{}]*\{([^{}:!]+)(?:[:!][^{}]*)?\}[^{}]*\1", arg.strip()
    )
    return m.group(2).strip() if m else arg


def _subject(expr: str) -> str:
    """The value an expression shows, without what only formats it."""
    expr = expr.strip()
    for _ in range(4):
        if m := _WRAPPED.match(expr):
            expr = _top_level(m.group(1))[0]
        elif m := _METHOD.match(expr):
            expr = m.group(1).strip()
        else:
            break
    return expr


def _top_level(expr: str) -> list[str]:
    """The parts of ``expr`` between commas outside brackets and quotes."""
    parts, depth, quote, start = [], 0, "", 0
    for k, ch in enumerate(expr):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(expr[start:k].strip())
            start = k + 1
    parts.append(expr[start:].strip())
    return parts


def refine(cells: list[list[Claim]]) -> list[list[Claim]]:
    """Integers among decimals were written by dropping zeros ("2" for 2.00, as %g does, or
    "1." as numpy prints 1.0): judge them at the precision of the fragment's decimals. A
    fragment of integers only keeps the plain rule: "2" claims it rounds to 2."""
    decimal = [c for row in cells for c in row if c.decimals > 0 and c.exponent is None]
    if not decimal:
        # numpy and torch print 1.0 as "1.": exact to their printing precision
        return [
            [dataclasses.replace(c, half_unit=5e-5) if c.text.endswith(".") else c for c in row]
            for row in cells
        ]
    sig = max(len(c.text.lstrip("-−+0.").replace(".", "")) for c in decimal)
    most = max(c.decimals for c in decimal)
    general = len({c.decimals for c in decimal}) > 1  # %g: significant digits, not decimals
    out = []
    for row in cells:
        new_row = []
        for c in row:
            if general and c.decimals > 0 and c.exponent is None and c.value != 0:
                magnitude = math.floor(math.log10(abs(c.value)))
                c = dataclasses.replace(c, carry_half=0.5 * 10.0 ** (magnitude - sig + 1))
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


_CODE_DEF = re.compile(r"^\s*([A-Za-z_]\w*)\s*=(?!=)\s*(.+)$")


def code_names(doc: Document) -> dict[str, str]:
    """Names the article's code sets to a step ("S = Q @ K.T / np.sqrt(d_k)": S holds scaled
    scores), so that prose copying "s = (1.06, …)" from it means the same step. Keys are
    lower case; a name set to two different steps is left out."""
    found: dict[str, set[str]] = {}
    for line in doc.lines:
        m = _CODE_DEF.match(line.text.split("#")[0]) if line.region == CODE else None
        role = role_of(m.group(2)) if m else None
        if m and role in ("scaled", "masked", "weights", "output"):
            found.setdefault(m.group(1).lower(), set()).add(role)
    return {name: roles.pop() for name, roles in found.items() if len(roles) == 1}
