"""The checker's readers take time linear in the article (issue 21).

Each shape is an article made of one unit repeated n, 4n and 16n times; reading it (the
limits counted, the file turned into lines, every reader run; the budget switched off) must
take about 4 and 16 times as long, not 16 and 256 times (quadratic) or worse. The shapes are
those that once took minutes (blank lines under a line-start regex, a notebook of many
cells, a long run of spaces in a table cell, tags that never end in an HTML page), and
hypothesis makes more from pieces of Markdown, LaTeX, HTML and printed arrays.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qkv.errors import InputError
from qkv.review import budget
from qkv.review.check import load
from qkv.review.readers import ensure_few, read_all

pytestmark = pytest.mark.fuzz

CASES = int(os.environ.get("QKV_FUZZ_CASES", "25"))
GIVE_UP = 5.0  # seconds for the 4x size: far past linear, stop before the 16x one
FLOOR = 0.03  # seconds: below this, timing noise is all there is to see


def read(text: str, name: str) -> None:
    budget.start(1e9)
    try:
        ensure_few(text)
        read_all(load(text, name))
    except InputError:
        pass  # refused: that is also an answer, and it was counted in the time


def seconds(text: str, name: str) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        read(text, name)
        best = min(best, time.perf_counter() - start)
    return best


def assert_linear(make: Callable[[int], str], n: int, name: str = "a.txt") -> None:
    t1 = seconds(make(n), name)
    t4 = seconds(make(4 * n), name)
    assert t4 < GIVE_UP, f"{name}: {t4:.1f} s at 4x (1x: {t1:.3f} s)"
    t16 = seconds(make(16 * n), name)
    times = f"1x {t1:.3f} s, 4x {t4:.3f} s, 16x {t16:.3f} s"
    if t16 < FLOOR:
        return
    # linear: 4 and 16; quadratic: 16 and 256
    assert t16 <= 8 * max(t4, FLOOR / 4), times
    assert t16 <= 40 * max(t1, FLOOR / 16), times


def notebook(cells: list[dict[str, object]]) -> str:
    return json.dumps({"cells": cells, "nbformat": 4, "nbformat_minor": 5}, indent=1)


SHAPES: dict[str, tuple[Callable[[int], str], int, str]] = {
    "blank lines": (lambda n: "\n" * n, 4000, "a.md"),
    "lines of spaces": (lambda n: " \n" * n, 4000, "a.md"),
    "one line of spaces": (lambda n: " " * n + "x", 20000, "a.md"),
    "indented list": (lambda n: "  - a\n" * n, 1000, "a.md"),
    "fences": (lambda n: "```\n" * n, 2000, "a.txt"),
    "a row of numbers": (lambda n: "0.5 " * n, 20000, "a.txt"),
    "spaces in a table cell": (lambda n: "| a" + " " * n + "b |\n|---|\n| 1 |\n", 20000, "a.md"),
    "spaces before a delimiter's end": (lambda n: "|a|\n|-- " + " " * n + "x\n", 20000, "a.md"),
    "spaces before a grid row": (lambda n: " " * n + "|a|\n+-+\n", 20000, "a.txt"),
    "a long column name": (
        lambda n: "| a | q" + "_" * n + "x | k1 |\n|---|---|---|\n| 1 | 2 | 3 |\n",
        20000,
        "a.md",
    ),
    "digits in a tuple": (lambda n: "x = (" + "1" * n + ", y", 20000, "a.txt"),
    "citations on one line": (lambda n: "see [1] " * n, 1000, "a.txt"),
    "tuples on one line": (lambda n: "x (1,2) " * n, 2000, "a.txt"),
    "spaces after a printed list": (lambda n: "x = [1, 2]" + " " * n + "z\n", 20000, "a.txt"),
    "a commented list": (
        lambda n: "```\nx = a" + " " * n + "b  # [1, 2]\n```\n",
        5000,
        "a.md",
    ),
    "an array's spec": (lambda n: "\\begin{array}" + " " * n + "x", 20000, "a.txt"),
    "equations": (lambda n: "1 + 1 = 2\n" * n, 300, "a.txt"),
    "notebook cells": (
        lambda n: notebook([{"cell_type": "code", "source": ["x=1\n"], "outputs": []}] * n),
        500,
        "a.ipynb",
    ),
    "notebook lines written differently": (
        lambda n: notebook(
            [{"cell_type": "code", "source": [f"一{k}\n" for k in range(n)], "outputs": []}]
        ).replace("一", "\\u4E00"),
        1000,
        "a.ipynb",
    ),
    "tags that never end": (lambda n: "<html>" + "<a b" * n, 2000, "a.html"),
    "comments that never end": (lambda n: "<html>" + "<!--a>" * n, 2000, "a.html"),
    "sections that never end": (lambda n: "<html>" + "<![CDATA[a>" * n, 2000, "a.html"),
    "end tags that never end": (lambda n: "<html>" + "</a " * n, 2000, "a.html"),
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_readers_are_linear_on_shapes_that_were_not(shape):
    make, n, name = SHAPES[shape]
    assert_linear(make, n, name)


PIECES = [
    "\n", " ", "\t", "|", "-", ":", "[", "]", "(", ")", ",", "1", "0.5", "x", "_", "=", "#",
    "$", "$$", "\\", "\\\\", "&", "{", "}", "<", ">", "<a", "</", "<!--", "-->", "<![", "```",
    "    ", "> ", "- ", "1. ", "q1", "\\begin{bmatrix}", "\\end{bmatrix}", "e^", "×10^",
    "print(", "tensor(", "softmax", "√", "│", "+---+", "<td>", "<tr>", "<table>",
]  # fmt: skip


@settings(max_examples=CASES, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    unit=st.lists(st.sampled_from(PIECES), min_size=1, max_size=12).map("".join),
    kind=st.sampled_from(["a.md", "a.txt", "a.html"]),
)
def test_readers_are_linear_on_repeated_pieces(unit, kind):
    repeats = max(1, 3000 // len(unit))
    prefix = "<html>" if kind == "a.html" else ""
    assert_linear(lambda n: prefix + unit * n, repeats, kind)
