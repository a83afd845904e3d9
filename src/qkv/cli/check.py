"""qkv check: review an article's hand-computed attention."""

from __future__ import annotations

import argparse
from typing import Any

from qkv import limits
from qkv.errors import InputError


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "check",
        help="find the wrong numbers in an article's hand-computed attention",
        description="Read an article (Markdown, plain text, a Jupyter notebook or a saved HTML "
        "page), find its worked examples of attention (tables, numpy and torch prints, Python "
        "lists, labelled vectors, LaTeX matrices, arithmetic written out), recompute every "
        "step and report each number that is wrong at the precision it was written with: the "
        "mistake where it is made, and the numbers that follow from it. Exit code: 0 every "
        "checked number is right, 1 findings, 2 the file cannot be read, 3 nothing could be "
        "checked.",
    )
    p.add_argument("file", metavar="FILE", help="the article (UTF-8); - reads standard input")
    p.add_argument("--lang", choices=("zh", "en"), help="language (default: from the locale)")
    p.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    p.set_defaults(run=run)


def read_article(path: str) -> str:
    """The article's text, at most limits.ARTICLE_BYTES (counted while reading: /dev/zero
    and pipes stop there), with line ends made \\n and control characters made visible, so
    that nothing the report quotes from it can drive the terminal (qkv.terminal)."""
    from qkv.cli.output import read_text
    from qkv.terminal import printable

    text = read_text(path, "article", limit=limits.ARTICLE_BYTES)
    return printable(text.replace("\r\n", "\n").replace("\r", "\n"))


def run(args: argparse.Namespace) -> int:
    from qkv.cli.output import check_outputs, write_text
    from qkv.core.lang import default_lang
    from qkv.review.check import check
    from qkv.terminal import printable

    lang = args.lang or default_lang()
    check_outputs(args.output)
    name = "<stdin>" if args.file == "-" else printable(args.file)
    try:
        report = check(read_article(args.file), name)
    except InputError as e:
        if args.format == "json":  # a complete document for every exit code
            from qkv.core.trace import dumps
            from qkv.review.report import EXIT_UNREADABLE, SCHEMA

            doc = {"schema": SCHEMA, "file": name, "exit": EXIT_UNREADABLE, "error": str(e)}
            write_text(dumps(doc), args.output)
        raise
    if args.format == "json":
        from qkv.core.trace import dumps
        from qkv.review.report import to_dict

        write_text(dumps(to_dict(report)), args.output)
    elif args.format == "markdown":
        from qkv.review.report import markdown

        write_text(markdown(report, lang), args.output)
    elif args.output is None:
        from qkv.review.report import print_report

        print_report(report, lang)
    else:
        from qkv.review.report import lines, summary

        write_text("\n".join([summary(report, lang), *lines(report, lang)]), args.output)
    return report.exit_code
