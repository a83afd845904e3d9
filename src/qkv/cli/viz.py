"""qkv viz: heatmaps, per-head numbers and offline HTML views of attention."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from typing import Any

from qkv.cli.output import say
from qkv.errors import InputError
from qkv.terminal import printable


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
    return maps


def _save_maps(args: argparse.Namespace, maps: Any) -> None:
    """--save, once what was asked for is made (a refused request writes nothing)."""
    if args.save and maps is not None:
        maps.save(args.save)


def _check_args(args: argparse.Namespace) -> None:
    """Everything that can be refused before any work: no output is half made."""
    from qkv.cli.output import check_outputs

    if args.text is not None and args.model is None:
        raise InputError("--text is the text for --model; give --model too (e.g. --model minilm)")
    if args.save is not None and args.maps is None and args.model is None:
        raise InputError("--save writes the maps of --maps or --model; there are none here")
    if args.view in ("model", "head", "trace"):
        if args.output is None or not args.output.endswith(".html"):
            raise InputError("-o FILE.html is needed for a page")
    elif args.output is not None:
        from qkv.viz.heatmap import check_picture

        check_picture(args.output)
    elif args.view == "heatmap":
        raise InputError("-o FILE is needed for a picture (.png, .svg or .pdf)")
    check_outputs(args.output, args.save)
    if args.output is not None and not args.output.endswith(".html"):
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise InputError("pictures need matplotlib: pip install 'qkv[viz]'") from None


def run(args: argparse.Namespace) -> int:
    _check_args(args)
    if args.view == "summary":
        return _summary(args)
    if args.view in ("model", "head", "trace"):
        return _page(args)
    from qkv.viz.heatmap import maps_heatmap, save, trace_heatmap

    with warnings_as_lines():
        maps = _maps(args)
        if maps is not None:
            fig = maps_heatmap(maps, args.layer - 1, args.head - 1)
        else:
            from qkv.core.examples import DEFAULT_EXAMPLE, find_example

            example = find_example(args.example or DEFAULT_EXAMPLE)
            fig = trace_heatmap(example.trace(args.lang), args.step)
        _save_maps(args, maps)
        path = save(fig, args.output)  # matplotlib warns while drawing (a missing glyph)
    say(str(path))
    return 0


@contextlib.contextmanager
def warnings_as_lines() -> Iterator[None]:
    """Python warnings (matplotlib's, qkv's CJK font one) as one plain line each on stderr,
    not in Python's file:line form; after the work, so that an error stays one line."""
    import sys
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for text in dict.fromkeys(str(w.message) for w in caught):
        print(printable(f"qkv viz: warning: {' '.join(text.split())}"), file=sys.stderr)


def _summary(args: argparse.Namespace) -> int:
    import json
    import sys

    from qkv.viz.summary import summarise

    maps = _maps(args)
    if maps is None:
        raise InputError("--view summary needs --maps FILE.npz or --model with --text")
    rows = summarise(maps)
    with warnings_as_lines():
        figure = None
        if args.output is not None:  # a small plot: entropy per layer and head
            from qkv.viz.summary import summary_figure

            figure = summary_figure(maps)
        _save_maps(args, maps)
        if figure is not None:
            from qkv.viz.heatmap import save

            print(printable(str(save(figure, args.output))), file=sys.stderr)
    if args.format == "json":
        print(
            json.dumps(
                {"schema": "qkv.summary/1", "heads": [r.to_dict() for r in rows]},
                indent=2,
                allow_nan=False,  # valid JSON or an error, never a bare NaN
            )
        )
        return 0
    # plain columns, not a rich Table: a model of 48 layers x 64 heads is 3,072 rows
    names = ("layer", "head", "entropy (bits)", "first", "previous", "same", "distance")
    widths = [max(len(n), 5) for n in names]
    lines = ["  ".join(n.rjust(w) for n, w in zip(names, widths, strict=True))]
    for r in rows:
        values = (r.entropy, r.first, r.previous, r.same, r.distance)
        cells = (str(r.layer), str(r.head), *(f"{v:.2f}" for v in values))
        lines.append("  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)))
    print("\n".join(lines))
    return 0


def _page(args: argparse.Namespace) -> int:
    """An offline HTML page: the model and head views of maps, or a preset's hand calculation."""
    from qkv.cli.output import write_text

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

        title = str(maps.meta.get("text") or maps.meta.get("prompt") or "attention")
        text = page(
            maps,
            title=f"{title} ({maps.layers} layers x {maps.heads} heads)",
            view=args.view,
            layer=args.layer - 1,
            head=args.head - 1,
        )
        _save_maps(args, maps)
    write_text(text, args.output)
    say(args.output)
    return 0
