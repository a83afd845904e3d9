"""log.csv: the loss curve of a training run folder (qkv gpt train), one row per evaluation.

    step,train_loss,val_loss,tokens_per_s,elapsed_s

--resume appends to it: the rows of earlier runs stay, and elapsed_s goes on from where the
last one stopped. tokens_per_s is the progress line's: tokens trained on in this run ÷ the
time in its steps so far (evaluations and checkpoints left out). The whole file is rewritten through
qkv.files at each evaluation (complete or nothing; it is small), never half a line. Here, not
in qkv.gpt, so that `qkv viz --loss` reads it without torch.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

from qkv import limits
from qkv.errors import InputError

FILENAME = "log.csv"
COLUMNS = ("step", "train_loss", "val_loss", "tokens_per_s", "elapsed_s")


@dataclass
class Row:
    step: int
    train_loss: float
    val_loss: float
    tokens_per_s: float
    elapsed_s: float

    def cells(self) -> list[str]:
        return [
            str(self.step),
            f"{self.train_loss:.6f}",
            f"{self.val_loss:.6f}",
            f"{self.tokens_per_s:.1f}",
            f"{self.elapsed_s:.2f}",
        ]


@dataclass
class LossLog:
    """The rows so far; ``add`` appends one and rewrites the file."""

    path: Path
    rows: list[Row] = field(default_factory=list)

    @classmethod
    def start(cls, out: Path, resume: bool) -> LossLog:
        """A new log (a new run replaces a stale one), or the old rows when resuming (a
        damaged old log is started over, not a reason to stop training)."""
        from qkv.files import check_target

        path = check_target(out / FILENAME, "the loss log")  # now, not at the first evaluation
        if resume and path.exists():
            try:
                return cls(path, read(path))
            except InputError:
                pass
        return cls(path)

    @property
    def elapsed_before(self) -> float:
        return self.rows[-1].elapsed_s if self.rows else 0.0

    def add(self, row: Row) -> None:
        from qkv.files import write_text

        self.rows = [r for r in self.rows if r.step < row.step] + [row]
        write_text(self.path, to_text(self.rows), "the loss log")


def to_text(rows: list[Row]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(r.cells() for r in rows)
    return buf.getvalue()


def read(path: str | Path) -> list[Row]:
    """The rows of a log.csv (or of the log.csv in a run folder); one-line errors."""
    from qkv.files import read_text

    path = Path(path)
    if path.is_dir():
        path = path / FILENAME
        if not path.exists():
            raise InputError(f"{path.parent} has no {FILENAME} (train into it with qkv gpt train)")
    text = read_text(path, "the loss log", limits.LOG_BYTES)
    lines = list(csv.reader(io.StringIO(text)))
    if not lines or tuple(c.strip() for c in lines[0]) != COLUMNS:
        raise InputError(f"{path} is not a qkv loss log (expected the header {','.join(COLUMNS)})")
    rows = []
    for n, cells in enumerate(lines[1:], start=2):
        if not cells:
            continue
        if len(cells) != len(COLUMNS):
            raise InputError(f"{path} line {n} has {len(cells)} fields, expected {len(COLUMNS)}")
        try:
            step = int(cells[0])
            values = [float(c) for c in cells[1:]]
        except ValueError:
            raise InputError(f"{path} line {n}: not numbers") from None
        if step < 0 or not all(math.isfinite(v) for v in values):
            raise InputError(f"{path} line {n}: a negative step or a value that is not finite")
        rows.append(Row(step, *values))
    return rows
