"""Random worked examples, written in random notations, with and without one wrong number.

The true values are computed here with plain NumPy (not with qkv), the article is rendered in
one of the notations people use, and at most one printed number is changed. A correct
article must give exit 0; a changed number must be the one finding, with its true value.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qkv.review.check import check

CAPTIONS = {
    "en": {
        "x": "The input X, one row per token:",
        "scores": "The scores Q·Kᵀ (here Q = K = V = X):",
        "scaled": "Divided by √d_k:",
        "weights": "Softmax over each row gives the attention weights:",
        "output": "The output, weights times V:",
    },
    "zh": {
        "x": "输入 X(每行一个词):",
        "scores": "相似度 XXᵀ:",
        "scaled": "除以 √d_k 之后:",
        "weights": "按行做 softmax,得到注意力权重:",
        "output": "最后的输出 softmax(·)V:",
    },
}


def fmt(v: float, decimals: int) -> str:
    text = f"{v:.{decimals}f}"
    return "0" if decimals == 0 and text in ("-0",) else text


def render(name: str, cells: list[list[str]], notation: str) -> list[str]:
    """A matrix of written numbers in one notation."""
    if notation == "table":
        head = "| " + " | ".join(f"c{j + 1}" for j in range(len(cells[0]))) + " |"
        return [head, "|" + "---|" * len(cells[0])] + ["| " + " | ".join(r) + " |" for r in cells]
    if notation == "brackets":
        return ["[" + ", ".join(r) + "]" for r in cells]
    if notation == "numpy":
        rows = ["[" + " ".join(r) + "]" for r in cells]
        return (
            ["[" + rows[0]]
            + [" " + r for r in rows[1:-1]]
            + ([" " + rows[-1] + "]"] if len(rows) > 1 else [])
        )
    if notation == "latex":
        body = [" & ".join(r) + (r" \\" if k < len(cells) - 1 else "") for k, r in enumerate(cells)]
        return ["$$", name + r" = \begin{bmatrix}", *body, r"\end{bmatrix}", "$$"]
    # torch
    rows = ["[" + ", ".join(r) + "]" for r in cells]
    out = ["tensor([" + rows[0] + ("," if len(rows) > 1 else "])")]
    out += ["        " + r + ("," if k < len(rows) - 2 else "])") for k, r in enumerate(rows[1:])]
    return out


@st.composite
def examples(draw: st.DrawFn) -> dict[str, object]:
    n = draw(st.integers(2, 4))
    d = draw(st.integers(2, 4))
    x = np.array(
        draw(st.lists(st.lists(st.integers(0, 3), min_size=d, max_size=d), min_size=n, max_size=n))
    )
    scaled = draw(st.booleans())
    scores = x @ x.T
    z = scores / np.sqrt(d) if scaled else scores.astype(float)
    e = np.exp(z - z.max(1, keepdims=True))
    weights = e / e.sum(1, keepdims=True)
    output = weights @ x
    return {
        "x": x,
        "scaled": scaled,
        "steps": {
            "scores": scores,
            **({"scaled": z} if scaled else {}),
            "weights": weights,
            "output": output,
        },
        "notation": draw(st.sampled_from(["table", "brackets", "numpy", "latex", "torch"])),
        "lang": draw(st.sampled_from(["en", "zh"])),
        "decimals": draw(st.integers(2, 4)),
        "plant": draw(st.sampled_from([None, "weights", "output", "scores"])),
        "where": draw(st.tuples(st.integers(0, 3), st.integers(0, 3))),
    }


def article(ex: dict[str, object]) -> tuple[str, tuple[int, str, float] | None]:
    """The article's text and the planted number (line, written, true value), if any."""
    captions = CAPTIONS[str(ex["lang"])]
    notation, decimals = str(ex["notation"]), int(ex["decimals"])  # type: ignore[call-overload]
    lines = [captions["x"], ""]
    x_cells = [[str(v) for v in row] for row in ex["x"]]  # type: ignore[union-attr]
    lines += [*render("X", x_cells, notation), ""]
    planted = None
    steps: dict[str, np.ndarray] = ex["steps"]  # type: ignore[assignment]
    skip = {"table": 2, "latex": 2}.get(notation, 0)  # lines of a block before its first row
    for name, values in steps.items():
        written = [
            [str(int(v)) if name == "scores" else fmt(v, decimals) for v in row] for row in values
        ]
        lines += [captions[name], ""]
        if ex["plant"] == name:
            where: tuple[int, int] = ex["where"]  # type: ignore[assignment]
            i, j = where[0] % values.shape[0], where[1] % values.shape[1]
            true = float(values[i, j])
            wrong = true + (3 if name == "scores" else 0.3)
            written[i][j] = str(int(wrong)) if name == "scores" else fmt(wrong, decimals)
            planted = (len(lines) + 1 + skip + i, written[i][j], true)
        lines += [*render(name, written, notation), ""]
    return "\n".join(lines) + "\n", planted


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(examples())
def test_random_examples_in_random_notations(ex):
    text, planted = article(ex)
    report = check(text, "random.md")
    if planted is None:
        assert report.exit_code == 0, text
        assert report.checked >= 3 * len(ex["x"]), text
        return
    line, written, true = planted
    found = [
        (report.source_line(f.line), f.verdicts[0].claim.text, f.verdicts[0].true)
        for f in report.findings
    ]
    assert len(found) == 1, (text, found)
    assert found[0][:2] == (line, written), (text, found)
    assert abs(found[0][2] - true) <= 1e-9 * max(1, abs(true)), (text, found)
