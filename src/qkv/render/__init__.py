"""Trace -> text, Markdown, LaTeX, HTML or JSON: the one dispatch for every caller.

    qkv.render.render(trace, "markdown", lang="en")     # a string
    qkv.render.show(trace)                               # coloured, in the terminal

The words and digits are laid out once (layout.build -> Document); each format module only
writes that Document in its syntax.
"""

from __future__ import annotations

from typing import Any

from qkv.core.lang import default_lang
from qkv.core.trace import Trace
from qkv.errors import InputError

FORMATS = ("text", "markdown", "latex", "html", "json")
Entry = tuple[int, int] | None


def _document(trace: Trace, lang: str | None, digits: int, entry: Entry) -> Any:
    from qkv.render.layout import MAX_TABLE, build, too_large

    big = too_large(trace)
    if big is not None:
        step, n, m = big
        raise InputError(
            f"step {step} is {n}x{m}, too large for a table (at most {MAX_TABLE} rows and "
            "columns); use --format json"
        )
    return build(trace, lang or trace.lang or default_lang(), digits, entry)


def render(
    trace: Trace,
    fmt: str = "text",
    *,
    lang: str | None = None,
    digits: int = 3,
    entry: Entry = (0, 0),
    standalone: bool = False,
) -> str:
    """The trace in ``fmt`` (text, markdown, latex, html, json); ``entry`` (0-based row and
    column) is the entry whose arithmetic each step shows, None for none; ``standalone``: LaTeX
    as a whole document rather than fragments to paste."""
    if fmt == "json":
        return trace.to_json()
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; formats: {', '.join(FORMATS)}")
    doc = _document(trace, lang, digits, entry)
    if fmt == "text":
        from qkv.render.text import to_string

        return to_string(doc)
    if fmt == "markdown":
        from qkv.render.markdown import render as markdown

        return markdown(doc)
    if fmt == "latex":
        from qkv.render.latex import render as latex

        return latex(doc, standalone)
    from qkv.render.html import render as html

    return html(doc)


def show(trace: Trace, *, lang: str | None = None, digits: int = 3, entry: Entry = (0, 0)) -> None:
    """Print the trace to the terminal, with colours where it has them."""
    from qkv.render.text import print_document

    print_document(_document(trace, lang, digits, entry))


def text_of(trace: Trace) -> str:
    """``str(trace)``: the plain text a person reads."""
    return render(trace, "text")
