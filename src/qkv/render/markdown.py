"""Document -> GitHub-flavoured Markdown, ready to paste into an article."""

from __future__ import annotations

from qkv.markup import cell, table
from qkv.render.layout import Document


def render(doc: Document) -> str:
    out = [f"# {cell(doc.title)}", "", cell(doc.subtitle), ""]
    for sec in doc.sections:
        out += [f"## {sec.title}", ""]
        if sec.latex:
            out += [f"${sec.latex}$", ""]
        out += [sec.text, ""]
        if sec.table is not None:
            out += [*table(sec.table.corner, sec.table.cols, sec.table.rows), ""]
        if sec.expansion is not None:
            heading, plain, _ = sec.expansion
            out += [f"{cell(heading)} `{plain}`", ""]
        for note in sec.notes:
            out += [note, ""]
    return "\n".join(out)
