"""Arithmetic written out, checked link by link (review/equations.py): chains, continued lines,
terms written out, rounding, results after softmax(…) →, and what is not a result."""

from __future__ import annotations

import pytest

from qkv.review.check import check
from qkv.review.document import from_text
from qkv.review.equations import find


def found(text: str) -> list[tuple[str, list[str]]]:
    equations = find(from_text(text, "a.md"))
    return [(eq.left, [c.text for c in eq.fragment.cells[0]]) for eq in equations]


def wrong(text: str) -> list[tuple[int, str, float]]:
    """(1-based line, written, true) of every finding and every consequence."""
    report = check(text, "a.md")
    out = []
    for f in report.findings:
        for v in [*f.verdicts, *f.consequences]:
            out.append((report.source_line(v.line), v.claim.text, round(v.true, 4)))
    return sorted(out)


def test_a_chain_checks_its_result_against_the_link_before_it():
    # the vectors are operands of the dot product, never a result of their own
    text = "score = [2, 0, 1] · [1, 1, 0] = 2*1 + 0*1 + 1*0 = 2"
    assert found(text) == [("2*1 + 0*1 + 1*0", ["2"])]
    assert check(text).exit_code == 0


def test_a_wrong_dot_product_is_its_own_root():
    text = "Key 2 · Query 1 = 0.2×0.5 + 0.4×0.1 + 0.3×0.3 = 0.19\n"
    assert wrong(text) == [(1, "0.19", 0.23)]


def test_lines_that_start_with_equals_carry_the_calculation_on():
    text = "out = 0.4 × [1, 0] + 0.6 × [0, 2]\n    = [0.4, 0] + [0, 1.2]\n    = [0.4, 1.3]\n"
    # the terms of line 2 are each checked against the terms above them; the sum against them
    assert [right for _, right in found(text)] == [["0.4", "0"], ["0", "1.2"], ["0.4", "1.3"]]
    assert wrong(text) == [(3, "1.3", 1.2)]


def test_a_name_repeated_on_the_next_lines_is_one_calculation():
    text = "z = [0, 0.5] + [0.5, 0]\nz = [0 + 0.5, 0.5 + 0]\nz = [0.5, 0.5]\n"
    assert check(text).exit_code == 0
    assert [v for _, v in found(text)][-1] == ["0.5", "0.5"]


def test_a_number_rounded_again_is_checked_against_what_was_computed():
    text = "- w₁ = 2.72/4.42 = 0.615 ≈ 0.7 (70%)\n"
    # 0.615 rounds to 0.6, not 0.7; the remark (70%) is no more arithmetic
    assert wrong(text) == [(1, "0.7", 0.6154)]


def test_softmax_of_a_vector_and_its_arrow_on_the_next_line():
    text = "softmax([1.0/2, 0.5/2, 0])\n   → [0.42, 0.33, 0.25]\n"
    assert found(text) == [("softmax([1.0/2, 0.5/2, 0])", ["0.42", "0.33", "0.25"])]
    assert check(text).exit_code == 0
    # softmax([2, 1, 0]) = [0.665, 0.245, 0.090]: 0.24 is right at two decimals
    assert wrong("softmax([2, 1, 0]) ≈ [0.71, 0.24, 0.05]    (sums to 1)") == [
        (1, "0.05", 0.09),
        (1, "0.71", 0.6652),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "For N=512:   512×512 = 262,144 entries per head",  # a thousands separator
        "4096×4096 = 16M entries",  # a size with its unit
        "x = 2",  # a definition
        "d_k = 64, so √d_k = 8",
    ],
)
def test_what_is_no_wrong_result(text):
    assert check(text).findings == []


def test_markup_around_arithmetic_is_read_through():
    text = "so row 1 becomes (2.0, 1, 2.0)/5.0 = **(0.4, 0.2, 0.4)**"
    assert found(text) == [("(2.0, 1, 2.0)/5.0", ["0.4", "0.2", "0.4"])]
    assert check(text).exit_code == 0


def test_a_product_of_a_wrong_weight_is_a_consequence_with_its_true_value():
    text = (
        "softmax([3, 1]) = [0.90, 0.10]\n\n"  # true [0.881, 0.119]: a mistake
        "weighted: 0.90 * [2, 4] = [1.80, 3.60]\n"  # right from 0.90, wrong from 0.881
    )
    report = check(text)
    assert [f.verdicts[0].claim.text for f in report.findings] == ["0.90", "0.10"]
    consequences = [c for f in report.findings for c in f.consequences]
    # the factor repeats the wrong weight: it is wrong as the weight is
    assert [c.claim.text for c in consequences] == ["0.90", "1.80", "3.60"]
    assert [round(c.true, 3) for c in consequences] == [0.881, 1.762, 3.523]


