"""Document -> terminal, with rich. User labels are rich Text, never markup, and their
control characters are made visible (qkv.terminal): a token cannot move the cursor."""

from __future__ import annotations

from rich.console import Console, Group, RenderableType
from rich.table import Table as RichTable
from rich.text import Text

from qkv.render.layout import Document, Section, Table
from qkv.terminal import printable


def _text(text: str, style: str = "") -> Text:
    return Text(printable(text), style=style)


def _table(table: Table) -> RichTable:
    rt = RichTable(
        show_header=True, header_style="bold cyan", box=None, pad_edge=True, padding=(0, 1)
    )
    rt.add_column(_text(table.corner), style="bold cyan", justify="left")
    for col in table.cols:
        rt.add_column(_text(col), justify="right")
    for label, cells in table.rows:
        rt.add_row(_text(label), *(_text(c) for c in cells))
    return rt


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
