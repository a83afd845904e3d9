"""Routes of the hand calculation: /api/trace, /api/layout, /api/expand, /api/examples,
/api/scale. Answers are computed by qkv.core (and laid out by qkv.render), then cached: the
same preset or the same body gives the same bytes."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import asdict
from functools import lru_cache
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from qkv.errors import InputError
from qkv.serve import limits
from qkv.serve.gate import compute
from qkv.serve.hand import INPUTS, Options, make_trace, read_body

router = APIRouter(prefix="/api", tags=["hand calculation"])
CACHED_BODY = 16_384  # bodies up to this size are cached with their answer,
CACHED_ANSWER = 131_072  # answers up to this size: 256 of them hold at most ~37 MB
FORMATS = {
    "json": ("application/json", "json"),
    "markdown": ("text/markdown; charset=utf-8", "md"),
    "latex": ("application/x-latex; charset=utf-8", "tex"),
    "html": ("text/html; charset=utf-8", "html"),
    "png": ("image/png", "png"),
}
_png_lock = threading.Lock()  # matplotlib figures are drawn one at a time

BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"type": "object"},
                "example": {"x": [[1, 2, 1], [0, 1, 1]], "tokens": ["我", "爱"]},
            }
        },
        "description": "A `qkv explain --input` object: x (self-attention) or q, k, v "
        "(cross-attention), optional wq/wk/wv, mask (0/1, 1 = may attend), tokens, "
        "key_tokens. Numbers are kept exact as written (0.1 is 1/10).",
    }
}


def to_json(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


async def options(  # async: no I/O, so no hop to a worker thread per request
    example: Annotated[str | None, Query(description="a preset: 笔记本 (notebook), search")] = None,
    lang: Annotated[str, Query(description="zh or en: labels and words")] = "en",
    scale: Annotated[str | None, Query(description="sqrt, none or a number")] = None,
    mask: Annotated[
        str,
        Query(
            description="none, causal, causal-top-left, window, or `qkv explain --mask` words "
            "joined with + (causal+window:1,0, length:N, documents:ID,ID,...)"
        ),
    ] = "none",
    window: Annotated[int, Query(description="keys on each side, for mask=window")] = 1,
    digits: Annotated[int, Query(description="significant digits")] = 3,
    lengths: Annotated[
        str | None, Query(description="padding: query i sees its first N (or N_i) keys")
    ] = None,
) -> Options:
    return Options(example, lang, scale, mask, window, digits, lengths)


def _answer(kind: str, opts: Options, body: bytes, extra: tuple[Any, ...]) -> tuple[bytes, str]:
    kw = read_body(body) if body else {}
    trace = make_trace(opts, kw)
    if kind == "trace":
        return _rendered(trace, opts, extra[0])
    if kind == "layout":
        from qkv.render.layout import build

        doc = build(trace, opts.lang, opts.digits, entry=None)
        page = {
            "schema": "qkv.layout/1",
            "trace": trace.to_dict(),
            "spec": None if trace.spec is None else trace.spec.to_dict(),
            "document": asdict(doc),
            "inputs": _inputs(trace),
        }
        return to_json(page), "application/json"
    return to_json(_expansion(trace, opts, *extra)), "application/json"


def _inputs(trace: Any) -> dict[str, list[list[str]]]:
    """The given matrices as a person writes them (0.1, 11/3), for the page's editors."""
    from qkv.core.exact import fmt_exact

    return {
        s.id: [[fmt_exact(q) for q in row] for row in s.exact.tolist()]
        for s in trace.steps
        if s.id in INPUTS and s.same_as is None and s.exact is not None
    }


