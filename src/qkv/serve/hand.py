"""The hand calculation over HTTP: a request (a preset, or `qkv explain --input` JSON, plus
options in the query) -> qkv.core's Trace -> JSON, Markdown, LaTeX, HTML, PNG, or the page's
layout (the Document every renderer lays out, with the exact digits) and one entry's arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qkv.core.spec import TRACE_SPEC_KEYWORDS
from qkv.core.trace import Trace
from qkv.errors import InputError
from qkv.serve import limits

INPUTS = ("x", "q", "k", "v", "wq", "wk", "wv")
MASKS = ("none", "causal", "causal-top-left", "window")  # the page's choices; any --mask words too


@dataclass(frozen=True)
class Options:
    """The query string of every hand-calculation endpoint (hashable: it keys the cache)."""

    example: str | None = None
    lang: str = "en"
    scale: str | None = None  # sqrt, none or a number; None: the preset's, or sqrt
    mask: str = "none"  # none, window (with `window`), or `qkv explain --mask` words
    window: int = 1
    digits: int = 3
    lengths: str | None = None  # as `qkv explain --lengths`: 2 or 2,3,3

    def check(self) -> None:
        from qkv.core.spec import is_mask_words

        if self.lang not in ("zh", "en"):
            raise InputError(f"lang must be zh or en, not {self.lang!r}")
        if self.mask not in MASKS and not is_mask_words(self.mask):
            raise InputError(
                f"mask must be one of {', '.join(MASKS)}, or words as `qkv explain --mask` "
                f"takes (causal+window:1,0, length:N, documents:ID,...), not {self.mask!r}"
            )
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


def spec_changes(opts: Options, kw: dict[str, Any]) -> dict[str, Any]:
    """What the query (and the body's own mask) change in the spec: the parser `qkv explain`
    uses (qkv.core.spec), so the page can say what the command line can."""
    from qkv.core.spec import spec_changes as parse

    words = {"none": None, "window": f"window:{opts.window}"}.get(opts.mask, opts.mask)
    changes = parse(mask=words, lengths=opts.lengths, scale=opts.scale, dash="")
    if "mask" in kw:
        changes["mask"] = kw.pop("mask")
    return changes


def make_trace(opts: Options, kw: dict[str, Any]) -> Trace:
    """The Trace a request asks for: its own matrices (over a preset's settings, when it names
    one), or the preset itself; its spec is the preset's (or the default) changed by the
    query."""
    from qkv.core.examples import DEFAULT_EXAMPLE, find_example
    from qkv.core.spec import AttentionSpec
    from qkv.core.trace import trace

    opts.check()
    kw = dict(kw)
    changes = spec_changes(opts, kw)
    has_input = any(n in kw for n in ("x", "q", "k", "v"))
    example = find_example(opts.example) if opts.example else None
    if example is None and not has_input:
        example = find_example(DEFAULT_EXAMPLE)
    base = AttentionSpec() if example is None else example.spec
    spec = base.replace(**changes)
    if not has_input:
        assert example is not None
        return example.trace(opts.lang, spec=spec, **kw)
    if example is None:
        return trace(**kw, spec=spec)
    preset = {k: v for k, v in example.args.items() if k not in INPUTS}
    preset = {k: v for k, v in preset.items() if k not in TRACE_SPEC_KEYWORDS}
    return trace(example=example.name, spec=spec, **{**preset, **kw})
