"""Terminal tables never cut a number: columns that do not fit go to a block below.

rich's Table shrinks columns to the width and cuts cells ("7.3…" for 7.34e-05), which
misleads; qkv's tables wrap into column blocks instead, at any width and when piped.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest
from rich.console import Console

import qkv
from qkv.render.layout import build
from qkv.render.text import BlockTable, renderable

SRC = Path(__file__).resolve().parents[1] / "src"


def wide_trace() -> qkv.Trace:
    """12 tokens of 12 dimensions with tiny and long numbers: too wide for 80 columns."""
    x = [[Fraction(((i * 7 + j * 5) % 11) - 5, 3) for j in range(12)] for i in range(12)]
    x[0][0] = Fraction(734, 10**7)  # 7.34e-05
    tokens = [f"token{i}" for i in range(11)] + ["quick-brown-fox"]
    return qkv.trace(x, tokens=tokens, scale="none")


def cells(trace: qkv.Trace) -> set[str]:
    doc = build(trace, "en", 3, (0, 0))
    return {c for s in doc.sections if s.table for _, row in s.table.rows for c in row}


def printed(trace: qkv.Trace, width: int) -> str:
    buf = io.StringIO()
    console = Console(file=buf, width=width, color_system=None)
    console.print(renderable(build(trace, "en", 3, (0, 0))))
    return buf.getvalue()


def assert_whole(out: str, expected: set[str]) -> None:
    assert "…" not in out
    words = set(out.split())
    missing = sorted(c for c in expected if c not in words)
    assert not missing, f"cut or missing: {missing[:5]}"


@pytest.mark.parametrize("width", [40, 80, 120])
def test_every_number_is_whole_at_any_width(width: int):
    trace = wide_trace()
    out = printed(trace, width)
    assert_whole(out, cells(trace))
    assert "0.0000734" in out.split() and "quick-brown-fox" in out.split()
    assert max(len(line.rstrip()) for line in out.splitlines()) <= width


def test_columns_go_to_blocks_with_the_labels_repeated():
    table = BlockTable("", [f"c{j}" for j in range(10)], [("a", ["123456"] * 10)])
    blocks = table.blocks(40)
    assert [j for b in blocks for j in b] == list(range(10))  # every column once, in order
    assert len(blocks) > 1 and all(b for b in blocks)
    buf = io.StringIO()
    Console(file=buf, width=40, color_system=None).print(table)
    assert buf.getvalue().count(" a ") == len(blocks)  # the label in every block


@pytest.mark.parametrize("columns", ["40", "80"])
def test_piped_cli_output_keeps_every_number(tmp_path: Path, columns: str):
    """`qkv explain ... | less`: rich uses COLUMNS (else 80) when stdout is not a terminal."""
    trace = wide_trace()
    x = tmp_path / "x.json"
    rows = [[str(v) for v in row] for row in trace["x"].exact]
    x.write_text(json.dumps({"x": rows, "tokens": trace["x"].rows}), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(SRC), "COLUMNS": columns, "LANG": "C.UTF-8"}
    done = subprocess.run(
        [sys.executable, "-m", "qkv", "explain", "--input", str(x), "--scale", "none"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert_whole(done.stdout, cells(trace))
    assert max(len(line.rstrip()) for line in done.stdout.splitlines()) <= int(columns)


def test_check_report_table_folds_instead_of_cutting(tmp_path: Path):
    article = Path(__file__).resolve().parents[1] / "examples" / "article.md"
    env = {**os.environ, "PYTHONPATH": str(SRC), "COLUMNS": "40", "LANG": "C.UTF-8"}
    done = subprocess.run(
        [sys.executable, "-m", "qkv", "check", str(article)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "…" not in done.stdout
    assert re.search(r"\b23\b", done.stdout)  # the line of the weights table, whole