def test_a_result_computed_from_the_true_value_of_a_mistyped_input_is_right():
    text = (
        "The input X:\n\n"
        "| | a | b |\n|---|---|---|\n| I | 1 | 0 |\n| you | 0 | 1 |\n\n"
        "Scores X·Xᵀ (no scaling):\n\n"
        "| | I | you |\n|---|---|---|\n| I | 3 | 0 |\n| you | 0 | 1 |\n\n"
        "Softmax over each row gives the attention weights:\n\n"
        "| | I | you |\n|---|---|---|\n| I | 0.73 | 0.27 |\n| you | 0.27 | 0.73 |\n"
    )
    # the score 3 is a typo (1·1 + 0·0 = 1); the weights follow from the true score 1
    assert [f.verdicts[0].claim.text for f in check(text).findings] == ["3"]


def test_an_exponent_is_not_traced_to_a_wrong_score_when_right_ones_print_it_too():
    """ "e^1" after the right scores 1 and 1 and a wrong 1: which score it is taken of is
    not known, so the exponentials are judged as written (they are right)."""
    text = (
        "q1 . k1 = [1, 0, 0] . [1, 1, 0] = 1*1 + 0*1 + 0*0 = 1\n"
        "q1 . k2 = [1, 0, 0] . [0, 1, 1] = 1*0 + 0*1 + 0*1 = 1\n"  # true 0
        "q1 . k3 = [1, 0, 0] . [1, 0, 1] = 1*1 + 0*0 + 0*1 = 1\n\n"
        "Exponentials: e^1 = 2.72, e^0 = 1.00, e^1 = 2.72. Sum = 6.44.\n"
    )
    assert wrong(text) == [(2, "1", 0.0)]


def test_a_matrix_worked_from_a_rounded_scale_is_read_whole():
    """[[1/1.4, 0], [0, 1/1.4]] = [[0.714, 0], [0, 0.714]]: off from 1/√2 only by the
    rounding of √2 the text states, entry by entry of the matrix."""
    text = (
        "Q = [[1, 0], [0, 1]]\nK = [[1, 0], [0, 1]]\n\nScale by √2 ≈ 1.4:\n\n"
        "scores = [[1/1.4, 0], [0, 1/1.4]] = [[0.714, 0], [0, 0.714]]\n"
    )
    report = check(text)
    assert report.exit_code == 0 and report.checked == 5


CHAIN = """score₁ = [1, 0] · [0.55, 0.45] = 0.65
score₂ = [1, 0] · [0.2, 0.8] = 0.2

Scaled by √2 = 1.414:
score₁' = 0.65 / 1.414 = 0.460
score₂' = 0.2 / 1.414 = 0.141

exp(0.460) = 1.584
exp(0.141) = 1.151
Sum = 2.735

w₁ = 1.584 / 2.735 = 0.579
w₂ = 1.151 / 2.735 = 0.421
"""


def test_a_wrong_score_is_followed_through_divisions_exponentials_and_a_stated_sum():
    """0.65 should be 0.55: every number computed from it, the operands that repeat it and
    the "Sum =" of the exponentials above it are consequences, with their true values; what
    does not use it (score₂, its exponential) stays right."""
    assert wrong(CHAIN) == [
        (1, "0.65", 0.55),
        (5, "0.460", 0.389),
        (5, "0.65", 0.55),
        (8, "0.460", 0.389),
        (8, "1.584", 1.4755),
        (10, "2.735", 2.6265),
        (12, "0.579", 0.5618),
        (12, "1.584", 1.4755),
        (12, "2.735", 2.6265),
        (13, "0.421", 0.4382),
        (13, "2.735", 2.6265),
    ]


def test_a_short_number_is_not_traced_among_other_factors():
    """ "0.6 / 1.414" after a wrong 0.6: one significant digit is too common to say which
    number it repeats, so the division is judged as written."""
    text = CHAIN.replace("0.55, 0.45", "0.5, 0.5").replace("0.65", "0.6")
    for written, right in [("0.460", "0.424"), ("1.584", "1.528"), ("2.735", "2.679")]:
        text = text.replace(written, right)
    text = text.replace("0.579", "0.570").replace("0.421", "0.430")
    assert wrong(text) == [(1, "0.6", 0.5)]


def test_a_sum_with_an_operand_from_nowhere_takes_no_true_value_from_half_its_operands():
    """In "0.13 + 1.74" the 0.13 repeats a wrong weight, but 1.74 (0.87·2) was never printed:
    a true value from the weight alone would be no true value, so none is claimed."""
    text = (
        "softmax([0, 2]) = [0.13, 0.87]\n\n"  # truly [0.1192, 0.8808]
        "y = 0.13*[1, 1] + 0.87*[0, 2]\n"
        "  = [0.13 + 0, 0.13 + 1.74]\n"
        "  = [0.13, 1.87]\n"
    )
    truth = {"0.13": 0.1192, "1.74": 1.7616, "1.87": 1.8808}
    reported = [w for w in wrong(text) if w[0] >= 4]
    assert all(abs(true - truth[written]) < 1e-3 for _, written, true in reported), reported
