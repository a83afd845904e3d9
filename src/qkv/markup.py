"""Markdown cells and tables that user text cannot break, shared by every Markdown writer."""

from __future__ import annotations


def cell(text: str) -> str:
    """Escape what would break a table cell or start Markdown syntax."""
    out = text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
    for ch in "*_`[]<>":
        out = out.replace(ch, "\\" + ch)
    return out


def table(corner: str, cols: list[str], rows: list[tuple[str, list[str]]]) -> list[str]:
    """A GFM table: a header row of ``corner`` and ``cols``, then one line per labelled row."""
    header = [cell(corner) or " "] + [cell(c) for c in cols]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, cells in rows:
        lines.append("| " + " | ".join([cell(label), *(cell(c) for c in cells)]) + " |")
    return lines
