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


SIDE_BY_SIDE = """Three tokens, d_k = 2:

```
Q = [[1, 0],    K = [[1, 0],    V = [[2, 0, 1],
     [0, 1],         [0, 1],         [0, 2, 1],
     [1, 1]]         [1, 1]]         [1, 1, 0]]
```

Scaled by √2:

```
Scaled = [[0.71, 0.00, 0.71],
          [0.00, 0.71, 0.71],
          [0.71, 0.71, 1.41]]
```

Softmax:

```
Weights ≈ [[0.40, 0.20, 0.40],
           [0.20, 0.40, 0.40],
           [0.25, 0.25, 0.50]]
```

```
Output = Weights @ V
       ≈ [[1.20, 0.80, 0.60],
          [0.80, 1.20, 0.60],
          [1.00, 1.00, 0.50]]
```
"""


def test_named_lists_of_rows_side_by_side_are_three_matrices():
    """Q, K and V drawn as Python lists next to each other are read whole, so every step
    after them is checked; the output named on the line above its "≈" is the output."""
    report = check(SIDE_BY_SIDE, "a.md")
    roles = {f.label.split("=")[0].strip(): f.shape for f in report.fragments if "=" in f.label}
    assert roles["Q"] == roles["K"] == (3, 2) and roles["V"] == (3, 3)
    assert report.exit_code == 0 and report.checked == 27
    # one output entry wrong (0.198 + 0.401 = 0.60, not 0.70): found, with its true value
    wrong = SIDE_BY_SIDE.replace("[0.80, 1.20, 0.60]", "[0.80, 1.20, 0.70]")
    line = next(n for n, t in enumerate(wrong.splitlines(), 1) if "0.70]" in t)
    assert findings(wrong) == [(line, "0.70", 0.5989)]


def test_names_on_lines_one_under_another_are_not_one_matrix():
    text = "Q_a = [0.3, 0.1]\nK_a = [0.1, -0.1]\nK_b = [0.4, 0.2]\n"
    (f, *rest) = [f for f in check(text, "a.md").fragments]
    assert f.shape == (1, 2) and len(rest) == 2
