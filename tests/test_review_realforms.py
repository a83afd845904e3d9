"""Forms met in real published articles that once gave false findings, each written here in
our own words: a number is reported wrong only with evidence."""

import numpy as np
import pytest

from qkv.review import check as review_check
from qkv.review.document import from_text


def _table(rows: np.ndarray) -> str:
    head = "| | a | b | c |\n|---|---|---|---|\n"
    body = "\n".join(
        "| " + name + " | " + " | ".join(f"{x:.3f}" for x in row) + " |"
        for name, row in zip("abc", rows, strict=True)
    )
    return head + body


def test_latex_thousands_are_one_number_not_a_wrong_result() -> None:
    # "262{,}144" is LaTeX's 262,144: the 262 before the {,} is no result of 512 x 512
    text = (
        "A projection with $d = 512$ has $512 \\times 512 = 262{,}144$ weights, "
        "and four of them have $4 \\times 262{,}144 = 1{,}048{,}576$.\n"
    )
    report = review_check.check(text, "sizes.md")
    assert not report.findings


def test_a_relative_position_bias_is_a_step_not_a_mistake() -> None:
    scores = np.array([[1.0, 0.5, 0.2], [0.3, 1.2, 0.4], [0.6, 0.1, 0.9]])
    bias = np.array([[0, -0.5, -1], [-0.5, 0, -0.5], [-1, -0.5, 0]])
    z = scores + bias
    weights = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    text = (
        f"# Scores with a bias\n\nScores QKᵀ:\n\n{_table(scores)}\n\n"
        "Each score gets the relative position bias of its distance (0, -0.5, -1) "
        f"before the softmax.\n\nAttention weights:\n\n{_table(weights)}\n"
    )
    report = review_check.check(text, "bias.md")
    assert not report.findings
    # the biased weights are right; without the bias they would be wrong, and the report
    # says why they were not checked
    assert any("bias" in s.text() for s in report.skipped)


def test_a_scale_stated_in_a_code_comment_is_read() -> None:
    doc = from_text(
        "```rust\nlet scale = 0.25; // d_k = 16, so the scores are divided by 4\n```\n", "kernel.md"
    )
    hints = review_check.text_hints(doc)
    assert "1/4" in hints.stated
    assert hints.scaled


def test_a_softmax_chain_is_checked_across_a_middle_link_it_cannot_read() -> None:
    # the middle vector of fractions is not read; its ends are still one claim
    wrong = (
        "$$\\alpha = \\text{softmax}([1.0, 0, 1.0]) = "
        "\\left[\\frac{e^{1}}{2e^{1}+1}, \\frac{1}{2e^{1}+1}, \\frac{e^{1}}{2e^{1}+1}\\right]"
        " \\approx [0.45, 0.10, 0.45]$$\n"
    )
    report = review_check.check(wrong, "softmax.md")
    assert [v.claim.text for f in report.findings for v in f.verdicts] == ["0.45", "0.10", "0.45"]
    right = wrong.replace("[0.45, 0.10, 0.45]", "[0.42, 0.16, 0.42]")
    assert not review_check.check(right, "softmax.md").findings
    # a list of equations is not one chain: "exp(1) = 2.718   2.718 / 4 = 0.68"
    listed = "exp(1.0) = 2.718          2.718 / 4.0 = 0.680\n"
    assert not review_check.check(listed, "listed.md").findings


def test_softmax_written_with_a_capital_is_the_same_function() -> None:
    wrong = "```\nSoftmax([2.0, 0.5, 0.5]) ≈ [0.5, 0.25, 0.25]  # a soft distribution\n```\n"
    report = review_check.check(wrong, "capital.md")
    assert [v.claim.text for f in report.findings for v in f.verdicts] == ["0.5", "0.25", "0.25"]
    right = "SoftMax([2.0, 0.5, 0.5]) = [0.69, 0.154, 0.154]\n"
    assert review_check.check(right, "capital.md").exit_code == 0


