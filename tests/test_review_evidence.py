"""Evidence before a finding (review/evidence.py, steps.py, copies.py): what is reported only
with evidence, what is left unchecked and why, and how a mistake is followed wherever the
article prints it again."""

from __future__ import annotations

from qkv.review.check import check


def findings(text: str, name: str = "a.md") -> list[tuple[int, str, float]]:
    report = check(text, name)
    return sorted(
        (report.source_line(v.line), v.claim.text, round(v.true, 4))
        for f in report.findings
        for v in [*f.verdicts, *f.consequences]
    )


def skipped(text: str) -> list[str]:
    return [s.why for s in check(text).skipped]


# --- steps the words state ------------------------------------------------------------------


def test_a_softmax_stated_between_two_vectors_is_checked():
    text = "scores:  [1.0, 2.0, 0.5]\n          ↓ softmax\nweights: [0.30, 0.55, 0.15]\n"
    # softmax([1.0, 2.0, 0.5]) = [0.231, 0.629, 0.140]
    assert findings(text) == [(3, "0.15", 0.1402), (3, "0.30", 0.2312), (3, "0.55", 0.6285)]


def test_scores_written_in_words_above_the_weights():
    text = "With scaling:\n  cat: 2.0   dog: 1.0   sun: 0.0\n  → softmax: [0.67, 0.24, 0.09]\n"
    assert check(text).exit_code == 0
    assert findings(text.replace("0.67, 0.24, 0.09", "0.60, 0.30, 0.10")) == [
        (3, "0.10", 0.09),
        (3, "0.30", 0.2447),
        (3, "0.60", 0.6652),
    ]


def test_no_step_where_another_temperature_explains_the_numbers():
    # [0.46, 0.31, 0.23] is softmax([2, 1.5, 1.2] / 2.5): a scale the text never states, so
    # the step "softmax" as written is not what was computed, and nothing is said
    text = "scores: [2.0, 1.5, 1.2]\n   ↓ softmax\nweights: [0.40, 0.32, 0.28]\n"
    assert check(text).findings == []


def test_a_temperature_the_text_states_is_the_scaling_left_out():
    text = (
        "Divide by √d_k ≈ 1.41 → [0.71, 1.41, 0.00]\n"
        "softmax → [0.24, 0.66, 0.10]\n"  # softmax of the unscaled [1, 2, 0]
    )
    # softmax([0.71, 1.41, 0]) = [0.270, 0.543, 0.187]
    assert [c for _, c, _ in findings(text)] == ["0.10", "0.24", "0.66"]


def test_no_step_across_a_mask():
    text = (
        "scores: [1.0, 2.0, 0.5]\n"
        "after masking the future key with -inf, softmax gives\n"
        "weights: [0.27, 0.73, 0.00]\n"
    )
    assert check(text).findings == []


# --- copies ---------------------------------------------------------------------------------


COPIES = """\
softmax([0.0, 1.0, 0.5]) = [0.30, 0.45, 0.25]

| | a | b | c |
|---|---|---|---|
| x | 0.30 | 0.45 | 0.25 |

It pays 45% to b (0.45), then 0.30 to a and 0.25 to c.

out = 0.30 × [1, 0] + 0.45 × [0, 1] + 0.25 × [1, 1]
    = [0.55, 0.70]
"""


def test_a_wrong_row_is_followed_wherever_it_is_printed_again():
    # the row's true values: softmax([0, 1, 0.5]) = [0.186, 0.506, 0.307]
    found = findings(COPIES)
    lines = sorted({line for line, _, _ in found})
    assert lines == [1, 5, 7, 9, 10]  # the root, the table, the sentence, the factors, the sum
    assert (5, "0.30", 0.1863) in found and (7, "0.45", 0.5065) in found
    assert (10, "0.55", 0.4935) in found  # 0.186 + 0.307, as the true row gives
    report = check(COPIES)
    assert report.exit_code == 1 and len(report.findings) == 3  # one per wrong number


def test_rows_of_zeros_and_the_wrong_row_of_another_matrix_are_no_copies():
    text = (
        "softmax([0, 0]) = [0.0, 0.0]\n\n"  # wrong (0.5, 0.5), but zeros repeat by chance
        "later: [0.0, 0.0]\n"
    )
    assert {line for line, _, _ in findings(text)} == {1}


# --- evidence -------------------------------------------------------------------------------


def test_a_printout_that_disagrees_throughout_is_misread_not_wrong():
    text = (
        "```python\nX = np.array([[1.0, 0.0], [0.0, 1.0]])\nw = softmax(X @ X.T)\nprint(w)\n```\n"
        "```\n[[0.5 0.5]\n [0.5 0.5]]\n```\n"
    )
    report = check(text)
    assert report.findings == [] and report.exit_code in (0, 3)


def test_a_fragment_mostly_wrong_under_a_reading_of_words_is_not_checked():
    text = "X = [[1, 0], [0, 1]]\n\nThe attention weights:\n\n[[0.10, 0.90],\n [0.90, 0.10]]\n"
    assert check(text).findings == []
    assert any("probably read as the wrong step" in why for why in skipped(text))


def test_named_inputs_and_result_are_evidence_enough():
    text = "Q = K = [[1,0],[0,1]] V = [[1,2],[3,4]] d_k = 2 → Output ≈ [[2.0, 3.0], [2.0, 3.0]]"
    # softmax(QKᵀ/√2)·V = [[1.66, 2.66], [2.34, 3.34]]: every number wrong, the names say what
    assert len(check(text).findings) == 4


def test_a_few_typos_in_a_printout_are_mistakes():
    text = (
        "```python\nX = np.array([[1.0, 0.0], [0.0, 1.0]])\nw = softmax(X @ X.T)\nprint(w)\n```\n"
        "```\n[[0.7311 0.2689]\n [0.2689 0.7131]]\n```\n"
    )
    assert [v.claim.text for f in check(text).findings for v in f.verdicts] == ["0.7131"]
