"""What the checker's report says, in every format and language: counts that add up, true
values where a whole fragment is wrong, Chinese reports wholly in Chinese."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from qkv.review import report as R
from qkv.review.check import check, load

ARTICLES = Path(__file__).parent / "articles"
CORPUS = sorted(
    p
    for p in ARTICLES.rglob("*")
    if p.suffix in (".md", ".txt", ".ipynb", ".html") and p.stem != "README"
)

FORGOT_SCALING = """Two tokens, d_k = 4, so the scores are divided by √4 = 2.

Q:

| | a | b | c | d |
|---|---|---|---|---|
| t1 | 1 | 0 | 1 | 0 |
| t2 | 0 | 2 | 0 | 1 |

K:

| | a | b | c | d |
|---|---|---|---|---|
| t1 | 1 | 1 | 0 | 0 |
| t2 | 0 | 1 | 1 | 1 |

The scores Q·Kᵀ:

| | t1 | t2 |
|---|---|---|
| t1 | 1 | 1 |
| t2 | 2 | 3 |

Softmax of each row gives the weights:

| | t1 | t2 |
|---|---|---|
| t1 | 0.500 | 0.500 |
| t2 | 0.269 | 0.731 |
"""


def _reports() -> list[R.Report]:
    return [check(p.read_text(encoding="utf-8"), p.name) for p in CORPUS]


@pytest.fixture(scope="module")
def corpus_reports() -> list[R.Report]:
    return _reports()


def test_the_counts_add_up(corpus_reports):
    """Every wrong number is a mistake's or one that follows from a reported mistake."""
    assert len(corpus_reports) > 40
    for rep in corpus_reports:
        mistaken = sum(len(f.verdicts) for f in rep.findings)
        following = sum(len(f.consequences) for f in rep.findings)
        assert rep.wrong == mistaken + following, rep.file
        summary = R.summary(rep, "en")
        said = re.search(r"(\d+) wrong: (\d+) in \d+ mistake\S* and (\d+) that", summary)
        if said:  # "19 wrong: 9 in 1 mistake(s) and 10 that follow from them"
            assert [int(n) for n in said.groups()] == [rep.wrong, mistaken, following]
        elif rep.wrong:  # "3 wrong (3 mistake(s))"
            assert f"{rep.wrong} wrong ({len(rep.findings)} mistake" in summary
            assert rep.wrong == mistaken == len(rep.findings)


# names a Chinese report may print as they are: formulas and the tool's own name
_NAMES = {"softmax", "qkv", "check", "exp", "sqrt", "tanh", "dropout"}


def test_chinese_reports_are_wholly_chinese(corpus_reports):
    """No English words outside the article's own labels, formulas and numbers."""
    latin: dict[str, str] = {}
    for rep in corpus_reports:
        labels = {
            label
            for f in rep.fragments
            for labels in (f.row_labels or [], f.col_labels or [])
            for label in labels
        }
        texts = [R.summary(rep, "zh"), *R.lines(rep, "zh"), *R.skipped_lines(rep, "zh")]
        texts += [" ".join(row[1:]) for row in R.table_rows(rep, "zh")]
        for text in texts:
            text = re.sub(r"\\begin\{\w+\}", "", text)  # a LaTeX environment's name
            for label in sorted(labels, key=len, reverse=True):
                text = text.replace(f"({label})", "")
            for word in re.findall(r"(?<![\\_^])\b[A-Za-z]{3,}\b", text):
                if word.lower() not in _NAMES:
                    latin.setdefault(word, f"{rep.file}: {text}")
    assert not latin, latin


def test_skipped_notes_are_said_in_the_reports_language():
    text = "| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 | 5 |\n"
    rep = check(text, "a.md")
    assert any("3 cells, not 2" in line for line in R.skipped_lines(rep, "en"))
    assert any("3 个单元格" in line for line in R.skipped_lines(rep, "zh"))


def test_a_whole_number_needs_no_rounded_value_beside_it():
    rep = check("score = 1*1 + 2*1 = 2\n", "a.md")
    (line,) = R.lines(rep, "en")
    assert line.endswith("written 2, true value 3") and "precision" not in line


def test_a_diagnosis_gives_the_true_values_in_every_format():
    rep = check(FORGOT_SCALING, "a.md")
    (finding,) = rep.findings
    assert finding.kind == "scale_forgotten"
    # row 2 is softmax([2, 3] / 2); row 1, softmax([1, 1]), is right at any scale
    for text in ("\n".join(R.lines(rep, "en")), R.markdown(rep, "en")):
        assert "true values: row 2: 0.378 0.622" in text and "row 1" not in text
    assert "第 2 行 0.378 0.622" in "\n".join(R.lines(rep, "zh"))
    (diagnosis,) = R.to_dict(rep)["findings"]
    assert [v["expected_rounded"] for v in diagnosis["numbers"]] == ["0.378", "0.622"]


