"""qkv check: review an article's hand-computed attention."""

from __future__ import annotations

import argparse
from typing import Any

from qkv import limits


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "check",
        help="find the wrong numbers in an article's hand-computed attention",
        description="Read an article (Markdown or plain text), find its matrices, recompute "
        "them with qkv.core and report every number that is wrong at the precision it was "
        "written with. Exit code: 0 all right, 1 findings, 2 unreadable input.",
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
    text = read_article(args.file)
    report = check(text, "<stdin>" if args.file == "-" else printable(args.file))
    if args.format == "json":
        from qkv.core.trace import dumps

        write_text(dumps(report.to_dict()), args.output)
    elif args.format == "markdown":
        from qkv.review.report import markdown

        write_text(markdown(report, lang), args.output)
    elif args.output is None:
        from qkv.review.report import print_report

        print_report(report, lang)
    else:
        from qkv.review.report import lines

        write_text("\n".join(lines(report, lang)), args.output)
    return 0 if report.ok else 1
