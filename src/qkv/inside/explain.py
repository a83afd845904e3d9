"""qkv.explain_model(): one head of a real model computed by hand with the model's own numbers,
and checked against what the model did.

X is what the layer's attention module was given (a forward pre-hook: after the LayerNorm
where the model puts one); W_Q, W_K, W_V and their biases are the head's columns of the
model's projections; the scale is the model's. qkv.core recomputes the head in float64 and
compares its weights with the model's output_attentions and its output with the heads'
outputs as W_O receives them (a hook). A difference beyond float32 rounding is an error
(Mismatch), never a footnote.

Layers, heads and queries are numbered from 1, as in `qkv viz`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qkv.core.query import QueryWork, query_work
from qkv.core.trace import Step, Trace, trace
from qkv.errors import InputError

SCHEMA = "qkv.model-head/1"
# float32 rounding: a weight is a softmax of sums of d products (errors ~1e-7 seen); an output
# is a sum of weights times values, so its limit grows with the values' size.
WEIGHTS_LIMIT = 1e-5
OUTPUT_LIMIT = 1e-4


class Mismatch(InputError):
    """qkv's recomputation and the model disagree beyond float32 rounding."""


@dataclass(frozen=True)
class Check:
    """The largest differences between qkv's float64 recomputation and the model."""

    weights: float  # |A − the model's output_attentions|
    output: float  # |O_h − the head's columns of W_O's input (a hook)|
    projection: float  # |[O_1 | … | O_H]·W_O + b_O − W_O's output (a hook)|
    weights_limit: float
    output_limit: float
    projection_limit: float

    def failure(self) -> str | None:
        """What exceeds its limit, or None."""
        for what in ("weights", "output", "projection"):
            error, limit = getattr(self, what), getattr(self, f"{what}_limit")
            if not error <= limit:  # NaN fails too
                return f"{what} differ by {error:.1e} (float32 rounding allows {limit:.0e})"
        return None

    def to_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.__dict__.items()}


@dataclass
class ModelExplanation:
    """One head of a real model, by hand: its trace (qkv.trace/1), where its numbers come
    from, this head's share of W_O, and how well it matches the model."""

    model: str
    family: str  # bert, gpt2, qkv-gpt
    norm: str  # pre or post (where the LayerNorm is)
    layer: int  # 1-based
    head: int  # 1-based
    layers: int
    heads: int
    kv_heads: int
    d_model: int
    d_head: int
    tokens: list[str]
    trace: Trace
    wo: Step  # the head's rows of W_O (d_head × d_model)
    share: Step  # O_h·W_O[rows of head h]: what this head adds to the layer's output
    has_bo: bool
    check: Check
    query: int | None = None  # 0-based: the query whose row is written out
    lang: str | None = field(default=None, compare=False)

    @property
    def work(self) -> QueryWork | None:
        return None if self.query is None else query_work(self.trace, self.query)

    @property
    def causal(self) -> bool:
        return self.trace.causal is not None

    def to_dict(self) -> dict[str, Any]:
        work = self.work
        return {
            "schema": SCHEMA,
            "model": self.model,
            "family": self.family,
            "norm": self.norm,
            "layer": self.layer,
            "head": self.head,
            "layers": self.layers,
            "heads": self.heads,
            "kv_heads": self.kv_heads,
            "d_model": self.d_model,
            "d_head": self.d_head,
            "tokens": list(self.tokens),
            "check": self.check.to_dict(),
            "trace": self.trace.to_dict(),
            "wo": self.wo.to_dict(),
            "share": self.share.to_dict(),
            "query": None if work is None else work.to_dict(),
        }

    def to_json(self) -> str:
        from qkv.core.trace.record import dumps

        return dumps(self.to_dict())

    def __repr__(self) -> str:
        return (
            f"<ModelExplanation {self.model}: layer {self.layer}, head {self.head}; "
            f"{len(self.tokens)} tokens; weights within {self.check.weights:.1e} of the model>"
        )

    def __str__(self) -> str:
        from qkv.core import display

        return display.show("text", self) or repr(self)

    def _repr_html_(self) -> str | None:
        from qkv.core import display

        return display.show("html", self)


def explain_model(
    model: Any = "minilm",
    text: str = "",
    layer: int = 1,
    head: int = 1,
    query: int | str | None = None,
    *,
    tokenizer: Any = None,
    lang: str | None = None,
) -> ModelExplanation:
    """Head ``head`` of layer ``layer`` (from 1) of a real model on ``text``, by hand.

    ``model``: "minilm" (offline), a Hugging Face folder, a `qkv gpt` run folder or
    checkpoint, or a loaded model (with ``tokenizer``). ``query``: a number from 1 or a token:
    its row is written out entry by entry. Raises Mismatch when the model disagrees."""
    if not isinstance(text, str) or not text.strip():
        raise InputError("the text is empty")
    loaded = _loaded(model, tokenizer)  # first: a missing extra is named for the model
    from qkv.inside.capture import capture, family_of

    fam, modules = family_of(loaded.model)
    _in_range("layer", layer, len(modules), f"{loaded.name} has {len(modules)} layers")
    _in_range("head", head, fam.heads, f"each layer of {loaded.name} has {fam.heads} heads")
    cap = capture(loaded, text, [layer - 1])
    result = explain_capture(cap, loaded.name, layer - 1, head - 1)
    result.query = None if query is None else _query(query, cap.tokens)
    result.lang = lang
    return result


