"""qkv check: review an article's hand-computed attention."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from qkv.errors import InputError

if TYPE_CHECKING:
    from qkv.review.report import Report


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
    p.add_argument(
        "files",
        metavar="FILE",
        nargs="+",
        help="the articles (UTF-8), checked one after another in one process with a summary "
        "table at the end; - reads standard input. The exit code is the worst of theirs "
        "(2 before 1 before 3 before 0)",
    )
    p.add_argument("--lang", choices=("zh", "en"), help="language (default: from the locale)")
    p.add_argument(
        "--format",
        choices=("text", "markdown", "json"),
        default="text",
        help="text (default), markdown (a review comment) or json (schema qkv.check/2; "
        "for several files qkv.check-files/1, which lists them)",
    )
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from qkv.cli.output import check_outputs
    from qkv.core.lang import default_lang

    lang = args.lang or default_lang()
    check_outputs(args.output)
    if args.files.count("-") > 1:
        raise InputError("standard input (-) can be read only once")
    if len(args.files) == 1:
        return _one(args.files[0], args, lang)
    return _many(args.files, args, lang)


def _name(path: str) -> str:
    from qkv.terminal import printable

    return "<stdin>" if path == "-" else printable(path)


def _report(path: str) -> Report:
    from qkv.review.api import read_article
    from qkv.review.check import check

    return check(read_article(path), _name(path))


def _one(path: str, args: argparse.Namespace, lang: str) -> int:
    from qkv.cli.output import write_text
    from qkv.core.trace import dumps
    from qkv.review import report as r

    try:
        report = _report(path)
    except InputError as e:
        if args.format == "json":  # a complete document for every exit code
            write_text(dumps(_unreadable(path, e)), args.output)
        raise
    if args.format == "json":
        write_text(dumps(r.to_dict(report)), args.output)
    elif args.format == "markdown":
        write_text(r.markdown(report, lang), args.output)
    elif args.output is None:
        r.print_report(report, lang)
    else:
        write_text("\n".join([r.summary(report, lang), *r.lines(report, lang)]), args.output)
    return report.exit_code


def _unreadable(path: str, e: InputError) -> dict[str, object]:
    from qkv.review.report import EXIT_UNREADABLE, SCHEMA

    return {"schema": SCHEMA, "file": _name(path), "exit": EXIT_UNREADABLE, "error": str(e)}


def _many(paths: list[str], args: argparse.Namespace, lang: str) -> int:
    """Each article in turn (one bad file is an error line, not the end), then a table of
    all; an output file is written once, at the end."""
    from qkv.cli.output import write_text
    from qkv.core.trace import dumps
    from qkv.review import report as r

    reports: list[Report | None] = []
    unreadable: dict[int, dict[str, object]] = {}  # the JSON of each file that cannot be read
    parts: list[str] = []
    for k, path in enumerate(paths):
        try:
            report = _report(path)
        except InputError as e:
            sys.stdout.flush()  # the error line stands after the reports before it
            print(f"qkv check: {_name(path)}: error: {e}", file=sys.stderr)
            reports.append(None)
            unreadable[k] = _unreadable(path, e)
            continue
        reports.append(report)
        parts += _part(report, args, lang)
    codes = [r.EXIT_UNREADABLE if x is None else x.exit_code for x in reports]
    worst = max(codes, key=r.SEVERITY.index)
    if args.format == "json":
        files = [unreadable[k] if x is None else r.to_dict(x) for k, x in enumerate(reports)]
        write_text(dumps({"schema": r.FILES_SCHEMA, "exit": worst, "files": files}), args.output)
        return worst
    rows = [r.file_row(_name(p), x, lang) for p, x in zip(paths, reports, strict=True)]
    if args.format == "markdown":
        parts.append(r.files_markdown(rows, lang))
    elif args.output is not None:
        parts.append(r.files_text(rows, lang))
    else:
        r.print_files(rows, lang)
    if parts:
        write_text("\n".join(parts), args.output)
    return worst


def _part(report: Report, args: argparse.Namespace, lang: str) -> list[str]:
    """One article's report: printed now on a terminal, else kept for the output."""
    from qkv.review import report as r

    if args.format == "markdown":
        return [r.markdown(report, lang)]
    if args.format == "json":
        return []
    if args.output is None:
        r.print_report(report, lang)
        print()
        return []
    return [r.title(report, lang), r.summary(report, lang), *r.lines(report, lang), ""]
