"""Built-in presets. The article's 笔记本 example comes first."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from qkv.core.attention import trace
from qkv.core.trace import Trace
from qkv.errors import InputError


@dataclass(frozen=True)
class Example:
    name: str
    aliases: tuple[str, ...]
    summary: dict[str, str]  # lang -> one line
    args: dict[str, Any]
    tokens: dict[str, list[str]] = field(default_factory=dict)  # lang -> query tokens
    key_tokens: dict[str, list[str]] = field(default_factory=dict)

    def trace(self, lang: str = "zh", **overrides: Any) -> Trace:
        """The preset's trace; ``overrides`` (scale, mask, causal, tokens) replace its own."""
        kw = dict(self.args)
        if self.tokens:
            kw["tokens"] = self.tokens.get(lang, self.tokens["zh"])
        if self.key_tokens:
            kw["key_tokens"] = self.key_tokens.get(lang, self.key_tokens["zh"])
        kw.update(overrides)
        return trace(example=self.name, **kw)


EXAMPLES: list[Example] = [
    Example(
        name="笔记本",
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
]


def find_example(name: str) -> Example:
    wanted = name.strip().lower()
    for e in EXAMPLES:
        if wanted == e.name.lower() or wanted in e.aliases:
            return e
    names = ", ".join(e.name for e in EXAMPLES)
    raise InputError(f"unknown example {name!r}; available: {names} (see --list-examples)")
