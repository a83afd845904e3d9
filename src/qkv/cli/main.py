"""`qkv <verb>`: parse, call the library, render. Bad input: one line on stderr, exit 2."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from qkv.errors import InputError


def build_parser() -> argparse.ArgumentParser:
    from qkv.cli import check, explain, gpt, serve, viz

    parser = argparse.ArgumentParser(
        prog="qkv",
        description="Attention you can compute by hand, check, see, train and run fast.",
    )
    parser.add_argument("--version", action="version", version="qkv 0.1.0")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    explain.add_parser(sub)
    check.add_parser(sub)
    gpt.add_parser(sub)
    viz.add_parser(sub)
    serve.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(args_list)
    if args.verb is None:
        parser.print_help()
        return 0
    try:
        return int(args.run(args) or 0)
    except InputError as e:
        print(f"qkv {args.verb}: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return 130
