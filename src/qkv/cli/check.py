"""qkv check: review an article's hand-computed attention."""

from __future__ import annotations

import argparse
from typing import Any

MAX_BYTES = 5_000_000


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


def run(args: argparse.Namespace) -> int:
    from qkv.cli.output import read_text, write_text
    from qkv.core.lang import default_lang
    from qkv.review.check import check

    lang = args.lang or default_lang()
    text = read_text(args.file, "article", limit=MAX_BYTES)
    report = check(text, "<stdin>" if args.file == "-" else args.file)
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
