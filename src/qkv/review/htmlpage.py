"""A saved HTML page as a Document: its text in reading order, <table>s written as pipe tables,
<pre> blocks line by line, MathJax/KaTeX sources kept as TeX, and nothing of scripts or styles.
Each line points at the line of the HTML source where it starts."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from qkv.errors import InputError
from qkv.review import budget
from qkv.review.document import CODE, PROSE, Document, Line
from qkv.review.readers.tables import MAX_SIDE


def read(text: str, name: str) -> Document:
    parser = PageText()
    try:
        parser.feed(ended(text))
        parser.close()
    except AssertionError as e:  # html.parser's word for a declaration it cannot read
        line = parser.getpos()[0]
        raise InputError(f"{name} is not a readable HTML page (line {line}: {e})") from None
    parser.flush()
    return Document(name, parser.lines, kind="html")


_COMMENT_END = re.compile(r"--\s*>")  # what html.parser ends a comment with
_SECTION_END = re.compile(r"]\s*>")  # and a marked section (<![CDATA[ … ]]>)


def ended(text: str) -> str:
    """The page with every construct that never ends made plain text or left out, so that
    html.parser reads it in linear time. Python 3.11's parser looks for the end of a
    comment, a marked section or a tag that has none anew at each "<" after it (a page of
    "<a b" repeated took minutes): so "<" after the last ">" becomes "&lt;" (text, as the
    parser shows it), and an unclosed comment or section runs to the end, as in HTML5."""
    cut = len(text)
    for start, ends in (("<!--", _COMMENT_END), ("<![", _SECTION_END)):
        last = max((m.end() for m in ends.finditer(text)), default=0)
        at = text.find(start, last)
        if at >= 0:
            cut = min(cut, at)
    text = text[:cut]
    last_gt = text.rfind(">") + 1
    return text[:last_gt] + text[last_gt:].replace("<", "&lt;")


BLOCKS = {
    "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "table",
    "tr", "section", "article", "blockquote", "hr", "figure", "figcaption", "header",
    "footer", "dt", "dd", "dl", "main", "aside", "nav", "caption", "tbody", "thead",
}  # fmt: skip
SKIPPED = {"script", "style", "noscript", "template", "svg", "head", "title"}
TEX_SCRIPTS = ("math/tex", "math/tex; mode=display")


class PageText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[Line] = []
        self.buf: list[str] = []
        self.start = 1  # source line of the text in buf
        self.skip = 0  # depth inside script/style
        self.tex = False  # inside a MathJax <script type="math/tex">
        self.pre = 0
        self.table: list[list[str]] | None = None
        self.row_lines: list[int] = []  # source line of each table row
        self.cell: list[str] | None = None

    def flush(self) -> None:
        text = "".join(self.buf)
        self.buf = []
        if self.pre:
            for k, part in enumerate(text.split("\n")):
                self.lines.append(Line(part, self.start + k, CODE))
        else:  # each line of the source its own line (a matrix in $$…$$ spans several)
            for k, part in enumerate(text.split("\n")):
                if part.strip():
                    self.lines.append(Line(" ".join(part.split()), self.start + k, PROSE))

    def _text(self, data: str) -> None:
        budget.tick()
        if self.cell is not None:
            self.cell.append(data)
            return
        if not self.buf:
            self.start = self.getpos()[0]
        self.buf.append(data)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        budget.tick()
        if tag in SKIPPED:
            kind = dict(attrs).get("type") or ""
            if tag == "script" and kind.startswith(TEX_SCRIPTS):
                self.tex = True
                self._text(" $")
            else:
                self.skip += 1
        elif not self.skip:
            self._start(tag)

    def _start(self, tag: str) -> None:
        if tag == "table":
            self.flush()
            self.table, self.row_lines = [], []
        elif tag == "tr" and self.table is not None:
            self.table.append([])
            self.row_lines.append(self.getpos()[0])
        elif tag in ("td", "th") and self.table is not None:
            self.cell = []
        elif tag in BLOCKS:
            self.flush()
            if tag == "pre":
                self.pre += 1
                self.start = self.getpos()[0]
        elif tag == "sup":
            self._text("^")
        elif tag == "sub":
            self._text("_")

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIPPED:
            if self.tex and tag == "script":
                self.tex = False
                self._text("$ ")
            elif self.skip:
                self.skip -= 1
            return
        if self.skip:
            return
        if tag in ("td", "th") and self.table is not None and self.cell is not None:
            if self.table:
                self.table[-1].append(" ".join("".join(self.cell).split()))
            self.cell = None
        elif tag == "table" and self.table is not None:
            self._emit_table()
        elif tag in BLOCKS:
            self.flush()
            if tag == "pre" and self.pre:
                self.pre -= 1

    def handle_data(self, data: str) -> None:
        if self.skip and not self.tex:
            return
        self._text(data)

    def _emit_table(self) -> None:
        """The table as pipe rows: first row, a delimiter row, the rest (as GFM wants)."""
        kept = [(r, ln) for r, ln in zip(self.table or [], self.row_lines, strict=False) if r]
        self.table = None
        if not kept:
            return
        width = max(len(r) for r, _ in kept)
        # short rows are padded to the widest, unless that is wider than any matrix qkv
        # check reads (a row of 25,000 cells over 25,000 rows of one would fill gigabytes)
        pad = width if width <= MAX_SIDE + 1 else 0
        self.lines.append(Line("", kept[0][1], PROSE))
        for k, (row, line) in enumerate(kept):
            cells = [c.replace("|", "\\|") for c in row] + [""] * max(0, pad - len(row))
            self.lines.append(Line("| " + " | ".join(cells) + " |", line, PROSE))
            if k == 0:
                self.lines.append(Line("|" + "---|" * width, line, PROSE))
        self.lines.append(Line("", kept[-1][1], PROSE))
