"""Document -> GitHub-flavoured Markdown, ready to paste into an article."""

from __future__ import annotations

from qkv.render.layout import Document, Table


def cell(text: str) -> str:
    """Escape what would break a table cell or start Markdown syntax."""
    out = text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
    for ch in "*_`[]<>":
        out = out.replace(ch, "\\" + ch)
    return out


def table(t: Table) -> list[str]:
    header = [cell(t.corner) or " "] + [cell(c) for c in t.cols]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, cells in t.rows:
        lines.append("| " + " | ".join([cell(label), *(cell(c) for c in cells)]) + " |")
    return lines


def render(doc: Document) -> str:
    out = [f"# {cell(doc.title)}", "", cell(doc.subtitle), ""]
    for sec in doc.sections:
        out += [f"## {sec.title}", ""]
        if sec.latex:
            out += [f"${sec.latex}$", ""]
        out += [sec.text, ""]
        if sec.table is not None:
            out += [*table(sec.table), ""]
        if sec.expansion is not None:
            heading, plain, _ = sec.expansion
            out += [f"{cell(heading)} `{plain}`", ""]
        for note in sec.notes:
            out += [note, ""]
    return "\n".join(out)
