"""Headings and words of the hand calculation that follow what was computed, and LaTeX as a
whole document (issue 24)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from qkv.core.examples import find_example
from qkv.core.trace import trace
from qkv.render import render

X = [[1, 0, 1], [0, 1, 1], [1, 1, 0]]


@pytest.mark.parametrize(
    ("options", "formula", "latex"),
    [
        ({"scale": "none"}, "A = softmax(S)", r"\operatorname{softmax}(S)"),
        ({"scale": "sqrt"}, "A = softmax(S/√d_k)", r"\operatorname{softmax}(S/\sqrt{d_k})"),
        ({"scale": 0.5}, "A = softmax(0.5·S)", r"\operatorname{softmax}(0.5 \cdot S)"),
        (
            {"scale": "sqrt", "causal": True},
            "A = softmax(mask(S/√d_k))",
            r"\operatorname{softmax}(\operatorname{mask}(S/\sqrt{d_k}))",
        ),
        (
            {"scale": "none", "causal": True},
            "A = softmax(mask(S))",
            r"\operatorname{softmax}(\operatorname{mask}(S))",
        ),
    ],
)
def test_the_weights_heading_says_what_the_softmax_was_taken_of(options, formula, latex):
    t = trace(X, **options)
    md = render(t, "markdown", lang="en")
    assert f"## Attention weights {formula}" in md
    assert "softmax(S)" not in md or formula == "A = softmax(S)"  # no stale formula beside it
    assert f"## 注意力权重 {formula}" in render(t, "markdown", lang="zh")
    assert latex in render(t, "latex", lang="en")


def test_the_causal_rule_names_queries_and_keys_not_the_scores():
    t = trace(X, causal=True)
    for lang in ("en", "zh"):
        text = render(t, "text", lang=lang)
        assert "j ≤ i + n_k - n_q" in " ".join(text.split()) and "S - L" not in text


def test_one_column_a_head_is_said_in_the_singular():
    text = render(trace(X, heads=3), "markdown", lang="en")
    assert "Head 2 takes column 2 of Q" in text and "columns 2 of" not in text
    assert "Head 1 takes columns 1–2 of Q" in render(trace([[1, 0, 1, 1]], heads=2), "markdown")


def test_latex_standalone_is_a_whole_document():
    t = trace(X, scale="sqrt")
    fragment = render(t, "latex", lang="en")
    assert r"\documentclass" not in fragment  # fragments stay fragments
    doc = render(t, "latex", lang="en", standalone=True)
    assert doc.startswith(r"\documentclass{article}") and doc.rstrip().endswith(r"\end{document}")
    assert fragment in doc
    chinese = render(find_example("bijiben").trace("en"), "latex", lang="en", standalone=True)
    assert chinese.startswith(r"\documentclass{ctexart}")  # 笔记本's tokens even in English


ENGINE = shutil.which("xelatex")


@pytest.mark.skipif(ENGINE is None, reason="no xelatex here (TeX Live's texlive-xetex)")
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_latex_standalone_compiles(tmp_path, lang):
    example = find_example("bijiben").trace(lang)
    for name, t in (("plain", trace(X, scale="sqrt", causal=True)), ("bijiben", example)):
        tex = tmp_path / f"{name}.tex"
        tex.write_text(render(t, "latex", lang=lang, standalone=True), encoding="utf-8")
        done = subprocess.run(
            [ENGINE, "-interaction=nonstopmode", "-halt-on-error", tex.name],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout[-3000:]
        assert (tmp_path / f"{name}.pdf").stat().st_size > 1000


def test_the_cli_writes_a_whole_document_and_refuses_standalone_elsewhere(tmp_path, capsys):
    from qkv.cli.main import main

    out = tmp_path / "a.tex"
    assert main(["explain", "--format", "latex", "--standalone", "-o", str(out)]) == 0
    assert out.read_text(encoding="utf-8").startswith(r"\documentclass")
    assert main(["explain", "--standalone"]) == 2
    assert "give --format latex" in capsys.readouterr().err