def _notebook(cells: list[tuple[str, str, str]]) -> str:
    """(kind, source, printed output) cells as a .ipynb document."""
    import json

    out = []
    for kind, source, printed in cells:
        cell = {"cell_type": kind, "metadata": {}, "source": source.splitlines(keepends=True)}
        if kind == "code":
            stream = {"output_type": "stream", "name": "stdout", "text": printed}
            cell |= {"execution_count": 1, "outputs": [stream] if printed else []}
        out.append(cell)
    return json.dumps({"cells": out, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def test_what_a_cell_printed_names_it_before_the_prose_above() -> None:
    x = np.array([[0.5, 1.0], [1.0, 0.25]])
    raw = x @ x.T
    printed = (
        f"tensor([[{raw[0, 0]:.4f}, {raw[0, 1]:.4f}],\n"
        f"        [{raw[1, 0]:.4f}, {raw[1, 1]:.4f}]])\n"
    )
    cells = [
        ("markdown", "Next the scores are divided by √d_k, and softmax gives the weights.", ""),
        ("code", f"x = torch.tensor({x.tolist()})\nprint(x @ x.T)\n", printed),
    ]
    # x @ x.T printed is the raw product, right as printed: not scores that forgot the scale
    report = review_check.check(_notebook(cells), "scores.ipynb")
    assert report.exit_code == 0 and report.checked == 4
    wrong = printed.replace(f"{raw[1, 1]:.4f}", f"{raw[1, 1] + 0.5:.4f}")
    report = review_check.check(_notebook([cells[0], (*cells[1][:2], wrong)]), "scores.ipynb")
    assert [v.claim.value for f in report.findings for v in f.verdicts] == [raw[1, 1] + 0.5]


def test_a_term_times_zero_left_out_still_links_the_operands_to_their_mistake() -> None:
    text = (
        "$$a = \\text{softmax}([1, 0, 1]) \\approx [0.45, 0.10, 0.45]$$\n\n"
        "$$o = 0.45 \\times 2 + 0.10 \\times 0 + 0.45 \\times 1 = 0.90 + 0.45 = 1.35$$\n"
    )
    report = review_check.check(text, "zero.md")
    assert [v.claim.text for f in report.findings for v in f.verdicts] == ["0.45", "0.10", "0.45"]
    follow = [v for f in report.findings for v in f.consequences]
    assert {v.line for v in follow} == {2} and "1.35" in {v.claim.text for v in follow}  # from 0


def test_an_inline_code_span_that_wraps_is_one_calculation() -> None:
    """Markdown lets `…` wrap onto the next line: its tail ("0*0 = 1") is no equation of its
    own (that read gave "written 1, true value 0" on this project's README)."""
    text = "Written out: `q · k = 1*1 + 0*1 +\n0*0 = 1` and `2 + 2 = 5`.\n"
    report = review_check.check(text, "wrapped.md")
    assert [(v.line, v.claim.text) for f in report.findings for v in f.verdicts] == [(1, "5")]


@pytest.mark.parametrize(
    "row",
    [
        "| {t} | [{w}] |",  # Markdown
        "{t}: [{w}]",  # plain text
        "  [{t}], [$[{w}]$],",  # Typst's table cells
    ],
)
def test_a_temperature_table_is_checked_row_by_row(row: str) -> None:
    """Scores stated once, then softmax(scores / T) for several temperatures T."""
    rows = [
        ("0.5", "0.976, 0.018, 0.007"),
        ("1", "0.821, 0.111, 0.067"),
        ("2", "0.604, 0.222, 0.173"),
    ]
    lines = [row.format(t=t, w=w) for t, w in rows]
    head = "Softmax of the scores s = [3.0, 1.0, 0.5] at three temperatures T:\n\n"
    table = "| T | weights |\n|---|---|\n" if row.startswith("|") else ""
    right = head + table + "\n".join(lines) + "\n"
    assert not review_check.check(right, "temperature.md").findings
    wrong = right.replace("0.821, 0.111, 0.067", "0.861, 0.111, 0.067")  # a slip at T = 1
    found = [
        v.claim.text
        for f in review_check.check(wrong, "temperature.md").findings
        for v in f.verdicts
    ]
    assert found == ["0.861"]
