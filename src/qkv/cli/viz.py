"""qkv viz: heatmaps, per-head numbers and offline HTML views of attention."""

from __future__ import annotations

import argparse
from typing import Any

from qkv.errors import InputError


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "viz",
        help="pictures and pages: a hand-calculation step, saved or real-model attention",
        description="Draw attention: a heatmap (PNG, SVG or PDF, by -o's suffix), per-head "
        "numbers (--view summary), or an offline HTML page (--view model, head or trace). "
        "Sources: a preset (--example), saved maps (--maps), or a real model (--model, --text).",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--example", metavar="NAME", help="a preset of qkv explain (default 笔记本)")
    src.add_argument("--maps", metavar="FILE.npz", help="attention maps saved by qkv")
    src.add_argument(
        "--model",
        metavar="NAME",
        help="a Hugging Face model: minilm (offline, the hf extra) or a local folder; with --text",
    )
    p.add_argument("--text", help="the text for --model")
    p.add_argument("--save", metavar="FILE.npz", help="also save the attention maps")
    p.add_argument("--step", default="weights", help="the Trace step to draw (default weights)")
    p.add_argument("--layer", type=int, default=1, help="1-based layer of --maps")
    p.add_argument("--head", type=int, default=1, help="1-based head of --maps")
    p.add_argument("--lang", choices=("zh", "en"), help="labels of the presets")
    p.add_argument(
        "--view",
        choices=("heatmap", "summary", "model", "head", "trace"),
        default="heatmap",
        help="heatmap (a picture), summary (per-head numbers), model or head (an offline "
        "HTML page of all layers and heads), trace (the hand calculation of --example)",
    )
    p.add_argument("--format", choices=("text", "json"), default="text", help="for summary")
    p.add_argument(
        "-o", "--output", metavar="FILE", help="the picture (.png, .svg, .pdf) or page (.html)"
    )
    p.set_defaults(run=run)


def _maps(args: argparse.Namespace) -> Any:
    """AttentionMaps from --maps or --model/--text, or None for a preset."""
    from qkv.maps import AttentionMaps

    if args.model is not None:
        if not args.text:
            raise InputError("--model needs --text")
        from qkv.hf import attention_maps

        maps = attention_maps(args.model, args.text)
    elif args.maps is not None:
        maps = AttentionMaps.load(args.maps)
    else:
        return None
    if args.save:
        maps.save(args.save)
    return maps


def run(args: argparse.Namespace) -> int:
    if args.view == "summary":
        return _summary(args)
    if args.view in ("model", "head", "trace"):
        return _page(args)
    if args.output is None:
        raise InputError("-o FILE is needed for a picture (.png, .svg or .pdf)")
    try:
        from qkv.viz.heatmap import maps_heatmap, save, trace_heatmap
    except ImportError:
        raise InputError("qkv viz needs matplotlib: pip install 'qkv[viz]'") from None
    import sys
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        maps = _maps(args)
        if maps is not None:
            fig = maps_heatmap(maps, args.layer - 1, args.head - 1)
        else:
            from qkv.core.examples import DEFAULT_EXAMPLE, find_example

            example = find_example(args.example or DEFAULT_EXAMPLE)
            fig = trace_heatmap(example.trace(args.lang), args.step)
    for w in caught:  # one plain line each, not Python's file:line form
        print(f"qkv viz: warning: {w.message}", file=sys.stderr)
    print(save(fig, args.output))
    return 0


def _summary(args: argparse.Namespace) -> int:
    import json
    import sys

    from qkv.viz.summary import summarise

    maps = _maps(args)
    if maps is None:
        raise InputError("--view summary needs --maps FILE.npz or --model with --text")
    rows = summarise(maps)
    if args.output is not None:  # a small plot: entropy per layer and head
        from qkv.viz.heatmap import save
        from qkv.viz.summary import summary_figure

        print(save(summary_figure(maps), args.output), file=sys.stderr)
    if args.format == "json":
        print(
            json.dumps({"schema": "qkv.summary/1", "heads": [r.to_dict() for r in rows]}, indent=2)
        )
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, header_style="bold cyan")
    for name in ("layer", "head", "entropy (bits)", "first", "previous", "same", "distance"):
        table.add_column(name, justify="right")
    for r in rows:
        table.add_row(
            str(r.layer),
            str(r.head),
            f"{r.entropy:.2f}",
            f"{r.first:.2f}",
            f"{r.previous:.2f}",
            f"{r.same:.2f}",
            f"{r.distance:.2f}",
        )
    Console().print(table)
    return 0


def _page(args: argparse.Namespace) -> int:
    """An offline HTML page: the model and head views of maps, or a preset's hand calculation."""
    from qkv.cli.output import write_text

    if args.output is None or not args.output.endswith(".html"):
        raise InputError("-o FILE.html is needed for a page")
    if args.view == "trace":
        if args.maps is not None or args.model is not None:
            raise InputError("--view trace draws a preset (--example), not attention maps")
        from qkv.core.examples import DEFAULT_EXAMPLE, find_example
        from qkv.render import render

        trace = find_example(args.example or DEFAULT_EXAMPLE).trace(args.lang)
        text = render(trace, "html", lang=args.lang)
    else:
        maps = _maps(args)
        if maps is None:
            raise InputError(f"--view {args.view} needs --maps FILE.npz or --model with --text")
        from qkv.viz.page import page

        title = maps.meta.get("text") or maps.meta.get("prompt") or "attention"
        text = page(
            maps,
            title=f"{title} ({maps.layers} layers x {maps.heads} heads)",
            view=args.view,
            layer=args.layer - 1,
            head=args.head - 1,
        )
    write_text(text, args.output)
    print(args.output)
    return 0
