"""qkv viz: pictures of a hand-calculation step or of saved attention maps."""

from __future__ import annotations

import argparse
from typing import Any

from qkv.errors import InputError


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "viz",
        help="draw a step of the hand calculation, or saved attention maps",
        description="Draw attention as a heatmap (PNG, SVG or PDF, chosen by -o's suffix). "
        "Source: a preset (--example), or a .npz from `qkv gpt attention` (--maps).",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--example", metavar="NAME", help="a preset of qkv explain (default 笔记本)")
    src.add_argument("--maps", metavar="FILE.npz", help="attention maps saved by qkv")
    p.add_argument("--step", default="weights", help="the Trace step to draw (default weights)")
    p.add_argument("--layer", type=int, default=1, help="1-based layer of --maps")
    p.add_argument("--head", type=int, default=1, help="1-based head of --maps")
    p.add_argument("--lang", choices=("zh", "en"), help="labels of the presets")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help=".png, .svg or .pdf")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        from qkv.viz.heatmap import maps_heatmap, save, trace_heatmap
    except ImportError:
        raise InputError("qkv viz needs matplotlib: pip install 'qkv[viz]'") from None
    import sys
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if args.maps is not None:
            from qkv.maps import AttentionMaps

            fig = maps_heatmap(AttentionMaps.load(args.maps), args.layer - 1, args.head - 1)
        else:
            from qkv.core.examples import find_example
            from qkv.render.messages import default_lang

            example = find_example(args.example or "笔记本")
            fig = trace_heatmap(example.trace(args.lang or default_lang()), args.step)
    for w in caught:  # one plain line each, not Python's file:line form
        print(f"qkv viz: warning: {w.message}", file=sys.stderr)
    print(save(fig, args.output))
    return 0
