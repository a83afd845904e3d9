import json

import numpy as np
from markdown_it import MarkdownIt

from qkv.core.exact import fmt
from qkv.core.examples import find_example
from qkv.core.trace import Trace, trace
from qkv.render import html, latex, markdown
from qkv.render.layout import build
from qkv.render.messages import MESSAGES


def test_zh_and_en_catalogs_have_the_same_keys():
    assert set(MESSAGES["zh"]) == set(MESSAGES["en"])
    for key in MESSAGES["en"]:  # same placeholders in both languages
        import string

        names = [
            {f for _, f, _, _ in string.Formatter().parse(MESSAGES[lang][key]) if f}
            for lang in ("en", "zh")
        ]
        assert names[0] == names[1], key


def test_number_formatting():
    assert fmt(11.0, 3) == "11"
    assert fmt(0.0633789383, 3) == "0.0634"
    assert fmt(0.000904959, 3) == "0.000905"
    assert fmt(1.9990950, 3) == "2"
    assert fmt(12345.6, 3) == "12346"
    assert fmt(-0.0, 3) == "0"
    assert fmt(float("-inf"), 3) == "-inf"


def _md_tables(text):
    """Each table in a Markdown text as a list of rows of cell texts."""
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    tables, rows, row, cell = [], None, None, None
    for tok in tokens:
        if tok.type == "table_open":
            rows = []
        elif tok.type == "tr_open":
            row = []
        elif tok.type in ("th_open", "td_open"):
            cell = ""
        elif tok.type == "inline" and cell is not None:
            cell = tok.content
        elif tok.type in ("th_close", "td_close"):
            row.append(cell)
            cell = None
        elif tok.type == "tr_close":
            rows.append(row)
        elif tok.type == "table_close":
            tables.append(rows)
    return tables


def test_markdown_parses_back_as_tables_with_the_right_numbers():
    doc = build(find_example("笔记本").trace("zh"), "zh", 3)
    tables = _md_tables(markdown.render(doc))
    _, scores, weights, output, contrast = tables
    assert scores[0] == ["", "笔", "记", "本"]
    assert scores[3] == ["本", "11", "9", "16"]
    assert weights[1] == ["笔", "0.468", "0.0634", "0.468"]
    assert output[1][1:] == ["1.94", "1.94", "1", "1.53", "1"]
    assert contrast[3][-2:] == ["0.992", "0.869"]


def test_markdown_escapes_labels_that_would_break_a_table():
    t = trace([[1, 0], [0, 1]], tokens=["a|b", "*c*"])
    tables = _md_tables(markdown.render(build(t, "en", 3)))
    assert tables[0][1][0] == "a\\|b" or tables[0][1][0] == "a|b"
    assert len(tables[0][1]) == 3  # the pipe did not split the cell


def test_json_round_trips():
    for t in (
        find_example("笔记本").trace("zh"),
        find_example("search").trace("en"),
        trace([[1, 2], [3, 4], [5, 6]], causal=True, wq=[[1, 0], [0, 1]]),
    ):
        text = t.to_json()
        data = json.loads(text)
        assert data["schema"] == "qkv.trace/1"
        assert [s["id"] for s in data["steps"]] == t.ids
        back = Trace.from_json(text)
        assert back.ids == t.ids
        for a, b in zip(back.steps, t.steps, strict=True):
            np.testing.assert_array_equal(a.matrix, b.matrix)
            assert a.rows == b.rows and a.cols == b.cols and a.formula == b.formula
            assert (a.exact is None) == (b.exact is None)
            if a.exact is not None:
                assert a.exact.tolist() == b.exact.tolist()
        assert back.to_json() == text


def test_json_has_full_precision():
    data = json.loads(find_example("笔记本").trace("zh").to_json())
    weights = next(s for s in data["steps"] if s["id"] == "weights")
    assert weights["matrix"][0][1] == 0.06337893833303762


def test_html_escapes_a_script_token():
    t = trace([[1, 0], [0, 1]], tokens=["<script>alert(1)</script>", "b"])
    page = html.render(build(t, "en", 3))
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.startswith("<!DOCTYPE html>") and "http" not in page  # self-contained
    assert "<script" not in t._repr_html_()


def test_latex_has_matrices_and_escapes_labels():
    t = trace([[1, 0], [0, 1]], tokens=["a_b", "50%"], causal=True)
    text = latex.render(build(t, "en", 3))
    assert r"\text{a\_b}" in text and r"\text{50\%}" in text
    assert r"-\infty" in text  # the masked entry
    assert text.count(r"\begin{array}") == text.count(r"\end{array}") >= 4
