"""Built-in presets (the article's 笔记本 example first), and ``qkv.explain()``."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from qkv.core.lang import default_lang
from qkv.core.spec import TRACE_SPEC_KEYWORDS, AttentionSpec, trace_spec_fields
from qkv.core.trace import Trace, trace
from qkv.errors import InputError

DEFAULT_EXAMPLE = "笔记本"  # what `qkv explain` shows with no input


@dataclass(frozen=True)
class Example:
    name: str
    aliases: tuple[str, ...]
    summary: dict[str, str]  # lang -> one line
    args: dict[str, Any]
    tokens: dict[str, list[str]] = field(default_factory=dict)  # lang -> query tokens
    key_tokens: dict[str, list[str]] = field(default_factory=dict)

    @property
    def spec(self) -> AttentionSpec:
        """The preset's own settings (its scale), for a face to change with ``replace``."""
        return AttentionSpec(**trace_spec_fields(self.args))

    def trace(
        self, lang: str | None = None, *, spec: AttentionSpec | None = None, **overrides: Any
    ) -> Trace:
        """The preset's trace with tokens in ``lang`` (default: the locale's); ``overrides``
        (scale, mask, causal, tokens) replace its own; ``spec`` replaces all its settings."""
        lang = lang or default_lang()
        kw = dict(self.args)
        if self.tokens:
            kw["tokens"] = self.tokens.get(lang, self.tokens["zh"])
        if self.key_tokens:
            kw["key_tokens"] = self.key_tokens.get(lang, self.key_tokens["zh"])
        if spec is not None:
            kw = {k: v for k, v in kw.items() if k not in TRACE_SPEC_KEYWORDS}
        kw.update(overrides)
        return trace(example=self.name, spec=spec, **kw)


EXAMPLES: list[Example] = [
    Example(
        name=DEFAULT_EXAMPLE,
        aliases=("notebook", "bijiben"),
        summary={
            "zh": "文章的例子:笔 记 本 三个字,Q = K = V = X,不缩放,再看 1/√d_k 改变了什么",
            "en": "the article's example: 笔 记 本 (note-book), Q = K = V = X, unscaled, "
            "then what 1/√d_k changes",
        },
        args={
            "x": [[1, 2, 1, 2, 1], [1, 1, 1, 2, 1], [3, 2, 1, 1, 1]],
            "scale": "none",
            "contrast": True,
        },
        tokens={"zh": ["笔", "记", "本"]},
    ),
    Example(
        name="search",
        aliases=("搜索",),
        summary={
            "zh": "文章的搜索比喻:查询“笔记本”对几件商品的键和值做交叉注意力,并按加权价值排序",
            "en": "the article's search picture: the query 笔记本 (notebook) against products' "
            "keys and values, as cross-attention, ranked by weighted value",
        },
        # Key features: [electronic, portable, paper, for writing]. The query 笔记本 is
        # ambiguous (laptop or paper notebook), which is the point of the example.
        # Value: how much the platform wants to show the product (ads, reviews, likes).
        args={
            "q": [[1, 1, 1, 0]],
            "k": [[2, 2, 0, 0], [0, 1, 2, 1], [2, 1, 0, 0], [0, 1, 0, 2], [1, 0, 0, 0]],
            "v": [[Fraction(v)] for v in ("0.6", "0.9", "0.5", "0.8", "0.3")],
            "scale": "sqrt",
            "rank": True,
        },
        tokens={"zh": ["笔记本"], "en": ["notebook"]},
        key_tokens={
            "zh": ["笔记本电脑", "纸质笔记本", "平板电脑", "钢笔", "台灯"],
            "en": ["laptop", "paper notebook", "tablet", "fountain pen", "desk lamp"],
        },
    ),
    Example(
        name="additive",
        aliases=("bahdanau", "加性"),
        summary={
            "zh": "Bahdanau 的加性打分:译出 I 时,解码器的状态对 我 爱 你 三个编码器状态打分,"
            "数值小到 tanh 不饱和",
            "en": "Bahdanau's additive scores: the decoder, about to write I, scores the encoder "
            "states of 我 爱 你; numbers small enough that tanh does not saturate",
        },
        # Small states and mixing weights: tanh stays in its curved range (|x| < 1.5), so
        # the three keys get clearly different weights (about 0.51, 0.13, 0.36). With the
        # 笔记本 vectors and identity weights every tanh is near 1 and every weight near 1/3.
        args={
            "q": [[Fraction("0.5"), Fraction("-0.5")]],
            "k": [
                [Fraction(a), Fraction(b)]
                for a, b in (("0.8", "0.2"), ("-0.6", "0.4"), ("0.1", "-0.9"))
            ],
            "v": [[1, 0], [0, 1], [1, 1]],
            "score": "additive",
            "wa_q": [[1, Fraction("0.5")], [0, 1]],
            "wa_k": [[1, 0], [Fraction("0.5"), 1]],
            "va": [Fraction("1.5"), -1],
        },
        tokens={"zh": ["I"]},
        key_tokens={"zh": ["我", "爱", "你"]},
    ),
]


def find_example(name: str) -> Example:
    wanted = name.strip().lower()
    for e in EXAMPLES:
        if wanted == e.name.lower() or wanted in e.aliases:
            return e
    names = ", ".join(e.name for e in EXAMPLES)
    raise InputError(f"unknown example {name!r}; available: {names} (see --list-examples)")


def explain(
    x: Any = None, *, example: str | None = None, lang: str | None = None, **kwargs: Any
) -> Trace:
    """Trace of a preset (default: the article's 笔记本) or of your own matrices.

    ``qkv.explain()`` is the article's example; ``qkv.explain(example="search")`` the search
    picture; ``qkv.explain([[1, 0], [0, 1]], tokens=["a", "b"])`` your own X (scaled by
    1/sqrt(d_k) unless ``scale`` says otherwise); ``q=, k=, v=`` for cross-attention.
    ``lang`` picks the presets' tokens and the language the trace is shown in (``print``,
    Jupyter); default: from the locale, as the CLI does.
    """
    if x is None and not any(kwargs.get(n) is not None for n in ("q", "k", "v")):
        result = find_example(example or DEFAULT_EXAMPLE).trace(lang, **kwargs)
    elif example is not None:
        raise InputError("give either an example or your own matrices, not both")
    else:
        result = trace(x, **kwargs)
    result.lang = lang
    return result
