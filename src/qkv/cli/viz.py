"""qkv viz: heatmaps, per-head numbers and offline HTML views of attention."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from typing import Any

from qkv.cli.output import say
from qkv.errors import InputError
from qkv.terminal import printable

# Also in qkv.viz.heatmap (asserted equal in tests): --help must not import matplotlib.
DEFAULT_DPI, MIN_DPI, MAX_DPI = 150, 50, 600
MAP_VIEWS = ("summary", "model", "head")  # views drawn from maps (a preset's too)

# What the columns of --view summary mean (qkv.viz.summary.HeadSummary): under the table and in
# --help, since "first" or "same" alone says little.
LEGEND = (
    "entropy: how spread each query's weights are, in bits (0: one key takes everything); "
    "first, previous, same: the average weight on the first token, on the token just before "
    "the query, and on the query's own token (0 to 1); distance: how far away the attended "
    "keys are, the average |query - key| in tokens, weighted by attention. All are means over "
    "the queries."
)


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "viz",
        help="pictures and pages: a hand-calculation step, saved or real-model attention",
        description="Draw attention: a heatmap (PNG, SVG or PDF, by -o's suffix), per-head "
        "numbers (--view summary), or an offline HTML page (--view model, head, trace or "
        "neuron). Sources: a preset's hand calculation (--example; every view), saved maps "
        "(--maps), or a real model (--model, --text).",
        epilog=f"--view summary columns: {LEGEND}",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--example",
        metavar="NAME",
        help="a preset of qkv explain (default 笔记本, also spelt bijiben; or search); its "
        "weights are one layer's maps for --view summary, model and head",
    )
    src.add_argument("--maps", metavar="FILE.npz", help="attention maps saved by qkv")
    src.add_argument(
        "--model",
        metavar="NAME",
        help="a Hugging Face model: minilm (offline, the hf extra) or a local model folder "
        "(encoder, decoder or encoder–decoder); with --text",
    )
    src.add_argument(
        "--loss",
        metavar="RUN_DIR",
        help="the loss curve of a qkv gpt train folder (its log.csv, or the file); -o .png/.svg",
    )
    p.add_argument("--text", help="the text for --model")
    p.add_argument(
        "--target",
        metavar="TEXT",
        help="an encoder–decoder's decoder text (default: --text)",
    )
    p.add_argument(
        "--part",
        choices=("encoder", "decoder", "cross"),
        help="an encoder–decoder's attention to show (default cross: decoder queries, "
        "encoder keys)",
    )
    p.add_argument("--save", metavar="FILE.npz", help="also save the attention maps")
    p.add_argument("--step", default="weights", help="the Trace step to draw (default weights)")
    p.add_argument("--layer", type=int, default=1, help="1-based layer of --maps")
    p.add_argument("--head", type=int, default=1, help="1-based head of --maps")
    p.add_argument("--lang", choices=("zh", "en"), help="labels of the presets")
    p.add_argument(
        "--view",
        choices=("heatmap", "summary", "model", "head", "trace", "neuron"),
        default="heatmap",
        help="heatmap (a picture), summary (per-head numbers), model or head (an offline "
        "HTML page of all layers and heads), trace (the hand calculation of --example), "
        "neuron (how q·k builds one score of --example, dimension by dimension)",
    )
    p.add_argument(
        "--query",
        default="1",
        metavar="I",
        help="--view neuron: the query shown first (1-based number or token; default 1)",
    )
    p.add_argument(
        "--key",
        default="1",
        metavar="J",
        help="--view neuron: the key shown first (1-based number or token; default 1)",
    )
    p.add_argument("--format", choices=("text", "json"), default="text", help="for summary")
    p.add_argument(
        "--dpi",
        type=int,
        metavar="N",
        help=f"pixels per inch of a picture (default {DEFAULT_DPI}; {MIN_DPI} to {MAX_DPI}); "
        "SVG and PDF are vector, their text stays sharp",
    )
    p.add_argument(
        "-o", "--output", metavar="FILE", help="the picture (.png, .svg, .pdf) or page (.html)"
    )
    p.set_defaults(run=run)


def _maps(args: argparse.Namespace, preset: bool = False) -> Any:
    """AttentionMaps from --maps or --model/--text; with ``preset``, a preset's weights when
    neither is given (one layer, a map per head); else None for a preset."""
    from qkv.maps import AttentionMaps

    if args.model is not None:
        if not args.text:
            raise InputError("--model needs --text")
        from qkv.hf import attention_maps

        maps = attention_maps(args.model, args.text, target=args.target, part=args.part)
    elif args.maps is not None:
        maps = AttentionMaps.load(args.maps)
    elif preset:
        from qkv.core.examples import DEFAULT_EXAMPLE, find_example

        maps = AttentionMaps.from_trace(
            find_example(args.example or DEFAULT_EXAMPLE).trace(args.lang)
        )
    else:
        return None
    return maps


def _save_maps(args: argparse.Namespace, maps: Any) -> None:
    """--save, once what was asked for is made (a refused request writes nothing)."""
    if args.save and maps is not None:
        maps.save(args.save)


def _check_sources(args: argparse.Namespace) -> None:
    """Options that belong to a source given without it."""
    if (args.target is not None or args.part is not None) and args.model is None:
        raise InputError("--target and --part are for --model (an encoder–decoder)")
    if args.text is not None and args.model is None:
        raise InputError("--text is the text for --model; give --model too (e.g. --model minilm)")
    preset = args.maps is None and args.model is None
    if args.save is not None and preset and args.view not in MAP_VIEWS:
        raise InputError(
            "--save writes attention maps: of --maps, --model, or a preset with "
            "--view summary, model or head"
        )


def _check_args(args: argparse.Namespace) -> None:
    """Everything that can be refused before any work: no output is half made."""
    from qkv.cli.output import check_outputs

    _check_sources(args)
    if args.loss is not None and (args.view != "heatmap" or args.output is None):
        raise InputError("--loss draws a picture: give -o loss.png (or .svg, .pdf), no --view")
    if args.view in ("model", "head", "trace", "neuron"):
        if args.output is None or not args.output.endswith(".html"):
            raise InputError("-o FILE.html is needed for a page")
    elif args.output is not None:
        from qkv.viz.heatmap import check_picture

        check_picture(args.output)
    elif args.view == "heatmap":
        raise InputError("-o FILE is needed for a picture (.png, .svg or .pdf)")
    check_outputs(args.output, args.save)
    _check_dpi(args)
    if args.output is not None and not args.output.endswith(".html"):
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise InputError("pictures need matplotlib: pip install 'qkv[viz]'") from None


def _check_dpi(args: argparse.Namespace) -> None:
    """--dpi goes with a picture, within MIN_DPI..MAX_DPI (its pixels are checked on save)."""
    if args.dpi is None:
        return
    if args.output is None or args.output.endswith(".html"):
        raise InputError("--dpi is for pictures: -o FILE.png (or .svg, .pdf)")
    if not MIN_DPI <= args.dpi <= MAX_DPI:
        raise InputError(f"--dpi {args.dpi}: choose {MIN_DPI} to {MAX_DPI} (default {DEFAULT_DPI})")


def run(args: argparse.Namespace) -> int:
    _check_args(args)
    if args.loss is not None:
        return _loss(args)
    if args.view == "summary":
        return _summary(args)
    if args.view == "neuron":
        return _neuron(args)
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
        # matplotlib warns while drawing (a missing glyph)
        path = save(fig, args.output, args.dpi or DEFAULT_DPI)
    say(str(path))
    return 0


def _neuron(args: argparse.Namespace) -> int:
    """The neuron view of a preset: one query's and one key's dot product, term by term."""
    from qkv.cli.output import write_text
    from qkv.core.examples import DEFAULT_EXAMPLE, find_example
    from qkv.core.expand import find_index
    from qkv.viz.neuron import neuron_page

    if args.maps is not None or args.model is not None:
        raise InputError("--view neuron shows a preset's q and k (--example); maps hold no q, k")
    example = find_example(args.example or DEFAULT_EXAMPLE)
    trace = example.trace(args.lang)
    try:
        i = find_index(trace.first("scores").rows, args.query, "--query")
        j = find_index(trace.first("scores").cols, args.key, "--key")
    except ValueError as e:
        raise InputError(str(e)) from None
    write_text(neuron_page(trace, i, j, title=f"q·k of {example.name}"), args.output)
    say(args.output)
    return 0


def _loss(args: argparse.Namespace) -> int:
    from qkv.losslog import read
    from qkv.viz.heatmap import save
    from qkv.viz.loss import loss_figure

    rows = read(args.loss)
    with warnings_as_lines():
        path = save(loss_figure(rows, title=str(args.loss)), args.output, args.dpi or DEFAULT_DPI)
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
        # off in Python by default: a file some earlier code left open, collected now, is not
        # this picture's business (it showed up as a warning line in a long test run)
        warnings.simplefilter("ignore", ResourceWarning)
        yield
    for text in dict.fromkeys(str(w.message) for w in caught):
        print(printable(f"qkv viz: warning: {' '.join(text.split())}"), file=sys.stderr)


def _summary(args: argparse.Namespace) -> int:
    import json
    import sys

    from qkv.viz.summary import summarise

    maps = _maps(args, preset=True)
    rows = summarise(maps)
    with warnings_as_lines():
        figure = None
        if args.output is not None:  # a small plot: entropy per layer and head
            from qkv.viz.summary import summary_figure

            figure = summary_figure(maps)
        _save_maps(args, maps)
        if figure is not None:
            from qkv.viz.heatmap import save

            path = save(figure, args.output, args.dpi or DEFAULT_DPI)
            print(printable(str(path)), file=sys.stderr)
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
    lines.append("")
    lines.append(LEGEND)
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
        maps = _maps(args, preset=True)
        from qkv.viz.page import page, shape_text

        meta = maps.meta
        title = str(meta.get("text") or meta.get("prompt") or meta.get("example") or "attention")
        text = page(
            maps,
            title=f"{title} ({shape_text(maps)})",
            view=args.view,
            layer=args.layer - 1,
            head=args.head - 1,
        )
        _save_maps(args, maps)
    write_text(text, args.output)
    say(args.output)
    return 0
