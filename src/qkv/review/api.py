"""``qkv.check``: the checker from Python, on a file or on text."""

from __future__ import annotations

import os
from pathlib import Path

from qkv import limits
from qkv.review import budget
from qkv.review.report import Report


def read_article(path: str | os.PathLike[str]) -> str:
    """The article's text, at most limits.ARTICLE_BYTES (counted while reading: /dev/zero
    and pipes stop there), with line ends made \\n and control characters made visible, so
    that nothing a report quotes from it can drive a terminal (qkv.terminal)."""
    from qkv.files import read_text
    from qkv.terminal import printable

    text = read_text(os.fspath(path), "article", limit=limits.ARTICLE_BYTES)
    return printable(text.replace("\r\n", "\n").replace("\r", "\n"))


def check(
    source: str | os.PathLike[str], name: str | None = None, seconds: float = budget.SECONDS
) -> Report:
    """Find the wrong numbers in an article's hand-computed attention.

    ``source`` is a path (a ``Path``, or a one-line string naming an existing file:
    Markdown, plain text, a Jupyter notebook or a saved HTML page) or the article's text
    itself. ``name`` is what the report calls it (its path by default; a notebook or a page
    given as text is recognised by its first bytes). ``seconds`` is the CPU time the check
    may take before it stops with :class:`qkv.InputError`.

    The report holds ``findings`` (each a mistake and the numbers that follow from it),
    ``exit_code`` (0 right, 1 findings, 3 nothing checked), ``to_json()`` and a
    ``markdown(lang)`` review comment::

        >>> report = qkv.check("softmax([0, 0]) = [0.4, 0.6]")
        >>> report.exit_code
        1
    """
    from qkv.review.check import check as check_text

    if isinstance(source, os.PathLike) or (
        "\n" not in source and len(source) < 4096 and Path(source).is_file()
    ):
        return check_text(read_article(source), name or os.fspath(source), seconds)
    return check_text(source, name or "<text>", seconds)
