"""qkv check: the notations it reads, what it decides, its exit codes and reports."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qkv.cli.main import main
from qkv.errors import InputError
from qkv.review.check import check
from qkv.review.document import from_text
from qkv.review.numbers import parse_claim
from qkv.review.readers import read_all
from qkv.review.report import lines, to_dict

ARTICLES = Path(__file__).parent / "articles"


def wrong(text: str, name: str = "article.md") -> dict[str, list[tuple[int, str]]]:
    """{"roots": [(line, written)], "consequences": [...]} of an article."""
    d = to_dict(check(text, name))
    roots = []
    for f in d["findings"]:
        roots += [
            (n["line"], n["claimed"]) for n in ([f] if f["kind"] == "mismatch" else f["numbers"])
        ]
    return {"roots": roots, "consequences": [(c["line"], c["claimed"]) for c in d["consequences"]]}


def fragments(text: str, name: str = "a.md") -> list[tuple[int, tuple[int, int], list[list[str]]]]:
    """(source line, shape, written numbers) of every fragment the readers find."""
    doc = from_text(text, name)
    found, _, _ = read_all(doc)
    return [
        (doc.lines[f.line].source_line, f.shape, [[c.text for c in r] for r in f.cells])
        for f in found
        if f.kind != "equation"
    ]


# --- the four small inputs of the issue, each a different failure of the first checker ----


def test_numpy_print_across_lines_is_read_and_right():
    text = "X =\n\n[[1, 0],\n [0, 1]]\n\nweights =\n\n[[0.6698, 0.3302],\n [0.3302, 0.6698]]\n"
    report = check(text)  # softmax(X·Xᵀ/√2)
    assert report.exit_code == 0 and report.checked == 4


def test_several_matrices_on_one_line():
    text = "Q = K = [[1,0],[0,1]] V = [[1,2],[3,4]] d_k = 2 → Output ≈ [[9.99, 9.99], [9.99, 9.99]]"
    report = check(text)
    assert report.exit_code == 1
    w = np.exp(np.array([[1, 0], [0, 1]]) / np.sqrt(2))
    expected = (w / w.sum(1, keepdims=True)) @ np.array([[1, 2], [3, 4]])  # softmax(QKᵀ/√2)·V
    true = sorted(f.verdicts[0].true for f in report.findings)
    np.testing.assert_allclose(true, sorted(expected.ravel()), rtol=1e-12)


def test_labelled_vectors_in_bullets():
    text = (
        "- `q1 = [1, 0]`\n- `k1 = [1, 0]`, `k2 = [0, 1]`\nscores = [1, 0]; softmax = [0.9, 0.1]\n"
    )
    report = check(text)
    assert report.exit_code == 1
    found = {(f.verdicts[0].claim.text, round(f.verdicts[0].true, 3)) for f in report.findings}
    assert found == {("0.9", 0.731), ("0.1", 0.269)}
    assert [f.verdicts[0].claim.rounded(f.verdicts[0].true) for f in report.findings] == [
        "0.7",
        "0.3",
    ]


def test_one_decimal_softmax_has_exactly_one_wrong_number():
    text = (
        "X =\n\n[[1, 0, 1, 0],\n [0, 2, 0, 2],\n [1, 1, 1, 1]]\n\n"
        "softmax(X Xᵀ) =\n\n[[0.5, 0.1, 0.5],\n [0.0, 1.0, 0.0],\n [0.0, 0.5, 0.5]]\n"
    )
    report = check(text)
    [finding] = report.findings
    v = finding.verdicts[0]
    assert (v.r, v.c, v.claim.text) == (2, 0, "0.0")
    assert v.true == pytest.approx(0.0634, abs=1e-4) and v.claim.rounded(v.true) == "0.1"


# --- root mistakes and their consequences ---------------------------------------------------

ILLUSTRATED = """\
Input 1: [1, 0, 1, 0]
Input 2: [0, 2, 0, 2]
Input 3: [1, 1, 1, 1]

Weights for key:

[[0, 0, 1], [1, 1, 0], [0, 1, 0], [1, 1, 0]]

Weights for query:

[[1, 0, 1], [1, 0, 0], [0, 0, 1], [0, 1, 1]]

Weights for value:

[[0, 2, 0], [0, 3, 0], [1, 0, 3], [1, 1, 0]]

Attention scores for input 1: [2, 4, 4]

Softmax, rounded: softmax([2, 4, 4]) = [0.0, 0.5, 0.5]