class Answers:
    """The latest answers by request (a small LRU): a preset or a shared link asked again is
    sent from memory, without a worker thread."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self.items: OrderedDict[Any, tuple[bytes, str]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: Any) -> tuple[bytes, str] | None:
        with self.lock:
            found = self.items.get(key)
            if found is not None:
                self.items.move_to_end(key)
            return found

    def put(self, key: Any, value: tuple[bytes, str]) -> tuple[bytes, str]:
        with self.lock:
            self.items[key] = value
            if len(self.items) > self.size:
                self.items.popitem(last=False)
        return value


_answers = Answers()


def answer(kind: str, opts: Options, body: bytes, *extra: Any) -> tuple[bytes, str]:
    """Compute (in a worker thread) and remember."""
    value = _answer(kind, opts, body, extra)
    if len(body) <= CACHED_BODY and len(value[0]) <= CACHED_ANSWER:
        _answers.put((kind, opts, body, extra), value)
    return value


def _rendered(trace: Any, opts: Options, fmt: str) -> tuple[bytes, str]:
    if fmt not in FORMATS:
        raise InputError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if fmt == "json":
        return to_json(trace.to_dict()), FORMATS[fmt][0]
    if fmt == "png":
        return _png(trace, opts), FORMATS[fmt][0]
    from qkv.render import render

    text = render(trace, fmt, lang=opts.lang, digits=opts.digits)
    return text.encode(), FORMATS[fmt][0]


def _png(trace: Any, opts: Options) -> bytes:
    import io

    try:
        from qkv.viz.heatmap import trace_heatmap
    except ImportError:
        raise InputError("PNG needs matplotlib: pip install 'qkv[viz]'") from None
    buf = io.BytesIO()
    with _png_lock:
        trace_heatmap(trace, "weights").savefig(buf, format="png")
    return buf.getvalue()


def _expansion(trace: Any, opts: Options, step: str, row: int, col: int) -> dict[str, Any]:
    from qkv.core.expand import expand
    from qkv.render.messages import t

    if step not in trace:
        raise InputError(f"no step {step!r}; steps: {', '.join(trace.ids)}")
    s = trace[step]
    if not (1 <= row <= s.shape[0] and 1 <= col <= s.shape[1]):
        raise InputError(f"step {step} is {s.shape[0]}x{s.shape[1]}; ({row}, {col}) is outside")
    ex = expand(trace, step, row - 1, col - 1, opts.digits)
    title = t(opts.lang, "expand.title", row=s.rows[row - 1], col=s.cols[col - 1])
    return {
        "schema": "qkv.expand/1",
        "step": step,
        "row": row,
        "col": col,
        "title": title,
        "plain": None if ex is None else ex.plain,
        "latex": None if ex is None else ex.latex,
    }


async def _respond(
    request: Request,
    kind: str,
    opts: Options,
    body: bytes,
    *extra: Any,
    download: str | None = None,
) -> Response:
    known = _answers.get((kind, opts, body, extra))
    if known is None:
        known = await compute(request, answer, kind, opts, body, *extra)
    content, media = known
    headers = {"Content-Disposition": f'attachment; filename="{download}"'} if download else None
    return Response(content, media_type=media, headers=headers)


Opts = Annotated[Options, Depends(options)]
Fmt = Annotated[str, Query(description="json (qkv.trace/1), markdown, latex, html or png")]
Download = Annotated[bool, Query(description="as an attachment: trace.json, trace.md, ...")]
Step = Annotated[
    str, Query(description="a step: x, wq, q, k, v, scores, scaled, masked, weights, output")
]
Row = Annotated[int, Query(description="1-based row")]
Col = Annotated[int, Query(description="1-based column")]


def _filename(fmt: str, download: bool) -> str | None:
    return f"trace.{FORMATS[fmt][1]}" if download and fmt in FORMATS else None


@router.get("/trace", summary="A preset's trace: qkv.trace/1, or rendered")
async def get_trace(
    request: Request, opts: Opts, format: Fmt = "json", download: Download = False
) -> Response:
    filename = _filename(format, download)
    return await _respond(request, "trace", opts, b"", format, download=filename)


@router.post("/trace", summary="The trace of your matrices", openapi_extra=BODY_DOC)
async def post_trace(
    request: Request, opts: Opts, format: Fmt = "json", download: Download = False
) -> Response:
    body = await request.body()
    filename = _filename(format, download)
    return await _respond(request, "trace", opts, body, format, download=filename)


@router.get("/layout", summary="A preset's trace and its layout (what the page draws)")
async def get_layout(request: Request, opts: Opts) -> Response:
    return await _respond(request, "layout", opts, b"")


@router.post("/layout", summary="Your trace and its layout", openapi_extra=BODY_DOC)
async def post_layout(request: Request, opts: Opts) -> Response:
    return await _respond(request, "layout", opts, await request.body())


@router.get("/expand", summary="The arithmetic of one entry of a preset's step")
async def get_expand(request: Request, opts: Opts, step: Step, row: Row, col: Col) -> Response:
    return await _respond(request, "expand", opts, b"", step, row, col)


@router.post("/expand", summary="The arithmetic of one entry of your step", openapi_extra=BODY_DOC)
async def post_expand(request: Request, opts: Opts, step: Step, row: Row, col: Col) -> Response:
    return await _respond(request, "expand", opts, await request.body(), step, row, col)


@router.get("/examples", summary="The presets")
def examples() -> dict[str, Any]:
    from qkv.core.examples import EXAMPLES

    return {
        "schema": "qkv.examples/1",
        "examples": [
            {"name": e.name, "aliases": list(e.aliases), "summary": e.summary} for e in EXAMPLES
        ],
    }


@lru_cache(maxsize=256)
def _scale(d_k: int) -> bytes:
    from qkv.core.scaling import measure

    return to_json({"schema": "qkv.scale/1", **measure(d_k).to_dict()})


@router.get("/scale", summary="Why 1/√d_k: random queries and keys measured, with and without")
async def scale(
    request: Request,
    d_k: Annotated[int, Query(description=f"1 to {limits.MAX_D_K}")] = 64,
) -> Response:
    if not 1 <= d_k <= limits.MAX_D_K:
        raise InputError(f"d_k must be between 1 and {limits.MAX_D_K}, not {d_k}")
    return Response(await compute(request, _scale, d_k), media_type="application/json")
