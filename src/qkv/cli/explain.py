"""qkv explain: the hand calculation of attention, step by step."""

from __future__ import annotations

import argparse
import re
from typing import Any

from qkv.errors import InputError

FORMATS = ("text", "markdown", "latex", "html", "json")

EPILOG = """\
examples:
  qkv explain                              the article's 笔记本 example
  qkv explain --example search             the search picture, as cross-attention
  qkv explain --x "[[1,2,1],[0,1,1]]" --tokens 我,爱
  qkv explain --input x.csv --mask causal --expand 2,1 --format markdown
  qkv explain --mask window:1                 each token sees one neighbour on each side
  qkv explain --mask causal+window:1,0        causal, and one token back (a sliding window)
  qkv explain --mask length:2                 the last key is padding
  qkv explain --mask documents:0,0,1          two packed documents: 笔记 | 本
  qkv explain --q "[[1,0]]" --k "[[1,0],[0,1]]" --v "[[5],[7]]"
  qkv explain --example 笔记本 --heads 5 --scale sqrt     five heads of one column each
  qkv explain --x "[[1,0,1,0],[0,1,1,1]]" --heads 2 --wo "[[1,0],[0,1],[1,1],[0,0]]"
  qkv explain --lengths 2,3,3                  padding: query i sees its first n_i keys
  qkv explain --score additive                 Bahdanau: v_a·tanh(W_a^q q + W_a^k k)
  qkv explain --model minilm --text "The cat sat on the mat" --layer 1 --head 1
                                               one head of a real model, its own numbers
  qkv explain --model qkv-gpt --text 我爱吃苹果 --layer 2 --head 1 --query 吃
                                               a qkv gpt run; one query's row written out

matrices: JSON rows "[[1,2],[3,4]]", bracket rows one per line, or CSV; @FILE reads a file.
--expand takes 1-based numbers or token labels (--expand 本,笔).
--model: layers, heads and --query are numbered from 1, as in qkv viz; the result is checked
against the model's own attention weights and head output (a difference beyond float32
rounding is an error, exit 2).
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "explain",
        help="compute attention step by step, with the arithmetic",
        description="Compute attention step by step: every intermediate, with the arithmetic "
        "a person writes by hand, in Chinese or English.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    src = p.add_argument_group("input (default: the article's 笔记本 example)")
    src.add_argument("--example", metavar="NAME", help="a preset: 笔记本 (notebook), search")
    src.add_argument("--list-examples", action="store_true", help="list the presets and exit")
    src.add_argument("--x", metavar="MATRIX", help="X, tokens x d (self-attention)")
    src.add_argument(
        "--input",
        metavar="FILE",
        help="X from a file (JSON, CSV, bracket rows), or a JSON object with "
        "x/q/k/v/wq/wk/wv/wo/wa_q/wa_k/va/mask/tokens/key_tokens",
    )
    for name in ("q", "k", "v"):
        src.add_argument(
            f"--{name}", metavar="MATRIX", help=f"{name.upper()} given directly (cross-attention)"
        )
    for name in ("wq", "wk", "wv"):
        src.add_argument(
            f"--{name}",
            metavar="MATRIX",
            help=f"projection W_{name[1].upper()} (d x d_k), applied to X",
        )
    src.add_argument(
        "--wo",
        metavar="MATRIX",
        help="output projection W_O (d_v x d_out), applied to the (concatenated) heads",
    )
    src.add_argument("--tokens", metavar="A,B,C", help="labels for the rows of X (or Q)")
    src.add_argument("--key-tokens", metavar="A,B,C", help="labels for the rows of K and V")
    opt = p.add_argument_group("options")
    opt.add_argument(
        "--scale",
        metavar="sqrt|none|NUMBER",
        help="multiply scores by 1/sqrt(d_k) (default for your input), 1, or NUMBER",
    )
    opt.add_argument(
        "--mask",
        metavar="SPEC|FILE",
        help="causal (bottom-right aligned), causal-top-left, window:W or window:LEFT,RIGHT "
        "(keys around each query's position), length:N (keys after the first N are padding), "
        "documents:ID,ID,... (one per key: no attention across documents), several joined "
        "with +; or a 0/1 matrix file (1 = may attend), queries x keys",
    )
    opt.add_argument(
        "--heads",
        type=int,
        default=1,
        metavar="H",
        help="split the columns of Q, K, V into H heads (each scaled by 1/sqrt(d_k/H) "
        "unless --scale says otherwise), attend in each, concatenate (default 1)",
    )
    opt.add_argument(
        "--lengths",
        metavar="N|N1,N2,...",
        help="padding mask by valid lengths: query i sees its first N (or N_i) keys",
    )
    opt.add_argument(
        "--score",
        choices=("dot", "additive"),
        default="dot",
        help="dot: Q·Kᵀ (default); additive: Bahdanau's v_a·tanh(W_a^q q + W_a^k k), "
        "not scaled unless --scale is a number",
    )
    for name, what in (
        ("wa-q", "W_a^q (d_q x h; default the identity, h = d_q)"),
        ("wa-k", "W_a^k (d_k x h; default the identity)"),
        ("va", "v_a (h numbers; default all ones)"),
    ):
        opt.add_argument(f"--{name}", metavar="MATRIX", help=f"--score additive: {what}")
    opt.add_argument(
        "--digits",
        type=int,
        default=3,
        metavar="N",
        help="significant digits (default 3); exact numbers stay exact",
    )
    opt.add_argument(
        "--expand",
        metavar="ROW,COL",
        help="show the arithmetic of this entry in every step (default 1,1; 'none' hides it)",
    )
    opt.add_argument("--lang", choices=("zh", "en"), help="language (default: from the locale)")
    opt.add_argument("--format", choices=FORMATS, default="text", help="output format")
    opt.add_argument(
        "--standalone",
        action="store_true",
        help="--format latex: a whole document for xelatex, not fragments to paste",
    )
    opt.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    from qkv.cli import explain_model

    explain_model.add_arguments(p)
    p.set_defaults(run=run)


def _matrix_arg(value: str, name: str) -> list[list[Any]]:
    from qkv.core.parse import parse_matrix

    if value.startswith("@"):
        from qkv.cli.output import read_text

        parsed = parse_matrix(read_text(value[1:], f"--{name} file"), name.upper())
    else:
        parsed = parse_matrix(value, f"--{name}")
    if parsed.labels is not None:
        raise InputError(
            f"--{name}: the first column is not numbers ({_shown(parsed.labels)}); token "
            "labels go in --tokens (or a CSV given with --input)"
        )
    if parsed.columns is not None:
        raise InputError(
            f"--{name}: the first row is not numbers ({_shown(parsed.columns)}); a header "
            "row is read from a CSV given with --input"
        )
    return parsed.rows


def _shown(labels: list[str]) -> str:
    from qkv.core.numbers import short

    return ", ".join(short(t, 12) for t in labels[:3]) + (", …" if len(labels) > 3 else "")


def _mask_file(value: str) -> Any:
    """A 0/1 matrix given as --mask (1 = may attend), queries x keys: inline as --x takes
    it ("[[1,0],[1,1]]"), or a file. A word that is neither ("causl") is said to be so."""
    from pathlib import Path

    from qkv.cli.output import read_text
    from qkv.core.parse import parse_mask

    if value.lstrip().startswith("["):
        return parse_mask(value, "mask")
    if re.fullmatch(r"[A-Za-z][\w:,+-]*", value) and not Path(value).exists():
        raise InputError(
            f"--mask {value[:40]!r} is neither a mask's words (causal, causal-top-left, "
            "window:W, length:N, documents:ID,..., joined with +) nor a file"
        )
    return parse_mask(read_text(value, "--mask file"), "mask")


def _trace_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    from qkv.core.parse import parse_input_file, parse_tokens

    kw: dict[str, Any] = {}
    if args.input is not None:
        from qkv.cli.output import read_text

        text = read_text(args.input, "--input")
        kw.update(parse_input_file(text, args.input))
        if not text.lstrip("\ufeff \t\r\n").startswith("{"):
            if "columns" in kw:
                _note(
                    f"the first row of {args.input} is taken as column names "
                    f"({_shown(kw['columns'])})"
                )
            if "tokens" in kw:
                _note(
                    f"the first column of {args.input} is taken as token labels "
                    f"({_shown(kw['tokens'])})"
                )
    for name in ("x", "q", "k", "v", "wq", "wk", "wv", "wo", "wa_q", "wa_k", "va"):
        value, flag = getattr(args, name), name.replace("_", "-")
        if value is not None:
            if name in kw:
                raise InputError(f"--{flag} is given twice (on the command line and in --input)")
            kw[name] = _matrix_arg(value, flag)
    if args.tokens is not None:
        kw["tokens"] = parse_tokens(args.tokens)
    if args.key_tokens is not None:
        kw["key_tokens"] = parse_tokens(args.key_tokens)
    return kw


def _spec_changes(args: argparse.Namespace, kw: dict[str, Any]) -> dict[str, Any]:
    """What --scale, --mask, --lengths, --heads and --score change in the spec (the parser
    the HTTP API shares: qkv.core.spec); a --mask file, else --input's mask, is the mask."""
    from qkv.core.spec import is_mask_words, spec_changes

    words = args.mask is not None and is_mask_words(args.mask)
    changes = spec_changes(
        mask=args.mask if words else None,
        lengths=args.lengths,
        scale=args.scale,
        heads=args.heads,
        score=args.score,
    )
    given = kw.pop("mask", None)
    if args.mask is not None and not words:
        given = _mask_file(args.mask)
    if given is not None:
        changes["mask"] = given
    return changes


