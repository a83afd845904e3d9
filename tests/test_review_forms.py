"""qkv check on the forms worked examples take beyond bracketed matrices: pandas and CSV
printouts, plain-text rows, interactive sessions, entries named by their indices, row sums,
padding masks, several heads, and the same inputs computed twice. Every article is generated
from numbers computed here, so a test fails if the checker misreads any of them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qkv.review.check import check
from qkv.review.report import to_dict


def softmax(s: np.ndarray) -> np.ndarray:
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def flagged(text: str, name: str) -> tuple[int, list[tuple[int, str]], list[tuple[int, str]]]:
    """(exit code, roots as (line, written), consequences as (line, written))."""
    d = to_dict(check(text, name))
    roots = []
    for f in d["findings"]:
        roots += [
            (n["line"], n["claimed"]) for n in ([f] if f["kind"] == "mismatch" else f["numbers"])
        ]
    return d["exit"], roots, [(c["line"], c["claimed"]) for c in d["consequences"]]


def rows(m: np.ndarray, fmt: str, sep: str = "  ", labels: list[str] | None = None) -> list[str]:
    out = []
    for i, row in enumerate(m):
        cells = sep.join(format(v, fmt) for v in row)
        out.append(f"{labels[i]:<6}{cells}" if labels else cells)
    return out


X = np.array([[1.0, 0.0, 1.0], [0.0, 2.0, 1.0], [1.0, 1.0, 0.0]])
TOKENS = ["I", "like", "tea"]


def notebook(cells: list[tuple[str, str, str | None]]) -> str:
    """A notebook from (cell type, source, text/plain output or None)."""
    out = []
    for kind, source, shown in cells:
        cell: dict[str, object] = {
            "cell_type": kind,
            "metadata": {},
            "source": source.splitlines(True),
        }
        if kind == "code":
            cell["execution_count"] = len(out) + 1
            cell["outputs"] = (
                []
                if shown is None
                else [
                    {
                        "output_type": "execute_result",
                        "execution_count": len(out) + 1,
                        "metadata": {},
                        "data": {"text/plain": shown.splitlines(True), "text/html": ["<table/>"]},
                    }
                ]
            )
        out.append(cell)
    return json.dumps({"cells": out, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, indent=1)


def frame(m: np.ndarray, index: list[str], columns: list[str]) -> str:
    """What pandas prints for a DataFrame at 4 decimals."""
    head = " " * 6 + "".join(f"{c:>8}" for c in columns)
    return "\n".join(
        [head] + [f"{index[i]:<6}" + "".join(f"{v:8.4f}" for v in row) for i, row in enumerate(m)]
    )


@pytest.mark.parametrize("plant", [None, (1, 2)])
def test_pandas_frames_in_a_notebook_with_an_unrelated_log(plant):
    scores = X @ X.T / np.sqrt(3)
    weights = softmax(scores)
    shown = weights.copy()
    if plant:
        shown[plant] += 0.05
    log = "\n".join(
        ["   epoch  loss     acc", "0      1  1.9832  0.3420", "1      2  1.5127  0.4875"]
    )
    nb = notebook(
        [
            ("markdown", "Self-attention with Q = K = V = X, scaled by 1/√3.", None),
            ("code", "X = np.array([[1.0, 0.0, 1.0], [0.0, 2.0, 1.0], [1.0, 1.0, 0.0]])", None),
            (
                "code",
                "scores = X @ X.T / np.sqrt(3)\npd.DataFrame(scores, index=t, columns=t)",
                frame(scores, TOKENS, TOKENS),
            ),
            (
                "code",
                "weights = softmax(scores)\npd.DataFrame(weights, index=t, columns=t)",
                frame(shown, TOKENS, TOKENS),
            ),
            ("code", "pd.read_csv('train_log.csv')", log),
        ]
    )
    code, roots, _consequences = flagged(nb, "frames.ipynb")
    if plant is None:
        assert code == 0
        assert to_dict(check(nb, "frames.ipynb"))["checked"] == 18
    else:
        assert code == 1 and [r[1] for r in roots] == [f"{shown[plant]:.4f}"]


def test_csv_weights_and_their_row_sums_printed_by_numpy():
    weights = softmax(X @ X.T / np.sqrt(3))
    typed = np.round(weights, 4)
    typed[1, 2] = round(typed[1, 2] + 0.003, 4)  # a slip while typing the file
    csv = "\n".join(",".join(f"{v:.4f}" for v in row) for row in typed)
    sums = typed.sum(1)
    nb = notebook(
        [
            (
                "code",
                "X = np.array([[1., 0., 1.], [0., 2., 1.], [1., 1., 0.]])\n"
                "S = X @ X.T / np.sqrt(3)",
                None,
            ),
            ("code", "!cat attn.csv", csv),
            (
                "code",
                "W = np.loadtxt('attn.csv', delimiter=',')\nW.sum(axis=1)",
                "array([" + ", ".join(f"{s:.4f}" for s in sums) + "])",
            ),
        ]
    )
    code, roots, consequences = flagged(nb, "csv.ipynb")
    assert code == 1
    assert [r[1] for r in roots] == [f"{typed[1, 2]:.4f}"]
    assert [c[1] for c in consequences] == [f"{sums[1]:.4f}"]  # only the row with the slip


def test_plain_text_rows_with_token_labels():
    weights = softmax(X @ X.T)
    wrong = weights.copy()
    wrong[2, 0] = 0.5
    text = "\n".join(
        [
            "Input vectors, one token per line:",
            "",
            *rows(X, ".0f", "  ", TOKENS),
            "",
            "Attention weights (softmax of X·Xᵀ, no scaling):",
            "",
            "      " + "  ".join(f"{t:>5}" for t in TOKENS),
            *rows(wrong, "5.2f", "  ", TOKENS),
        ]
    )
    code, roots, _ = flagged(text, "plain.txt")
    assert code == 1 and roots == [(12, "0.50")]


def test_an_interactive_session_with_continuation_lines():
    q = np.array([2.0, 1.0, 0.0])
    k = np.array([[1.0, 1.0, 2.0], [0.0, 1.0, 1.0], [2.0, 0.0, 1.0]])
    w = softmax(k @ q / np.sqrt(3))
    text = "\n".join(
        [
            "```python",
            ">>> q = np.array([2, 1, 0])",
            ">>> K = np.array([[1., 1., 2.],",
            "...               [0., 1., 1.],",
            "...               [2., 0., 1.]])",
            ">>> scaled = K @ q / np.sqrt(3)",
            ">>> w = softmax(scaled)",
            ">>> w",
            "array([" + ", ".join(f"{v:.4f}" for v in w) + "])",
            "```",
        ]
    )
    report = check(text, "session.md")
    assert report.exit_code == 0 and report.checked == 3


def test_entries_named_by_their_indices():
    s = X @ X.T
    text = "\n".join(
        [
            "X = [[1, 0, 1], [0, 2, 1], [1, 1, 0]] and we skip the scaling.",
            "",
            f"- q1·k1 = {s[0, 0]:.0f}, q1·k2 = {s[0, 1]:.0f}, q1·k3 = {s[0, 2] + 2:.0f}",
            f"- q2·k1 = {s[1, 0]:.0f}, q2·k2 = {s[1, 1]:.0f}, q2·k3 = {s[1, 2]:.0f}",
        ]
    )
    code, roots, _ = flagged(text, "entries.md")
    assert code == 1 and roots == [(3, f"{s[0, 2] + 2:.0f}")]


def test_a_key_padding_mask_printed_as_minus_infinity_columns():
    x = np.array([[1.0, 0.5], [0.2, 1.0], [0.0, 0.0]])  # the last token is padding
    s = x @ x.T / np.sqrt(2)
    s[:, 2] = -np.inf
    w = softmax(s)

    def table(m: np.ndarray) -> list[str]:
        cells = [["-inf" if np.isinf(v) else f"{v:.3f}" for v in row] for row in m]
        return ["|   |   |   |", "|---|---|---|"] + ["| " + " | ".join(r) + " |" for r in cells]

    text = "\n".join(
        [
            "X = [[1.0, 0.5], [0.2, 1.0], [0.0, 0.0]] (the last row is [PAD]), d_k = 2.",
            "",
            "Masked scores, the padding key hidden from every query:",
            "",
            *table(s),
            "",
            "Softmax weights:",
            "",
            *table(w),
        ]
    )
    report = check(text, "padding.md")
    assert report.exit_code == 0 and report.checked == 18, text
    assert to_dict(report)["examples"][0]["convention"]["padded_keys"] == [2]


def test_two_heads_worked_by_hand():
    wq = np.array([[0, 1, 0, 2], [1, 0, 0, 1], [2, 1, 0, 0]], dtype=float)
    q = X @ wq
    lines = [
        "X = [[1, 0, 1], [0, 2, 1], [1, 1, 0]], W_Q = W_K = W_V = "
        + json.dumps(wq.astype(int).tolist()),
        "",
    ]
    for h in range(2):
        qh = q[:, 2 * h : 2 * h + 2]
        s = qh @ qh.T / np.sqrt(2)
        w = softmax(s)
        lines += [
            f"Head {h + 1}, scaled scores (q·k over the head's two columns, divided by √2):",
            "",
            "[" + ",\n ".join("[" + ", ".join(f"{v:.3f}" for v in row) + "]" for row in s) + "]",
            "",
        ]
        lines += [
            f"Head {h + 1} weights:",
            "",
            "[" + ",\n ".join("[" + ", ".join(f"{v:.3f}" for v in row) + "]" for row in w) + "]",
            "",
        ]
    report = check("\n".join(lines), "heads.md")
    assert report.exit_code == 0, "\n".join(lines)
    heads = {e["convention"]["head"] for e in to_dict(report)["examples"]}
    assert heads == {"1 of 2", "2 of 2"}


def test_the_same_inputs_without_and_with_scaling():
    s = X @ X.T
    text = "\n".join(
        [
            "X = [[1, 0, 1], [0, 2, 1], [1, 1, 0]]",
            "",
            "## Without scaling",
            "",
            "weights = " + json.dumps(np.round(softmax(s), 3).tolist()),
            "",
            "## With scaling by 1/√3",
            "",
            "scaled = " + json.dumps(np.round(s / np.sqrt(3), 3).tolist()),
            "",
            "weights = " + json.dumps(np.round(softmax(s / np.sqrt(3)), 3).tolist()),
        ]
    )
    assert check(text, "twice.md").exit_code == 0


def test_only_numbers_the_mistake_shows_in_are_its_consequences():
    scores = np.array([[1.0, 3, 1], [0, 9, 0], [2, 3, 3]])
    v = np.array([[1.0, 0.0], [2.0, 0.0], [1.0, 1.0]])  # values 1 and 2 have no second column
    w = np.round(softmax(scores), 1)
    w[2, 0] = 0.1  # 0.155 rounds to 0.2
    out = w @ v
    text = "\n".join(
        [
            "scores = " + json.dumps(scores.tolist()),
            "",
            "weights, rounded to one decimal = " + json.dumps(w.tolist()),
            "",
            "V = " + json.dumps(v.tolist()),
            "",
            "output = weights · V = ["
            + ", ".join("[" + ", ".join(f"{x:.2f}" for x in row) + "]" for row in out)
            + "]",
        ]
    )
    code, roots, consequences = flagged(text, "carried.md")
    assert code == 1 and roots == [(3, "0.1")]
    # row 3 is [0.1·1 + 0.4·2 + 0.4·1, 0.4·1]: the wrong 0.1 only reaches the first column
    assert consequences == [(7, f"{out[2, 0]:.2f}")]


def test_cross_attention_from_decoder_and_encoder_states():
    y = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])  # two decoder positions
    h = np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    wq = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    wk = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0]])
    q, k = y @ wq, h @ wk
    w = softmax(q @ k.T / np.sqrt(2))
    shown = np.round(w, 3)
    shown[1, 0] = round(shown[1, 0] + 0.1, 3)

    def listed(m: np.ndarray) -> str:
        return json.dumps(m.tolist())

    text = "\n".join(
        [
            "The decoder states (queries come from them): Y = " + listed(y),
            "",
            "The encoder outputs (keys and values come from them): H = " + listed(h),
            "",
            f"W_Q = {listed(wq)}, W_K = {listed(wk)}, d_k = 2",
            "",
            "Attention weights, softmax(QKᵀ/√2), one row per decoder position:",
            "",
            "["
            + ",\n ".join("[" + ", ".join(f"{v:.3f}" for v in row) + "]" for row in shown)
            + "]",
        ]
    )
    code, roots, _ = flagged(text, "cross.md")
    assert code == 1 and roots == [(10, f"{shown[1, 0]:.3f}")], text
