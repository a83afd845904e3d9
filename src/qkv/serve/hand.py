"""The hand calculation over HTTP: a request (a preset, or `qkv explain --input` JSON, plus
options in the query) -> qkv.core's Trace -> JSON, Markdown, LaTeX, HTML, PNG, or the page's
layout (the Document every renderer lays out, with the exact digits) and one entry's arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qkv.core.trace import Trace
from qkv.errors import InputError
from qkv.serve import limits

INPUTS = ("x", "q", "k", "v", "wq", "wk", "wv")
MASKS = ("none", "causal", "causal-top-left", "window")


@dataclass(frozen=True)
class Options:
    """The query string of every hand-calculation endpoint (hashable: it keys the cache)."""

    example: str | None = None
    lang: str = "en"
    scale: str | None = None  # sqrt, none or a number; None: the preset's, or sqrt
    mask: str = "none"
    window: int = 1
    digits: int = 3

    def check(self) -> None:
        if self.lang not in ("zh", "en"):
            raise InputError(f"lang must be zh or en, not {self.lang!r}")
        if self.mask not in MASKS:
            raise InputError(f"mask must be one of {', '.join(MASKS)}, not {self.mask!r}")
        if not 0 <= self.window <= limits.MAX_WINDOW:
            raise InputError(f"window must be between 0 and {limits.MAX_WINDOW}")
        if not 1 <= self.digits <= limits.MAX_DIGITS:
            raise InputError(f"digits must be between 1 and {limits.MAX_DIGITS}")


def read_body(body: bytes) -> dict[str, Any]:
    """`qkv explain --input` JSON -> trace() keyword arguments, within the size limits."""
    from qkv.core.parse import parse_input_file

    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError(f"the body is not UTF-8 (byte {e.start})") from None
    if not text.strip().startswith("{"):
        raise InputError('the body must be a JSON object like {"x": [[1, 2], [3, 4]]}')
    kw = parse_input_file(text, "body")
    for name in (*INPUTS, "mask"):
        if name in kw:
            rows, cols = len(kw[name]), len(kw[name][0])
            if rows > limits.MAX_TOKENS or cols > limits.MAX_DIMS:
                raise InputError(
                    f"body {name} is {rows}x{cols}; at most {limits.MAX_TOKENS} tokens and "
                    f"{limits.MAX_DIMS} dimensions"
                )
    for name in ("tokens", "key_tokens"):
        if any(len(t) > limits.MAX_LABEL for t in kw.get(name, [])):
            raise InputError(f"body {name}: a token is longer than {limits.MAX_LABEL} characters")
    return kw


def _shape(kw: dict[str, Any], example: Any) -> tuple[int, int]:
    """(queries, keys) of the inputs, for a window mask."""
    src = kw if any(n in kw for n in ("x", "q", "k", "v")) else (example.args if example else {})
    if "x" in src:
        n = len(src["x"])
        return n, n
    missing = next((n for n in ("q", "k", "v") if n not in src), None)
    if missing is not None:  # what trace() says, said before the window needs the shape
        raise InputError(f"missing {missing}: give x, or all of q, k and v")
    return len(src["q"]), len(src["k"])


def _window(kw: dict[str, Any], example: Any, window: int) -> Any:
    """The local-window mask for the inputs, and with the body's own mask when it has one
    (of a shape that fits queries x keys)."""
    import numpy as np

    from qkv.core.masks import window_mask

    band = window_mask(*_shape(kw, example), window)
    if "mask" not in kw:
        return band
    given = np.asarray(kw.pop("mask"))
    try:
        return band & given
    except ValueError:  # shapes that do not broadcast
        rows, cols = band.shape
        shape = "x".join(map(str, given.shape))
        raise InputError(
            f"body mask is {shape}; the inputs have {rows} queries and {cols} keys, so it "
            f"must be {rows}x{cols}"
        ) from None


def make_trace(opts: Options, kw: dict[str, Any]) -> Trace:
    """The Trace a request asks for: its own matrices (over a preset's settings, when it names
    one), or the preset itself."""
    from qkv.core.examples import DEFAULT_EXAMPLE, find_example
    from qkv.core.trace import trace

    opts.check()
    has_input = any(n in kw for n in ("x", "q", "k", "v"))
    example = find_example(opts.example) if opts.example else None
    if example is None and not has_input:
        example = find_example(DEFAULT_EXAMPLE)
    settings: dict[str, Any] = {}
    if opts.scale is not None:
        settings["scale"] = opts.scale
    if opts.mask in ("causal", "causal-top-left"):
        settings["causal"] = opts.mask
    elif opts.mask == "window":
        settings["mask"] = _window(kw, example, opts.window)
    if not has_input:
        assert example is not None
        return example.trace(opts.lang, **kw, **settings)
    if example is None:
        return trace(**{"scale": "sqrt", **kw, **settings})
    preset = {k: v for k, v in example.args.items() if k not in INPUTS}
    return trace(example=example.name, **{**preset, **kw, **settings})
