"""`qkv explain --model`: one head of a real model by hand (qkv.inside), rendered as the hand
calculation is. Layers, heads and queries are numbered from 1, as in `qkv viz`."""

from __future__ import annotations

import argparse
from typing import Any

from qkv.errors import InputError

# Options of the hand calculation that a model's head has no use for (its own numbers are
# the input), with their flags, for one clear line when they are given together.
HAND_ONLY = {
    "example": "--example", "x": "--x", "input": "--input", "q": "--q", "k": "--k",
    "v": "--v", "wq": "--wq", "wk": "--wk", "wv": "--wv", "wo": "--wo", "tokens": "--tokens",
    "key_tokens": "--key-tokens", "scale": "--scale", "mask": "--mask", "lengths": "--lengths",
    "wa_q": "--wa-q", "wa_k": "--wa-k", "va": "--va", "expand": "--expand",
}  # fmt: skip
MODEL_ONLY = {"text": "--text", "layer": "--layer", "head": "--head", "query": "--query",
              "columns": "--columns"}  # fmt: skip


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "a real model's head (the hf extra for Hugging Face models, torch for qkv gpt runs)"
    )
    g.add_argument(
        "--model",
        metavar="NAME|PATH|RUN",
        help="minilm (all-MiniLM-L6-v2, offline), a local Hugging Face folder (BERT-style "
        "or GPT-2) or a qkv gpt run folder (e.g. qkv-gpt); with --text",
    )
    g.add_argument("--text", help="the text the model reads")
    g.add_argument("--layer", type=int, metavar="L", help="the layer, from 1 (default 1)")
    g.add_argument("--head", type=int, metavar="H", help="the head, from 1 (default 1)")
    g.add_argument(
        "--query",
        metavar="I",
        help="write out this query's row entry by entry: products, running sums, softmax "
        "terms, output (a number from 1 or a token)",
    )
    g.add_argument(
        "--columns",
        metavar="A-B,...|all",
        help="the dimensions shown of wide matrices (X is tokens x 384 in MiniLM): ranges "
        "from 1 such as 1-8,380-384, or all (default: those that fit; html and json: all)",
    )


def wanted(args: argparse.Namespace) -> bool:
    """Is this a model's head (--model, or an option only it takes)?"""
    return args.model is not None or any(getattr(args, k) is not None for k in MODEL_ONLY)


def _check(args: argparse.Namespace) -> None:
    if args.model is None:
        given = next(flag for k, flag in MODEL_ONLY.items() if getattr(args, k) is not None)
        raise InputError(f"{given} is for a real model's head: give --model too (e.g. minilm)")
    hand = [flag for k, flag in HAND_ONLY.items() if getattr(args, k, None) is not None]
    if args.heads != 1 or args.score != "dot":
        hand.append("--heads" if args.heads != 1 else "--score")
    if hand:
        raise InputError(f"{hand[0]} is for the hand calculation's own matrices, not --model")
    if not args.text or not args.text.strip():
        raise InputError("--model needs --text, the text the model reads")
    for name in ("layer", "head"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise InputError(f"--{name} {value}: layers and heads are numbered from 1")


def run(args: argparse.Namespace, lang: str) -> int:
    """Explain the head, render it as --format asks, print or write it."""
    from qkv.cli.output import check_outputs

    _check(args)
    check_outputs(args.output)
    from qkv.inside import explain_model

    e = explain_model(args.model, args.text, args.layer or 1, args.head or 1, args.query, lang=lang)
    _warn_duplicates(e, args.query)
    if args.format == "text" and args.output is None:
        _show(e, args, lang)
        return 0
    from qkv.cli.output import write_text
    from qkv.render.model import render_model

    text = render_model(
        e,
        args.format,
        lang=lang,
        digits=args.digits,
        columns=args.columns,
        standalone=args.standalone,
    )
    write_text(text, args.output)
    return 0


def _show(e: Any, args: argparse.Namespace, lang: str) -> None:
    """The terminal: as many columns as its width holds (unless --columns says)."""
    from rich.console import Console

    from qkv.render.model import model_document
    from qkv.render.text import print_document

    console = Console()
    doc = model_document(
        e, "text", lang=lang, digits=args.digits, columns=args.columns, width=console.width
    )
    print_document(doc, console)


def _warn_duplicates(e: Any, query: str | None) -> None:
    """A token that repeats, named by --query, means its first occurrence: say so."""
    import sys

    from qkv.terminal import printable

    if query is not None and not query.strip().isdigit() and e.tokens.count(query.strip()) > 1:
        note = (
            f"qkv explain: note: {query.strip()!r} appears {e.tokens.count(query.strip())} "
            f"times; --query by token takes the first (give its number to choose)"
        )
        print(printable(note), file=sys.stderr)
