"""An article as lines the readers scan, whatever file it came in.

Markdown and plain text are their own lines. A Jupyter notebook becomes its cells one after
another (markdown, code, then the code's printed output), and a saved HTML page becomes its
text, with tables written as pipe tables and <pre> blocks kept line by line. Every line keeps
the line of the file it came from, so that findings point into the file the user has.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

from qkv.review import budget

PROSE, CODE, OUTPUT = "prose", "code", "output"


@dataclass
class Line:
    text: str
    source_line: int  # 1-based line in the file
    region: str = PROSE  # prose, code (a code block or cell) or output (what code printed)
    cell: int | None = None  # notebook cell (0-based), if any
    block: int | None = None  # code block of Markdown; its output block shares the number


@dataclass
class Document:
    name: str
    lines: list[Line]
    kind: str = "text"  # text | notebook | html
    notes: list[str] = field(default_factory=list)  # what could not be read, and why
    _blocks: tuple[list[tuple[int, int]], list[tuple[int, int]]] | None = field(
        default=None, repr=False
    )
    _texts: list[str] | None = field(default=None, repr=False)

    @property
    def texts(self) -> list[str]:
        """The lines' texts (computed once: lines are not changed after reading)."""
        if self._texts is None or len(self._texts) != len(self.lines):
            self._texts = [ln.text for ln in self.lines]
        return self._texts

    @property
    def joined(self) -> str:
        """All lines as one text (each ends with a newline but the last)."""
        return "\n".join(self.texts)

    def starts(self) -> list[int]:
        """Offset in :attr:`joined` where each line starts (and one past the end)."""
        out = [0]
        for t in self.texts:
            out.append(out[-1] + len(t) + 1)
        return out

    def where(self, index: int, lang: str = "en") -> str:
        """A person's name for line ``index`` (0-based) of the document."""
        ln = self.lines[index]
        line = f"line {ln.source_line}" if lang == "en" else f"第 {ln.source_line} 行"
        if ln.cell is None:
            return line
        if lang == "en":
            what = {OUTPUT: "output of cell", CODE: "code cell"}.get(ln.region, "cell")
            return f"{line} ({what} {ln.cell + 1})"
        what = {OUTPUT: "个单元格的输出", CODE: "个代码单元格"}.get(ln.region, "个单元格")
        return f"{line}(第 {ln.cell + 1} {what})"

    def markdown_blocks(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """(GFM table ranges, code block ranges) of the lines, 0-based [start, end)."""
        if self._blocks is None:
            from markdown_it import MarkdownIt

            tables, code = [], []
            text = "\n".join(self.texts)
            md = MarkdownIt("commonmark").enable("table").disable("inline")  # blocks only
            # markdown-it spends tens of microseconds a line: a rule tried first at every
            # block start and at every line of a paragraph (it takes nothing) checks the
            # budget while it works
            md.block.ruler.before(
                "table",
                "qkv_budget",
                _budget_rule,
                {"alt": ["paragraph", "reference", "blockquote", "list"]},
            )
            for tok in md.parse(text):
                if tok.map is None:
                    continue
                if tok.type == "table_open":
                    tables.append((tok.map[0], tok.map[1]))
                elif tok.type in ("fence", "code_block"):
                    code.append((tok.map[0], tok.map[1]))
            self._blocks = (tables, code)
        return self._blocks


def _budget_rule(state: object, start: int, end: int, silent: bool) -> bool:
    budget.tick()
    return False


def from_text(text: str, name: str) -> Document:
    """Markdown or plain text; fenced and indented code blocks are marked as code, and a
    block that only shows what the code block just before it printed, as its output."""
    doc = Document(name, [Line(t, i + 1) for i, t in enumerate(text.splitlines())])
    blocks = doc.markdown_blocks()[1]
    if not name.lower().endswith((".md", ".markdown")):
        blocks = _with_indented(doc, blocks)
    previous: tuple[int, int] | None = None  # the code block that printed, and where it ends
    for block, (start, end) in enumerate(blocks):
        end = min(end, len(doc.lines))
        output = previous is not None and start - previous[1] <= 3 and _printed(doc, start, end)
        for i in range(start, end):
            doc.lines[i].region = OUTPUT if output else CODE
            doc.lines[i].block = previous[0] if output and previous else block
        # what it printed may come in several blocks, one after another
        previous = (previous[0] if output and previous else block, end)
    return doc


def _with_indented(doc: Document, blocks: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Plain text indents code and what it printed by four spaces or a tab, even right under
    a line of prose (where Markdown would read them as more of the paragraph); it indents
    tables and formulas too, which stay prose. A run of indented lines is code when it holds
    a statement, and output when it follows code."""
    inside = {i for a, b in blocks for i in range(a, b)}
    out = [(a, b) for a, b in blocks if _code_like(doc, a, b)]
    ends = sorted(b for _, b in out)  # of the fenced blocks; found runs end in order
    k, previous = 0, None  # the last end at or before i (i only grows: no search per line)
    i = 0
    while i < len(doc.lines):
        j = i
        while j < len(doc.lines) and j not in inside and _INDENTED.match(doc.lines[j].text):
            j += 1
        while k < len(ends) and ends[k] <= i:
            previous = ends[k] if previous is None else max(previous, ends[k])
            k += 1
        after_code = previous is not None and i - previous <= 3
        if j > i and (_code_like(doc, i, j) or after_code):
            out.append((i, j))
            previous = j if previous is None else max(previous, j)  # j <= the next i
        i = max(j, i + 1)
    return sorted(out)


def _code_like(doc: Document, start: int, end: int) -> bool:
    """A fenced block, or lines of which one is a statement of code."""
    if doc.lines[start].text.lstrip().startswith(("```", "~~~")):
        return True
    return any(_STATEMENT.match(doc.lines[k].text) for k in range(start, end))


_INDENTED = re.compile(r"^(?: {4}|\t)\s*\S")


_STATEMENT = re.compile(
    r"^\s*(?:[A-Za-z_][\w.\[\]]*\s*(?:,\s*\w+\s*)*=(?!=)|def |class |import |"
    r"from |for |if |return |print\(|with |#)"
)


def _printed(doc: Document, start: int, end: int) -> bool:
    """Does a fenced or indented block hold printed output (no statements, only what print
    shows)?"""
    first = doc.lines[start].text.strip()
    if not first.startswith(("```", "~~~")):  # an indented block: no fence lines
        first, start, end = "", start - 1, end + 1
    body = [ln.text for ln in doc.lines[start + 1 : end - 1] if ln.text.strip()]
    fence = first.lstrip("`~").strip().lower()
    if fence not in ("", "text", "output", "console", "plaintext", "txt", "out"):
        return False
    return bool(body) and not any(_STATEMENT.match(t) for t in body)


class Offsets:
    """Line of a character offset in a Document's joined text."""

    def __init__(self, doc: Document):
        self.starts = doc.starts()

    def line(self, offset: int) -> int:
        return bisect.bisect_right(self.starts, offset) - 1
