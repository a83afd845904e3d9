"""Matrices drawn side by side (review/readers/layout.py): bracket rows and box segments, the
relations between them, sums written one under another, and LaTeX formulas that relate
matrices."""

from __future__ import annotations

from qkv.review.check import check
from qkv.review.document import from_text
from qkv.review.readers import layout


def findings(text: str, name: str = "a.md") -> list[tuple[int, str, float]]:
    report = check(text, name)
    out = []
    for f in report.findings:
        for v in [*f.verdicts, *f.consequences]:
            out.append((report.source_line(v.line), v.claim.text, round(v.true, 4)))
    return sorted(out)


PRODUCT = """\
Keys, input times W_K:

```
               [1, 0]
[1, 0, 2]      [0, 1]      [1, 4]
[0, 1, 1]  x   [0, 2]  =   [0, 3]
```
"""


def test_a_product_drawn_with_brackets_is_checked_row_by_row():
    doc = from_text(PRODUCT, "a.md")
    [drawing] = layout.read(doc, set())
    assert [g.width for g in drawing.grids] == [3, 2, 2]
    assert drawing.ops == ["×", "="]
    assert check(PRODUCT).exit_code == 0  # [1,0,2]·W = [1, 4]; [0,1,1]·W = [0, 3]
    wrong = PRODUCT.replace("[0, 3]", "[0, 4]")
    assert findings(wrong) == [(6, "4", 3.0)]


BOXES = """\
    Q  =  │ 1   0 │     K  =  │ 0   1 │
          │ 0   1 │           │ 1   2 │

    Step 3: divide by √2

          │ 0   1 │                │ 0.00   0.71 │
          │ 1   2 │  / 1.414  =    │ 0.71   1.51 │
"""


def test_boxes_with_names_and_a_division():
    doc = from_text(BOXES, "a.txt")
    drawings = layout.read(doc, set())
    names = [g.name for d in drawings for g in d.grids]
    assert names[:2] == ["Q", "K"]
    # 2 / 1.414 = 1.414…: 1.51 is wrong, the other three are right
    assert findings(BOXES, "a.txt") == [(7, "1.51", 1.4144)]


def test_rows_added_up_one_under_another():
    text = "```\n  [0.5, 0.0]\n+ [0.0, 2.0]\n+ [1.5, 1.5]\n------------\n= [2.0, 3.0]\n```\n"
    assert findings(text) == [(6, "3.0", 3.5)]
    assert check(text.replace("3.0]", "3.5]")).exit_code == 0


def test_a_calculation_written_out_is_no_drawing():
    text = "out = 0.5 × [1, 0] + 0.5 × [0, 2]\n    = [0.5, 0] + [0, 1.0]\n    = [0.5, 1.0]\n"
    assert layout.read(from_text(text, "a.md"), set()) == []
    assert check(text).exit_code == 0


LATEX = r"""
$$QK^T = \begin{pmatrix} 1 & 2 \\ 0 & 1 \end{pmatrix} \begin{pmatrix} 1 & 0 \\ 1 & 1 \end{pmatrix}
= \begin{pmatrix} 3 & 2 \\ 1 & 1 \end{pmatrix}$$

$$S' = \frac{1}{2} \begin{pmatrix} 3 & 2 \\ 1 & 1 \end{pmatrix}
= \begin{pmatrix} 1.5 & 1.0 \\ 0.5 & 0.5 \end{pmatrix}
\xrightarrow{\text{softmax}} \begin{pmatrix} 0.62 & 0.38 \\ 0.50 & 0.50 \end{pmatrix}$$
"""


def test_latex_formulas_relate_their_matrices():
    assert check(LATEX).exit_code == 0
    # softmax([1.5, 1.0]) = [0.622, 0.378]; a wrong weight is found where it is printed
    wrong = LATEX.replace("0.62 & 0.38", "0.66 & 0.34")
    assert findings(wrong) == [(7, "0.34", 0.3775), (7, "0.66", 0.6225)]
    # a wrong product is found in the product's result, and the rest follows from it
    product = LATEX.replace("= \\begin{pmatrix} 3 & 2", "= \\begin{pmatrix} 2 & 2")
    assert (3, "2", 3.0) in findings(product)