def _note(text: str) -> None:
    """One line on stderr that is not an error: what qkv decided for the user."""
    import sys

    from qkv.terminal import printable

    print(printable(f"qkv explain: note: {text}"), file=sys.stderr)


def _warn_duplicates(trace: Any) -> None:
    """Tokens may repeat (a sentence repeats words), but --expand by label then means the
    first of them: say so."""
    from qkv.core.parse import duplicates

    for what, labels in (("token", trace["q"].rows), ("key token", trace["k"].rows)):
        twice = duplicates(list(labels))
        if twice:
            _note(
                f"{what} {_shown(twice)} appears more than once; --expand by label picks "
                "the first (give numbers to choose)"
            )
            return


def _entry(spec: str, trace: Any) -> tuple[int, int] | None:
    from qkv.core.expand import find_index

    if spec.strip().lower() == "none":
        return None
    parts = [s for s in spec.replace("，", ",").split(",")]
    if len(parts) != 2:
        raise InputError(f"--expand {spec!r}: give ROW,COL such as 1,2 or 本,笔")
    rows, cols = trace.first("scores").rows, trace.first("scores").cols
    try:
        return find_index(rows, parts[0], "--expand row"), find_index(
            cols, parts[1], "--expand column"
        )
    except ValueError as e:
        raise InputError(str(e)) from None


