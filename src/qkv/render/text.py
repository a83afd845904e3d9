"""Document -> terminal, with rich. User labels are rich Text, never markup, and their
control characters are made visible (qkv.terminal): a token cannot move the cursor."""

from __future__ import annotations

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.table import Table as RichTable
from rich.text import Text

from qkv.render.layout import Document, Section, Table
from qkv.terminal import printable


def _text(text: str, style: str = "") -> Text:
    return Text(printable(text), style=style)


class BlockTable:
    """A table that never cuts a cell: the columns that do not fit the width go to a block of
    their own below (the row labels repeated), as R and pandas print wide matrices. rich's own
    Table shrinks columns to fit and cuts numbers ("7.3…" for 7.34e-5), which misleads.

    ``corner`` heads the label column; ``rows`` are (label, cells) of plain text."""

    PAD = 2  # one space either side of a cell

    def __init__(self, corner: str, cols: list[str], rows: list[tuple[str, list[str]]]):
        self.corner, self.cols, self.rows = corner, cols, rows

    def _widths(self) -> tuple[int, list[int]]:
        label = max(
            [cell_len(printable(self.corner))] + [cell_len(printable(r)) for r, _ in self.rows]
        )
        cols = [
            max(
                [cell_len(printable(c))] + [cell_len(printable(cells[j])) for _, cells in self.rows]
            )
            for j, c in enumerate(self.cols)
        ]
        return label, cols

    def blocks(self, width: int) -> list[list[int]]:
        """The column indices of each block: as many as fit beside the labels (at least one)."""
        label, cols = self._widths()
        room = width - min(label, width // 2) - self.PAD
        out: list[list[int]] = [[]]
        used = 0
        for j, w in enumerate(cols):
            if out[-1] and used + w + self.PAD > room:
                out.append([])
                used = 0
            out[-1].append(j)
            used += w + self.PAD
        return out

    def _block(self, chosen: list[int], label_width: int) -> RichTable:
        rt = RichTable(
            show_header=True, header_style="bold cyan", box=None, pad_edge=True, padding=(0, 1)
        )
        # fold, never "…": a label too long for the width wraps; a number always fits
        rt.add_column(
            _text(self.corner),
            style="bold cyan",
            justify="left",
            overflow="fold",
            max_width=label_width,
        )
        for j in chosen:
            rt.add_column(_text(self.cols[j]), justify="right", overflow="fold", no_wrap=True)
        for label, cells in self.rows:
            rt.add_row(_text(label), *(_text(cells[j]) for j in chosen))
        return rt

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        label_width = max(1, width // 2)
        blocks = self.blocks(width)
        for i, chosen in enumerate(blocks):
            if i:
                yield Text("")
            yield self._block(chosen, label_width)


def _table(table: Table) -> BlockTable:
    return BlockTable(table.corner, list(table.cols), [(r, list(c)) for r, c in table.rows])


def _section(sec: Section) -> RenderableType:
    head = Text()
    head.append(printable(sec.title), style="bold")
    if sec.formula and sec.formula not in sec.title:
        head.append("   ")
        head.append(printable(sec.formula), style="magenta")
    parts: list[RenderableType] = [head, _text(sec.text, "dim")]
    if sec.table is not None:
        parts.append(_table(sec.table))
    if sec.expansion is not None:
        heading, plain, _ = sec.expansion
        line = Text("  ")
        line.append(printable(heading), style="dim")
        line.append(" ")
        line.append(printable(plain), style="yellow")
        parts.append(line)
    parts.extend(_text(n, "dim italic") for n in sec.notes)
    return Group(*parts, Text(""))


def renderable(doc: Document) -> RenderableType:
    title = _text(doc.title, "bold underline")
    return Group(title, _text(doc.subtitle, "dim"), Text(""), *(_section(s) for s in doc.sections))


def print_document(doc: Document, console: Console | None = None) -> None:
    (console or Console()).print(renderable(doc))


def to_string(doc: Document, width: int = 100) -> str:
    """Plain text (no colours), for a file."""
    import io

    buf = io.StringIO()
    Console(file=buf, width=width, color_system=None, legacy_windows=False).print(renderable(doc))
    return buf.getvalue()
