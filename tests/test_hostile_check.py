"""qkv check against the articles of issue 21's review: each ran for minutes (or ended in an
internal error) before its fix. Every command runs in a child of the fork server
(tests/isolate.py) with 5 s of CPU and 1 GB; ``QKV_TEST_SRC=/path/to/old/src`` runs them
against another copy of qkv."""

from __future__ import annotations

import json

import pytest

from qkv import limits


def answered(out) -> str:
    """Exit 0-3 within the limits, no traceback: the stderr."""
    err = out.stderr.decode("utf-8", "replace")
    assert out.why == "", (out.why, err[-2000:])
    assert out.rc in (0, 1, 2, 3), (out.rc, err[-2000:])
    assert "Traceback" not in err
    return err


def refused(out) -> str:
    """Exit 2 with one line on stderr."""
    err = answered(out)
    assert out.rc == 2 and err.count("\n") == 1, (out.rc, err)
    return err


def notebook(cells: list[dict[str, object]]) -> str:
    return json.dumps({"cells": cells, "nbformat": 4}, separators=(",", ":"))


SLOW_ARTICLES = {
    # a line-start regex ran over every blank line below each line: 2,000 took 48 s
    "3,000 blank lines": ("a.md", "\n" * 3000),
    "3,000 lines of spaces": ("a.md", " \n" * 3000),
    "indented lines": ("a.md", "  - a\n" * 20_000),
    # the line of each cell was counted from the file's start: 100k cells took 170 s
    "9,000 notebook cells": ("a.ipynb", notebook([{"cell_type": "raw", "source": "x"}] * 9000)),
    # one 4.8 MB row was split and parsed whole before the column limit: 34 s, 586 MB
    "a 4.8 MB row of numbers": ("a.txt", "0.5 " * 1_200_000),
    "a 4 MB run of spaces in a table cell": ("a.md", "| a" + " " * 4_000_000 + "b |\n|---|\n"),
    "fenced blocks": ("a.txt", "```\n" * 100_000),
    # html.parser looks again for the end of a tag that has none at every "<" after it
    "4 MB of tags that never end": ("a.html", "<html>" + "<a b" * 1_000_000),
    "comments that never end": ("a.html", "<html>" + "<!--a>" * 500_000),
    "a line of citations": ("a.txt", "see [1] " * 500_000),
}


@pytest.mark.parametrize("name", list(SLOW_ARTICLES))
def test_hostile_articles_are_answered_in_time(qkv_cli, tmp_path, name):
    file, text = SLOW_ARTICLES[name]
    (tmp_path / file).write_text(text)
    answered(qkv_cli(["check", file, "--lang", "en"], tmp_path, seconds=5))


def test_a_notebook_of_too_many_cells_is_refused_before_its_json_is_read(qkv_cli, tmp_path):
    (tmp_path / "a.ipynb").write_text(notebook([{"cell_type": "raw", "source": ""}] * 100_000))
    err = refused(qkv_cli(["check", "a.ipynb", "--lang", "en"], tmp_path, seconds=5))
    assert f"at most {limits.MAX_NOTEBOOK_CELLS:,}" in err


def test_an_article_of_too_many_lines_is_refused_before_it_is_read(qkv_cli, tmp_path):
    (tmp_path / "a.md").write_text("\n" * 4_000_000)
    err = refused(qkv_cli(["check", "a.md", "--lang", "en"], tmp_path, seconds=5))
    assert f"at most {limits.MAX_ARTICLE_LINES:,}" in err


def test_an_article_near_the_line_limit_stops_at_the_budget(qkv_cli, tmp_path):
    """Markdown parsing checks the budget while it works: 199,998 list items."""
    (tmp_path / "a.md").write_text("- a\n" * (limits.MAX_ARTICLE_LINES - 2))
    answered(qkv_cli(["check", "a.md", "--lang", "en"], tmp_path, seconds=5))


def test_a_declaration_html_parser_cannot_read_is_one_line(qkv_cli, tmp_path):
    """'<![' with no name made html.parser raise AssertionError: exit 70."""
    (tmp_path / "a.html").write_text("<html><body><p>x</p>" + "<![<![ ]]>" * 3 + "</body>")
    err = refused(qkv_cli(["check", "a.html", "--lang", "en"], tmp_path))
    assert "not a readable HTML page" in err