def run(args: argparse.Namespace) -> int:
    from qkv.core.lang import default_lang

    lang = args.lang or default_lang()
    if args.list_examples:
        return _list_examples(lang)
    if not 1 <= args.digits <= 15:
        raise InputError(f"--digits must be between 1 and 15, not {args.digits}")
    if args.standalone and args.format != "latex":
        raise InputError("--standalone makes a whole LaTeX document: give --format latex too")
    from qkv.cli import explain_model

    if explain_model.wanted(args):
        return explain_model.run(args, lang)
    from qkv.cli.output import check_outputs

    check_outputs(args.output)
    trace = _make_trace(args, lang)
    _warn_duplicates(trace)
    entry = _entry(args.expand or "1,1", trace)
    if args.format == "text" and args.output is None:
        from qkv.render import show

        show(trace, lang=lang, digits=args.digits, entry=entry)
        return 0
    from qkv.cli.output import write_text
    from qkv.render import render

    text = render(
        trace, args.format, lang=lang, digits=args.digits, entry=entry, standalone=args.standalone
    )
    write_text(text, args.output)
    return 0


def _make_trace(args: argparse.Namespace, lang: str) -> Any:
    from qkv.core.examples import DEFAULT_EXAMPLE, find_example
    from qkv.core.spec import AttentionSpec
    from qkv.core.trace import trace

    kw = _trace_kwargs(args)
    changes = _spec_changes(args, kw)
    has_input = any(n in kw for n in ("x", "q", "k", "v"))
    if has_input and args.example:
        raise InputError("give either --example or your own matrices, not both")
    if not has_input:
        extra = sorted(set(kw) - {"tokens", "wo", "wa_q", "wa_k", "va"})
        if extra:
            flag = extra[0].replace("_", "-")
            raise InputError(f"--{flag} needs --x or --q/--k/--v (or --input)")
        example = find_example(args.example or DEFAULT_EXAMPLE)
        return example.trace(lang, spec=example.spec.replace(**changes), **kw)
    return trace(**kw, spec=AttentionSpec().replace(**changes))


def _list_examples(lang: str) -> int:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from qkv.core.examples import EXAMPLES
    from qkv.render.messages import t

    table = Table(title=t(lang, "examples.title"), show_header=False, box=None)
    for e in EXAMPLES:
        names = ", ".join((e.name, *e.aliases))
        table.add_row(Text(names, style="bold"), Text(e.summary[lang]))
    Console().print(table)
    return 0