def _in_range(what: str, value: Any, n: int, why: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InputError(f"the {what} must be a whole number from 1, not {str(value)[:20]!r}")
    if not 1 <= value <= n:
        raise InputError(f"{what} {value} is out of range 1..{n} ({why})")


def _query(query: int | str, tokens: list[str]) -> int:
    """A 1-based number or a token (its first occurrence) -> 0-based."""
    from qkv.core.expand import find_index

    try:
        return find_index(tokens, str(query), "query")
    except ValueError as e:
        raise InputError(str(e)) from None


def _loaded(model: Any, tokenizer: Any) -> Any:
    from qkv.inside.sources import Loaded, open_model

    if isinstance(model, Loaded):
        return model
    if isinstance(model, str) or hasattr(model, "__fspath__"):
        if tokenizer is not None:
            raise InputError("a tokenizer goes with a model object, not with a model's name")
        return open_model(str(model))
    if tokenizer is None:
        raise InputError("give the tokenizer together with a model object")
    kind = "qkv-gpt" if hasattr(model, "blocks") else "hf"
    config = getattr(model, "config", None)
    name = getattr(config, "_name_or_path", "") or type(model).__name__
    return Loaded(model.eval(), tokenizer, kind, name)


def head_trace(cap: Any, layer: int, head: int) -> Trace:
    """Head ``head`` (0-based) of ``layer`` recomputed by qkv.core in float64."""
    numbers, fam = cap.layers[layer], cap.family
    d = fam.d_head
    group = head // (fam.heads // fam.kv_heads)  # GQA: the key/value head it reads
    qs, ks = slice(head * d, (head + 1) * d), slice(group * d, (group + 1) * d)

    def cut(b: np.ndarray | None, s: slice) -> np.ndarray | None:
        return None if b is None else b[s]

    usual = abs(numbers.scale * math.sqrt(d) - 1) < 1e-6
    return trace(
        numbers.x,
        wq=numbers.wq[:, qs],
        wk=numbers.wk[:, ks],
        wv=numbers.wv[:, ks],
        bq=cut(numbers.bq, qs),
        bk=cut(numbers.bk, ks),
        bv=cut(numbers.bv, ks),
        tokens=cap.tokens,
        scale="sqrt" if usual else numbers.scale,
        causal=fam.causal,
        exact=False,
    )


def check_head(cap: Any, layer: int, head: int, t: Trace) -> Check:
    """The recomputation ``t`` against the model's own numbers."""
    numbers, d = cap.layers[layer], cap.family.d_head
    ours = t["output"].matrix
    theirs = numbers.heads_out[:, head * d : (head + 1) * d]
    projected = numbers.heads_out @ numbers.wo
    if numbers.bo is not None:
        projected = projected + numbers.bo
    values = float(np.abs(t["v"].matrix).max(initial=0.0))
    return Check(
        weights=float(np.abs(t["weights"].matrix - numbers.weights[head]).max()),
        output=float(np.abs(ours - theirs).max()),
        projection=float(np.abs(projected - numbers.out).max()),
        weights_limit=WEIGHTS_LIMIT,
        output_limit=OUTPUT_LIMIT * max(1.0, values),
        projection_limit=OUTPUT_LIMIT * max(1.0, float(np.abs(numbers.out).max(initial=0.0))),
    )


def explain_capture(cap: Any, name: str, layer: int, head: int) -> ModelExplanation:
    """The explanation of one captured head (0-based layer and head); Mismatch when the
    model disagrees with the recomputation."""
    t = head_trace(cap, layer, head)
    check = check_head(cap, layer, head, t)
    failure = check.failure()
    if failure is not None:
        raise Mismatch(
            f"layer {layer + 1}, head {head + 1}: qkv's float64 recomputation and the model's "
            f"{failure}; this model computes attention in a way qkv does not follow"
        )
    fam, numbers = cap.family, cap.layers[layer]
    wo, share = _share(t, numbers.wo, head, fam.d_head)
    return ModelExplanation(
        name, fam.name, fam.norm, layer + 1, head + 1, cap.n_layers, fam.heads,
        fam.kv_heads, fam.d_model, fam.d_head, list(cap.tokens), t, wo, share,
        numbers.bo is not None, check,
    )  # fmt: skip


def _share(t: Trace, wo: np.ndarray, head: int, d: int) -> tuple[Step, Step]:
    """The head's rows of W_O, and O_h times them: this head's part of the layer's output."""
    first = head * d
    rows = [str(first + r + 1) for r in range(d)]
    cols = [str(c + 1) for c in range(wo.shape[1])]
    span = f"{first + 1}–{first + d}"
    w = Step("wo", wo[first : first + d], rows, cols, f"W_O[{span}, :]", rf"W_O[{span}, :]")
    sub = str(head + 1).translate(str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉"))
    out = t["output"]
    share = Step(
        "share",
        out.matrix @ w.matrix,
        list(out.rows),
        cols,
        f"O{sub}·W_O[{span}, :]",
        rf"O_{{{head + 1}}} W_O[{span}, :]",
    )
    return w, share


def check_heads(model: Any = "minilm", text: str = "", *, tokenizer: Any = None) -> list[Check]:
    """Every layer's and head's check, in order (one forward pass); Mismatch for the first
    head that disagrees."""
    loaded = _loaded(model, tokenizer)
    from qkv.inside.capture import capture

    cap = capture(loaded, text)
    return [
        explain_capture(cap, loaded.name, layer, head).check
        for layer in range(cap.n_layers)
        for head in range(cap.family.heads)
    ]
