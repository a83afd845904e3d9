import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qkv.cli.main import main
from qkv.errors import InputError
from qkv.review.check import check
from qkv.review.extract import extract
from qkv.review.numbers import parse_claim

ARTICLES = Path(__file__).parent / "articles"

# file -> findings as (matrix index, row, col, kind); row/col None for a diagnosis
EXPECTED = {
    "en_tables_ok.md": [],
    "en_unrelated_table.md": [],
    "en_tables_errors.md": [(3, 0, 1, "mismatch"), (3, 2, 2, "mismatch"), (4, 1, 3, "mismatch")],
    "en_scale_forgotten.md": [
        (3, None, None, "scale_forgotten"),
        (4, None, None, "scale_forgotten"),
    ],
    "en_softmax_columns.md": [
        (3, None, None, "softmax_over_columns"),
        (4, None, None, "softmax_over_columns"),
    ],
    "en_dropout.md": [(3, None, None, "dropout")],
    "zh_brackets_causal_ok.txt": [],
    "zh_brackets_causal_errors.txt": [(3, 2, 1, "mismatch"), (4, 3, 0, "mismatch")],
    "zh_mask_after_softmax.txt": [
        (3, None, None, "mask_after_softmax"),
        (4, None, None, "mask_after_softmax"),
    ],
    "zh_plain_tables.txt": [(3, 0, 0, "mismatch"), (4, 2, 2, "mismatch")],
    "latex_projections_ok.md": [],
    "latex_projections_errors.md": [(4, 1, 1, "mismatch"), (8, 0, 0, "mismatch")],
    "latex_k_transposed.md": [(7, None, None, "k_transposed")],
}


def test_every_article_has_an_expectation():
    files = {p.name for p in ARTICLES.iterdir() if p.suffix in (".md", ".txt")} - {"README.md"}
    assert files == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_planted_errors_are_found_and_nothing_else(name):
    report = check((ARTICLES / name).read_text(encoding="utf-8"), name)
    got = [(f.matrix, f.row, f.col, f.kind) for f in report.findings]
    assert got == EXPECTED[name]
    assert report.ok == (not EXPECTED[name])
    # every matrix that is not an input was matched, except the unrelated table
    statuses = [j.status for j in report.judged]
    assert statuses.count("unrecognised") == (1 if name == "en_unrelated_table.md" else 0)


def test_quantities_matched_in_the_plain_text_article():
    report = check((ARTICLES / "zh_plain_tables.txt").read_text(encoding="utf-8"))
    assert [j.quantity for j in report.judged] == ["x", "xt", "scores", "weights", "output"]
    weights = report.judged[3]
    assert weights.setting.scale == "none"  # "先不管分母 √d_k": the formula has no √
    assert weights.matrix.row_labels == ["我", "爱", "吃"]
    f = report.findings[0]
    assert f.claimed == "0.71" and f.expected == pytest.approx(0.4683105308334812)
    assert f.expected_rounded == "0.47"
    assert f.line == 23


def test_latex_projections_are_checked():
    report = check((ARTICLES / "latex_projections_errors.md").read_text(encoding="utf-8"))
    quantities = [j.quantity for j in report.judged]
    assert quantities == ["x", "wq", "wk", "wv", "q", "k", "v", "scores", "weights", "output"]
    assert report.judged[8].setting.scale == "sqrt"
    assert report.findings[0].claimed == "3" and report.findings[0].expected == 2
    text = (ARTICLES / "latex_projections_errors.md").read_text(encoding="utf-8").splitlines()
    for f in report.findings:  # each finding names the line its row is on
        assert f.claimed in text[f.line - 1]


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
    [m] = extract("[1.94, 2, 0]\n[1.84, 1, 0.5]\n")
    two, zero = m.cells[0][1], m.cells[0][2]
    assert two.consistent(1.9991) and not two.consistent(1.97)
    assert zero.consistent(0.0) and not zero.consistent(0.02)


def _run(capsys, *args):
    code = main(["check", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_exit_codes_and_json(capsys):
    code, out, _ = _run(capsys, str(ARTICLES / "en_tables_ok.md"), "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["schema"] == "qkv.check/1" and data["ok"] is True
    code, out, _ = _run(capsys, str(ARTICLES / "en_tables_errors.md"), "--format", "json")
    data = json.loads(out)
    assert code == 1 and data["ok"] is False
    first = data["findings"][0]
    assert first == {
        "matrix": 3,
        "kind": "mismatch",
        "line": first["line"],
        "row": 0,
        "col": 1,
        "claimed": "0.25",
        "expected": first["expected"],
        "expected_rounded": "0.16",
    }
    assert abs(first["expected"] - 0.15536) < 1e-4
    m = data["matrices"][3]
    assert m["quantity"] == "weights" and m["shape"] == [3, 3] and m["setting"]["scale"] == "sqrt"


def test_cli_human_report_quotes_wrong_and_right(capsys):
    code, out, _ = _run(capsys, str(ARTICLES / "zh_plain_tables.txt"), "--lang", "zh")
    assert code == 1 and "0.71" in out and "0.468" in out
    code, out, _ = _run(
        capsys, str(ARTICLES / "en_scale_forgotten.md"), "--lang", "en", "--format", "markdown"
    )
    assert code == 1 and "scaling was left out" in out


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
        (b"no numbers at all, just prose.\n", "no matrix found"),
        (b"| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 | 5 |\n", "3 cells, expected 2"),
        (b"[1, 2, 3]\n[4, 5]\n", "row has 2 numbers, expected 3"),
        ((("[" + ", ".join(["1"] * 100) + "]\n") * 100).encode(), "10000 numbers"),
        ("\xff\xfe garbage".encode("latin-1"), "not UTF-8"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, content, message):
    f = tmp_path / "article.md"
    f.write_bytes(content)
    code, out, err = _run(capsys, str(f))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err


def test_huge_file_is_refused(tmp_path, capsys):
    f = tmp_path / "big.md"
    with f.open("wb") as fh:
        fh.seek(50_000_000)
        fh.write(b"\n")
    code, _, err = _run(capsys, str(f))
    assert code == 2 and "larger than" in err


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list("0123456789.-−|[],\n ~:-$\\{}&^XTabe∞")) | st.characters(),
        max_size=300,
    )
)
def test_extractor_never_crashes(text):
    try:
        check(text)
    except InputError as e:
        assert "\n" not in str(e)


_piece = st.sampled_from(
    [
        "| 1 | 2 |",
        "|---|---|",
        "---|---|",
        "[1, 2]",
        "[0.5, −∞]",
        "\\begin{bmatrix} 1 & 2 \\\\ 3 & 4 \\end{bmatrix}",
        "X =",
        "softmax(XX^T):",
        "~ | a | b |",
        "| a | 0.1 |",
        "$$",
        "```",
        "",
        "9.05E-04 | 1e400 | nan |",
        "[[1, 2], [3, 4]]",
        "\\end{pmatrix}",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_piece, max_size=25))
def test_extractor_never_crashes_on_article_like_text(pieces):
    try:
        check("\n".join(pieces))
    except InputError as e:
        assert "\n" not in str(e)
