"""A Jupyter notebook (.ipynb, nbformat 4) as a Document: markdown cells, code cells and the
text their code printed, in order, each line pointing at its line in the .ipynb file."""

from __future__ import annotations

import json
import re
from typing import Any

from qkv.core.text import ensure_text
from qkv.errors import InputError
from qkv.limits import MAX_NOTEBOOK_CELLS as MAX_CELLS
from qkv.review import budget
from qkv.review.document import CODE, OUTPUT, PROSE, Document, Line


def read(text: str, name: str) -> Document:
    starts = [m.start() for m in _CELL_TYPE.finditer(text)]
    if len(starts) > MAX_CELLS:  # counted before the JSON is built
        raise InputError(
            f"{name} has {len(starts):,} cells; qkv check reads notebooks of at most "
            f"{MAX_CELLS:,} (split it into smaller files)"
        )
    try:
        nb = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(
            f"{name} is not a readable notebook (JSON error at line {e.lineno})"
        ) from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise InputError(f"{name} is not a Jupyter notebook (no list of cells)")
    lines: list[Line] = []
    doc = Document(name, lines, kind="notebook")
    counter = _LineCounter(text)
    for number, cell in enumerate(nb["cells"]):
        budget.tick()
        # nbformat writes a cell's keys in order (outputs before source): look for each part
        # from the start of its cell, and no further than the next cell's start
        at = starts[number] if number < len(starts) else 0
        stop = starts[number + 1] if number + 1 < len(starts) else len(text)
        finder = _LineFinder(text, at, counter.line(at), stop, name)
        if not isinstance(cell, dict):
            doc.notes.append(f"cell {number + 1} is not a cell object: skipped")
            continue
        kind = cell.get("cell_type")
        region = CODE if kind == "code" else PROSE
        if kind not in ("code", "markdown", "raw"):
            continue
        lines.append(Line("", finder.line, PROSE, number))  # cells never run together
        lines.extend(_lines(cell.get("source", ""), region, number, finder))
        outputs = _LineFinder(text, at, counter.line(at), stop, name)
        for out in cell.get("outputs", []) if kind == "code" else []:
            for text_part in _output_texts(out):
                lines.extend(_lines(text_part, OUTPUT, number, outputs))
    return doc


_CELL_TYPE = re.compile(r'"cell_type"\s*:')


def _output_texts(out: Any) -> list[Any]:
    """The plain text an output shows: a stream, or the text/plain of a result."""
    if not isinstance(out, dict):
        return []
    if out.get("output_type") == "stream":
        return [out.get("text", "")]
    data = out.get("data")
    if isinstance(data, dict) and "text/plain" in data:
        return [data["text/plain"]]
    return []


def _lines(source: Any, region: str, cell: int, finder: _LineFinder) -> list[Line]:
    """A cell's source or an output's text (a string or a list of strings) as lines."""
    parts = source if isinstance(source, list) else [source]
    out: list[Line] = []
    for part in parts:
        if not isinstance(part, str):
            continue
        ensure_text(part, f"{finder.name}, cell {cell + 1}")
        line = finder.find(part)  # a JSON string is on one line of the file
        out.extend(Line(text, line, region, cell) for text in part.splitlines() or [""])
    return out


class _LineCounter:
    """Line of an offset, for offsets that never go back: each newline is counted once."""

    def __init__(self, raw: str):
        self.raw, self.pos, self.lines = raw, 0, 1

    def line(self, pos: int) -> int:
        if pos < self.pos:  # a cell found out of order: count from the start again
            self.pos, self.lines = 0, 1
        self.lines += self.raw.count("\n", self.pos, pos)
        self.pos = pos
        return self.lines


class _LineFinder:
    """The file line of each string of the notebook, found in order in the raw JSON text
    (nbformat writes every line of a cell as its own JSON string on its own line), between
    its cell's start and the next cell's. A string not found costs a search to that end, so
    after MAX_MISSES of them the rest take the line reached (still near)."""

    MAX_MISSES = 8

    def __init__(self, raw: str, pos: int, line: int, stop: int, name: str):
        self.name = name  # the notebook's, for messages
        self.raw = raw
        self.pos = pos
        self.line = line
        self.stop = stop
        self.misses = 0

    def find(self, part: str) -> int:
        if self.misses >= self.MAX_MISSES:
            return self.line
        plain = json.dumps(part, ensure_ascii=False)
        escaped = json.dumps(part)
        for encoded in (plain,) if escaped == plain else (plain, escaped):
            at = self.raw.find(encoded, self.pos, self.stop)
            if at >= 0:
                self.line += self.raw.count("\n", self.pos, at)
                self.pos = at + len(encoded)
                first = self.line
                self.line += self.raw.count("\n", at, self.pos)
                return first
        self.misses += 1
        return self.line  # written some other way: the line we are at is close