def test_raw_scores_are_not_said_to_be_scaled():
    rep = check(FORGOT_SCALING, "a.md")
    settings = {row[3]: row[4] for row in R.table_rows(rep, "en")}
    assert settings["scores"] == ""
    assert settings["softmax weights"] == "scaled by 1/√d_k"


def test_fragments_are_numbered_from_one():
    rep = check(FORGOT_SCALING, "a.md")
    numbers = [row[0] for row in R.table_rows(rep, "en")]
    assert numbers == [str(k) for k in range(1, len(rep.fragments) + 1)]


def test_a_notebook_cell_is_named_in_the_reports_language():
    cells = '{"cell_type": "markdown", "metadata": {}, "source": ["x"]}'
    doc = load('{"cells": [' + cells + '], "metadata": {}, "nbformat": 4}', "a.ipynb")
    assert doc.where(0, "en") == "line 1 (cell 1)"
    assert doc.where(0, "zh") == "第 1 行(第 1 个单元格)"


# --- several articles in one run, and the Python API ----------------------------------------


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    from qkv.cli.main import main

    code = main(["check", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _articles(tmp_path: Path) -> dict[str, Path]:
    files = {
        "right.md": "softmax([0, 0]) = [0.5, 0.5]\n",
        "wrong.md": "softmax([0, 0]) = [0.4, 0.6]\n",
        "empty.md": "no numbers here\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return {name: tmp_path / name for name in files}


def test_many_files_in_one_run_exit_with_the_worst(tmp_path, capsys):
    a = _articles(tmp_path)
    code, out, _ = _cli(capsys, str(a["right.md"]), str(a["empty.md"]))
    assert code == 3 and "2 articles" in out
    code, out, _ = _cli(capsys, str(a["right.md"]), str(a["wrong.md"]), str(a["empty.md"]))
    assert code == 1
    table = out[out.index("3 articles") :]
    assert re.search(r"wrong\.md\s+2\s+2\s+2\s+findings", table), table
    code, _, err = _cli(capsys, str(a["wrong.md"]), str(tmp_path / "missing.md"))
    assert code == 2 and err.count("\n") == 1 and "missing.md" in err


def test_many_files_as_one_json_document(tmp_path, capsys):
    a = _articles(tmp_path)
    out_file = tmp_path / "out.json"
    args = [str(a["wrong.md"]), str(tmp_path / "missing.md"), str(a["right.md"])]
    code, out, _ = _cli(capsys, *args, "--format", "json", "-o", str(out_file))
    doc = json.loads(out_file.read_text(encoding="utf-8"))
    assert code == 2 and out == ""
    assert doc["schema"] == "qkv.check-files/1" and doc["exit"] == 2
    assert [f["exit"] for f in doc["files"]] == [1, 2, 0]
    assert doc["files"][1]["error"].startswith("article")


def test_many_files_in_markdown_and_in_chinese(tmp_path, capsys):
    a = _articles(tmp_path)
    code, out, _ = _cli(capsys, str(a["right.md"]), str(a["wrong.md"]), "--format", "markdown")
    assert code == 1 and out.count("### qkv check") == 2
    assert "wrong.md | 2 | 2 | 2 | findings |" in out
    code, out, _ = _cli(capsys, str(a["right.md"]), str(a["wrong.md"]), "--lang", "zh")
    assert "2 篇文章" in out and "有错误" in out


def test_stdin_can_be_read_only_once(capsys):
    code, _, err = _cli(capsys, "-", "-")
    assert code == 2 and "only once" in err


def test_the_python_api_takes_a_path_or_the_text(tmp_path):
    import qkv

    a = _articles(tmp_path)
    by_path = qkv.check(a["wrong.md"])
    by_name = qkv.check(str(a["wrong.md"]))
    by_text = qkv.check(a["wrong.md"].read_text(encoding="utf-8"))
    assert by_path.file == by_name.file == str(a["wrong.md"]) and by_text.file == "<text>"
    assert by_path.exit_code == by_text.exit_code == 1
    assert json.loads(by_path.to_json())["findings"] == json.loads(by_text.to_json())["findings"]
    assert repr(by_path) == f"<qkv check {a['wrong.md']}: 2 numbers checked, 2 wrong, exit 1>"
    assert "check" in dir(qkv) and "attention" in dir(qkv)
    with pytest.raises(qkv.InputError, match="does not exist"):
        qkv.check(Path(tmp_path / "missing.md"))


def test_the_report_says_which_reading_it_chose_and_what_it_explains():
    rep = check(FORGOT_SCALING, "a.md")
    (line,) = R.reading_lines(rep, "en")
    (example,) = [e for e in R.to_dict(rep)["examples"] if e["index"] >= 0]
    said = re.search(r"scaled by 1/√d_k; it explains (\d+) of the (\d+) numbers", line)
    assert said, line
    assert [int(n) for n in said.groups()] == [example["explained"], example["checked"]]
    assert example["explained"] == example["checked"]  # the diagnosis explains its row too
    assert "解释了" in R.reading_lines(rep, "zh")[0]
