"""A fragment: one matrix or vector of numbers as an article printed it, with the words that
name it, before anyone decides what it is."""

from __future__ import annotations

from dataclasses import dataclass, field

from qkv.review.numbers import Claim


@dataclass
class Fragment:
    kind: str  # table, array, latex, equation
    cells: list[list[Claim]]  # rows of written numbers
    lines: list[int]  # document line (0-based) of each row
    label: str = ""  # the words on the same line right before it ("q1 =", "Q = K =")
    context: list[str] = field(default_factory=list)  # the lines above, nearest first
    row_labels: list[str] | None = None
    col_labels: list[str] | None = None
    region: str = "prose"  # prose, code or output
    vector: bool = False  # written as one flat list (a row vector)
    index: int = 0  # position among the document's fragments, set when all are read
    top: int | None = None  # first line of its extent (a table's header), if above lines[0]
    continues: bool = False  # "[1, 0, 2], [2, 2, 2]": the next one of the same words
    end: tuple[int, int] | None = None  # (line, column) just after it, when it ends mid-line
    left: str | None = None  # of arithmetic written out: its left side ("2.718 + 7.389 + …")
    batch: int = 0  # which matrix of a batched (3-D or more) array it is
    span: tuple[int, int] | None = None  # offsets in the document's joined text (LaTeX)

    @property
    def first(self) -> int:
        return self.lines[0] if self.top is None else min(self.top, self.lines[0])

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.cells), len(self.cells[0])

    @property
    def line(self) -> int:
        return self.lines[0]

    @property
    def size(self) -> int:
        return sum(len(r) for r in self.cells)


@dataclass(frozen=True)
class Skipped:
    """Something that looked like numbers but could not be read or checked, and why: a key
    of the report's messages and its values, so that each language says it whole."""

    line: int  # document line (0-based)
    key: str  # in qkv.review.messages
    args: tuple[tuple[str, object], ...] = ()

    def text(self, lang: str = "en") -> str:
        from qkv.review.messages import t

        # a value naming a step ("qty.scores") is said in the report's language too
        values = {
            k: t(lang, v) if isinstance(v, str) and v.startswith("qty.") else v
            for k, v in self.args
        }
        return t(lang, self.key, **values)

    @property
    def why(self) -> str:
        return self.text("en")


def skipped(line: int, key: str, **args: object) -> Skipped:
    return Skipped(line, key, tuple(args.items()))