Multiply each value by its weight:

0.0 * [1, 2, 3] = [0.0, 0.0, 0.0]
0.5 * [2, 8, 0] = [1.0, 4.0, 0.0]
0.5 * [2, 6, 3] = [1.0, 3.0, 1.5]

Sum them up to get output 1:

[0.0, 0.0, 0.0] + [1.0, 4.0, 0.0] + [1.0, 3.0, 1.5] = [2.0, 7.0, 1.5]
"""


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


def test_a_rounded_softmax_is_one_mistake_and_what_follows_from_it():
    found = wrong(ILLUSTRATED)
    softmax, weighted = line_of(ILLUSTRATED, "softmax(["), line_of(ILLUSTRATED, "0.0 * [1")
    total = line_of(ILLUSTRATED, "+ [1.0, 3.0, 1.5] =")
    assert found["roots"] == [(softmax, "0.0")]  # softmax([2, 4, 4]) = [0.0634, 0.468, 0.468]
    # 0.0 · [1, 2, 3] (its factor, a copy of the 0.0, too) and the sum follow from the 0.0;
    # 0.5 · [2, 8, 0] follows from a 0.5 that is right at one decimal: a correctly carried
    # rounding, not a mistake
    assert sorted(found["consequences"]) == [(weighted, "0.0")] * 4 + [
        (total, "1.5"),
        (total, "2.0"),
        (total, "7.0"),
    ]


def test_a_wrong_step_that_is_copied_on_is_one_mistake():
    text = (
        "X = [[1, 2], [2, 1]]\n\nScores X·Xᵀ (no scaling):\n\n"
        "[[6, 4], [4, 5]]\n\nSoftmax of the scores:\n\n[[0.881, 0.119], [0.269, 0.731]]\n"
    )
    found = wrong(text)  # the true scores are [[5, 4], [4, 5]]
    assert found["roots"] == [(5, "6")]
    assert sorted(found["consequences"]) == [(9, "0.119"), (9, "0.881")]


def test_a_result_computed_from_rounded_numbers_is_right():
    text = (
        "X = [[1, 0], [0, 1], [1, 1]]\n\nWeights, softmax of X·Xᵀ without scaling, rounded:\n\n"
        "[[0.42, 0.16, 0.42], [0.16, 0.42, 0.42], [0.21, 0.21, 0.58]]\n\n"
        "Output = weights times X:\n\n[[0.84, 0.58], [0.58, 0.84], [0.79, 0.79]]\n"
    )
    # 0.42 + 0.42 = 0.84, while the exact output is 0.844: right for the numbers printed
    assert check(text).exit_code == 0


def test_one_convention_for_a_whole_example():
    """Scaled scores printed, weights computed without the scaling: the weights are the
    mistake (once), the output follows from them; no matrix is judged unscaled alone."""
    report = check((ARTICLES / "en_scale_forgotten.md").read_text(encoding="utf-8"))
    [finding] = report.findings
    assert finding.kind == "scale_forgotten" and len(finding.consequences) == 12
    assert {j.convention.scale for j in report.judgements if j.verdicts} == {"sqrt"}


def test_words_name_what_shapes_cannot():
    """A 4×3 W_Q is a projection, not Xᵀ; projections are applied where they are printed."""
    text = (
        "X = [[1, 0, 1, 0], [0, 2, 0, 2], [1, 1, 1, 1]]\n\n"
        "W_Q = [[1, 0, 1], [1, 0, 0], [0, 0, 1], [0, 1, 1]]\n"
        "W_K = [[0, 0, 1], [1, 1, 0], [0, 1, 0], [1, 1, 0]]\n"
        "W_V = [[0, 2, 0], [0, 3, 0], [1, 0, 3], [1, 1, 0]]\n\n"
        "Q = XW_Q = [[1, 0, 2], [2, 2, 2], [2, 1, 3]]\n"
        "Scores QKᵀ (unscaled) = [[2, 4, 4], [4, 16, 12], [4, 12, 10]]\n"
    )
    report = check(text)
    assert report.exit_code == 0 and report.checked == 18
    roles = [p.role for e in report.examples for p in e.placements]
    assert roles.count("wq") == 1 and "xt" not in roles


# --- notations -------------------------------------------------------------------------------


def test_numpy_and_torch_prints():
    text = (
        "```\n[[1.  0.  1.  0. ]\n [0.  2.  0.  2. ]]\n```\n\n"
        "tensor([[0.0634, 0.4683, 0.4683]], grad_fn=<SoftmaxBackward0>)\n\n"
        "array([1.2e-01, 3.4e-01])\n\n"
        "tensor([[[1., 0.],\n         [0., 1.]]])\n"
    )
    got = [(shape, cells) for _, shape, cells in fragments(text)]
    assert got == [
        ((2, 4), [["1.", "0.", "1.", "0."], ["0.", "2.", "0.", "2."]]),
        ((1, 3), [["0.0634", "0.4683", "0.4683"]]),
        ((1, 2), [["1.2e-01", "3.4e-01"]]),
        ((2, 2), [["1.", "0."], ["0.", "1."]]),  # a batch of one: the matrix inside
    ]


def test_grid_and_box_tables():
    text = (
        "+---+---+\n| 1 | 2 |\n+===+===+\n| 3 | 4 |\n+---+---+\n\n"
        "┌───┬───┐\n│ 5 │ 6 │\n├───┼───┤\n│ 7 │ 8 │\n└───┴───┘\n"
    )
    assert [cells for _, _, cells in fragments(text)] == [
        [["1", "2"], ["3", "4"]],
        [["5", "6"], ["7", "8"]],
    ]


def test_latex_matrices_in_every_math_delimiter():
    text = (
        "$$X = \\begin{bmatrix} 1 & 0 \\\\ 0 & 1 \\end{bmatrix}$$\n"
        "\\[ A = \\begin{pmatrix} 0.5 & 0.5 \\end{pmatrix} \\]\n"
        "inline $v = \\begin{vmatrix} 2 & 3 \\end{vmatrix}$ and\n"
        "\\left[\\begin{array}{cc} \\text{} & \\text{a} \\\\ \\text{a} & 1.5 \\end{array}\\right]\n"
    )
    got = [(line, cells) for line, _, cells in fragments(text)]
    assert got == [
        (1, [["1", "0"], ["0", "1"]]),
        (2, [["0.5", "0.5"]]),
        (3, [["2", "3"]]),
        (4, [["1.5"]]),
    ]


def test_code_comments_and_several_vectors_on_a_line():
    text = (
        "```python\nout = weights @ v\n# [[1.9366 6.6831]\n#  [2.     7.964 ]]\n```\n"
        "Queries: [1, 0, 2], [2, 2, 2], [2, 1, 3]\n"
    )
    got = [(line, shape) for line, shape, _ in fragments(text)]
    assert got == [(3, (2, 2)), (6, (1, 3)), (6, (1, 3)), (6, (1, 3))]


def test_notebook_cells_and_outputs_point_at_the_file(tmp_path):
    nb = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ["Inputs X:"]},
            {
                "cell_type": "code",
                "execution_count": 1,
                "metadata": {},
                "outputs": [
                    {
                        "output_type": "stream",
                        "name": "stdout",
                        "text": ["[[0.7311, 0.2689],\n", " [0.2689, 0.7131]]\n"],
                    }
                ],
                "source": [
                    "X = np.array([[1, 0], [0, 1]])\n",
                    "weights = softmax(X @ X.T)\n",
                    "print(weights)",
                ],
            },
        ],
    }
    raw = json.dumps(nb, indent=1)
    report = check(raw, "attention.ipynb")
    # softmax([0, 1]) = [0.2689, 0.7311]: 0.7131 is a typo in the printout
    [finding] = report.findings
    line = report.source_line(finding.line)
    assert finding.verdicts[0].claim.text == "0.7131"
    assert "[0.2689, 0.7131]]" in raw.splitlines()[line - 1]
    assert "output of cell 2" in report.doc.where(finding.line)


def test_html_tables_pre_blocks_and_labels_are_read():
    page = (
        "<!DOCTYPE html><html><head><script>var a = [[9, 9]];</script></head><body>\n"
        "<p>Our input X:</p>\n<table><tr><td>1</td><td>0</td></tr>\n"
        "<tr><td>0</td><td>1</td></tr></table>\n"
        "<p>Softmax of the scaled scores gives the weights:</p>\n"
        "<pre>\n[[0.6698, 0.3302],\n [0.3302, 0.6698]]\n</pre></body></html>\n"
    )
    report = check(page, "page.html")
    assert report.exit_code == 0 and report.checked == 4
    assert [report.source_line(f.line) for f in report.fragments] == [3, 7]  # not the script


def test_written_out_arithmetic_is_checked():
    text = (
        "1·1 + 2·2 + 1·1 = 7\n\n$$\\frac{e^{2}}{e^{2} + e^{4} + e^{4}} = 0.063$$\n\n112 / 8 = 14\n"
    )
    report = check(text)
    assert [(report.source_line(f.line), f.verdicts[0].claim.text) for f in report.findings] == [
        (1, "7")
    ]
    assert report.checked == 3


# --- precision ---------------------------------------------------------------------------------


def test_written_precision():
    c = parse_claim("0.064")
    assert c.consistent(0.0644) and not c.consistent(0.06337)
    assert c.rounded(0.06337) == "0.063"
    e = parse_claim("9.05E-04")
    assert e.consistent(9.0496e-4) and not e.consistent(9.06e-4)
    assert parse_claim("−∞").masked and parse_claim("-\\infty").masked
    assert parse_claim("2").consistent(1.6) and not parse_claim("2").consistent(2.6)
    assert parse_claim("−0.5").value == -0.5
    assert parse_claim("“笔”") is None


def test_integers_among_decimals_are_judged_at_the_matrix_precision():
    report = check(
        "X = [[1, 0], [0, 1]]\n\nOutput, weights times X (unscaled):\n\n[[0.73, 0], [0.27, 1]]\n"
    )
    # the true output is [[0.731, 0.269], [0.269, 0.731]]: "0" and "1" written among two
    # decimals claim 0.00 and 1.00, so both are wrong (alone they would claim 0 ± 0.5, 1 ± 0.5)
    texts = sorted(f.verdicts[0].claim.text for f in report.findings)
    assert texts == ["0", "1"]


# --- exit codes and reports --------------------------------------------------------------------


def _run(capsys, *args):
    code = main(["check", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "name, exit_code",
    [("en_tables_ok.md", 0), ("en_tables_errors.md", 1), ("en14_intuition_prose_only.md", 3)],
)
def test_exit_codes_and_complete_json(capsys, name, exit_code):
    code, out, _ = _run(capsys, str(ARTICLES / name), "--format", "json")
    data = json.loads(out)
    assert code == exit_code == data["exit"] and data["schema"] == "qkv.check/2"
    for key in ("checked", "wrong", "examples", "fragments", "findings", "consequences", "skipped"):
        assert key in data
    if exit_code == 1:
        first = data["findings"][0]
        assert {"line", "where", "fragment", "claimed", "expected", "expected_rounded"} <= set(
            first
        )
        assert data["examples"][0]["convention"]["scale"] == "sqrt"


def test_unreadable_file_exits_2_with_json_too(tmp_path, capsys):
    f = tmp_path / "a.md"
    f.write_bytes(b"\x00\x01\x02binary")
    code, out, err = _run(capsys, str(f), "--format", "json")
    assert code == 2 and json.loads(out) == {
        "schema": "qkv.check/2",
        "file": str(f),
        "exit": 2,
        "error": f"article {f} is a binary file, not text",
    }
    assert err.count("\n") == 1


def test_nothing_checked_says_what_was_seen(capsys):
    code, out, _ = _run(capsys, str(ARTICLES / "en15_exercise_inputs_only.ipynb"), "--lang", "en")
    assert code == 3 and "Nothing could be checked" in out and "input" in out


def test_human_reports(capsys):
    code, out, _ = _run(capsys, str(ARTICLES / "zh_plain_tables.txt"), "--lang", "zh")
    assert code == 1 and "0.71" in out and "0.468" in out
    code, out, _ = _run(
        capsys, str(ARTICLES / "en_scale_forgotten.md"), "--lang", "en", "--format", "markdown"
    )
    assert code == 1 and "scaling was left out" in out and "follow from it" in out


def test_text_report_lists_consequences_under_their_mistake():
    out = lines(check(ILLUSTRATED), "en")
    softmax, weighted = line_of(ILLUSTRATED, "softmax(["), line_of(ILLUSTRATED, "0.0 * [1")
    total = line_of(ILLUSTRATED, "+ [1.0, 3.0, 1.5] =")
    assert out[0].startswith(f"line {softmax}, entry 1: written 0.0, true value 0.0634")
    assert out[1].strip() == f"7 number(s) that follow from it: lines {weighted}, {total}"


def test_stdin(capsys, monkeypatch):
    import io
    import sys

    data = (ARTICLES / "en_tables_ok.md").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    code, _, _ = _run(capsys, "-", "--format", "json")
    assert code == 0


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\x00\x01\x02\x03binary", "binary"),
        ("\xff\xfe garbage".encode("latin-1"), "not UTF-8"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, content, message):
    f = tmp_path / "article.md"
    f.write_bytes(content)
    code, out, err = _run(capsys, str(f))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err


def test_unreadable_fragments_are_skipped_with_a_note():
    report = check("| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 | 5 |\n\nX = [[1, 0], [0, 1]]\n")
    assert report.exit_code == 3
    assert any("3 cells, not 2" in s.why for s in report.skipped)


# --- no crash, no hang ---------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list("0123456789.-−|[],\n ~:-$\\{}&^XTabe∞=+*·/()"))
        | st.characters(),
        max_size=300,
    )
)
def test_checker_never_crashes(text):
    try:
        report = check(text)
    except InputError as e:
        assert "\n" not in str(e)
    else:
        assert report.exit_code in (0, 1, 3)


_piece = st.sampled_from(
    [
        "| 1 | 2 |",
        "|---|---|",
        "[1, 2]",
        "[0.5, −∞]",
        "\\begin{bmatrix} 1 & 2 \\\\ 3 & 4 \\end{bmatrix}",
        "X =",
        "softmax(XX^T):",
        "weights = [0.5, 0.5]",
        "q1 · k1 = 1·1 + 0·2 = 1",
        "$$",
        "```",
        "",
        "9.05E-04 | 1e400 | nan |",
        "[[1, 2], [3, 4]]",
        "tensor([[0.5, 0.5]], grad_fn=<SoftmaxBackward0>)",
        "\\end{pmatrix}",
        "e^1 / (e^1 + e^0) = 0.73",
        "┌─┬─┐",
        # the forms added for articles people publish
        "0.5 0.3 0.2",
        "      I  like\nI  0.5  0.5",
        "0,1,2",
        ">>> w",
        "...   [0., 1.]])",
        "α_{12} = 0.5, q2·k1 = 5",
        "W_Q = P.sum(axis=1) =",
        "encoder outputs: H = [[1, 2], [3, 4]]",
        "head1(x₁) = (1, 2)",
        "print(a, b, sep='\\n')",
        "| 行 | W^Q 第1列 | W^K 第1列 |",
        "    [[1. 0.]",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_piece, max_size=25), st.sampled_from(["a.md", "a.txt", "a.html"]))
def test_checker_never_crashes_on_article_like_text(pieces, name):
    try:
        check("\n".join(pieces), name)
    except InputError as e:
        assert "\n" not in str(e)


@pytest.mark.parametrize(
    "text",
    [
        "\n".join("| 1 | 2 |\n|---|---|\n| 3 | 4 |\n" for _ in range(3100)),
        " ".join("[[1, 2], [3, 4]]" for _ in range(3100)),
        "\n".join(f"$\\begin{{pmatrix}}{k} & 1\\end{{pmatrix}}$" for k in range(3100)),
        "| " + " | ".join(["1"] * 60_000) + " |",
    ],
    ids=["tables", "arrays", "latex", "cells"],
)
def test_far_more_matrices_than_any_example_are_refused_before_reading(text):
    with pytest.raises(InputError, match="split it into smaller files"):
        check(text)


@pytest.mark.parametrize("form", ["gfm", "latex", "array"])
def test_a_matrix_larger_than_any_worked_example_is_skipped_with_a_note(form):
    rows = [[str((i * 7 + j) % 10) for j in range(3)] for i in range(300)]
    body = {
        "gfm": "| a | b | c |\n|---|---|---|\n"
        + "\n".join("| " + " | ".join(r) + " |" for r in rows),
        "latex": "$$X = \\begin{bmatrix}"
        + "\\\\\n".join(" & ".join(r) for r in rows)
        + "\\end{bmatrix}$$",
        "array": "X = [" + ",\n".join("[" + ", ".join(r) + "]" for r in rows) + "]",
    }[form]
    report = check("The input X:\n\n" + body + "\n\nscores = [[1, 0], [0, 1]]\n")
    assert any("larger than qkv check recomputes" in s.why for s in report.skipped)
    assert report.exit_code == 3  # nothing left to check: the scores have no input


def test_a_check_past_its_time_budget_stops_with_a_clear_error():
    seed = (Path(__file__).parent / "articles").glob("*.md")
    text = next(iter(sorted(seed))).read_text(encoding="utf-8")
    with pytest.raises(InputError, match="too complex to check"):
        check(text, seconds=0.0)
