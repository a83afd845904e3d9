"""qkv check: review an article's hand-computed attention."""

from __future__ import annotations

import argparse
from typing import Any

from qkv.errors import InputError

MAX_BYTES = 5_000_000


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


def run(args: argparse.Namespace) -> int:
    from qkv.cli.output import read_text, write_text
    from qkv.core.lang import default_lang
    from qkv.review.check import check

    lang = args.lang or default_lang()
    name = "<stdin>" if args.file == "-" else args.file
    try:
        report = check(read_text(args.file, "article", limit=MAX_BYTES), name)
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
