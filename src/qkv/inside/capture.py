"""One forward pass of a real model with hooks: what each attention layer was given (X, taken
where the model computes attention, so after whatever LayerNorm the model puts before it),
its weights as X·W matrices, the heads' outputs as they enter W_O, W_O's output, and the
model's own attention weights (output_attentions). Everything comes back as float64 NumPy,
exactly the model's float32 numbers.

Three families are known, each by the modules the model really runs:

    bert    encoder.layer[i].attention.self (query, key, value) and attention.output.dense
            (BERT, MiniLM, RoBERTa, ELECTRA): post-LN, X is the previous layer's output
    gpt2    h[i].attn (c_attn, c_proj; Conv1D, already x·W): pre-LN, X = ln_1(residual)
    qkv-gpt blocks[i].attn (qkv_proj, out_proj) of `qkv gpt`: pre-LN, X = ln1(residual)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from qkv.errors import InputError


@dataclass(frozen=True)
class Family:
    name: str  # bert, gpt2, qkv-gpt
    norm: str  # "post" (LayerNorm after each residual sum) or "pre" (before attention)
    causal: bool
    heads: int
    kv_heads: int
    d_model: int
    d_head: int


@dataclass
class LayerNumbers:
    """One layer's attention, as float64 (the model's float32 numbers, exactly)."""

    x: np.ndarray  # (N, E): what the attention module was given
    wq: np.ndarray  # (E, H·d): Q = X·W_Q + b_Q
    wk: np.ndarray  # (E, Hkv·d)
    wv: np.ndarray  # (E, Hkv·d)
    bq: np.ndarray | None  # (H·d,)
    bk: np.ndarray | None
    bv: np.ndarray | None
    wo: np.ndarray  # (H·d, E): the layer's output = [O_1 | ... | O_H]·W_O + b_O
    bo: np.ndarray | None
    scale: float  # what the model multiplies Q·Kᵀ by
    weights: np.ndarray  # (H, N, N): the model's own attention weights
    heads_out: np.ndarray  # (N, H·d): the heads' outputs, as W_O receives them (a hook)
    out: np.ndarray  # (N, E): W_O's output (a hook)


@dataclass
class Capture:
    family: Family
    tokens: list[str]
    layers: dict[int, LayerNumbers]  # 0-based layer -> its numbers
    n_layers: int


Modules = list[tuple[Any, Any]]  # per layer: (the attention module, W_O's module)
Weights = dict[str, Any]  # wq, wk, wv, bq, bk, bv, wo, bo as x·W arrays; scale


def _f64(t: torch.Tensor | None) -> np.ndarray | None:
    return None if t is None else t.detach().to(torch.float64).cpu().numpy()


def _arr(t: torch.Tensor) -> np.ndarray:
    return t.detach().to(torch.float64).cpu().numpy()


def _bert(model: Any) -> tuple[Family, Modules] | None:
    layers = getattr(getattr(model, "encoder", None), "layer", None)
    if not layers or not hasattr(getattr(layers[0].attention, "self", None), "query"):
        return None
    c = model.config
    if getattr(c, "position_embedding_type", "absolute") != "absolute":
        raise InputError(
            f"this model adds {c.position_embedding_type} position scores inside attention; "
            "the hand calculation knows Q·Kᵀ with absolute positions only"
        )
    heads, d = c.num_attention_heads, c.hidden_size // c.num_attention_heads
    fam = Family("bert", "post", bool(c.is_decoder), heads, heads, c.hidden_size, d)
    return fam, [(lay.attention.self, lay.attention.output.dense) for lay in layers]


def _gpt2(model: Any) -> tuple[Family, Modules] | None:
    blocks = getattr(model, "h", None)
    if not blocks or not hasattr(blocks[0].attn, "c_attn"):
        return None
    c = model.config
    heads, d = c.n_head, c.n_embd // c.n_head
    return Family("gpt2", "pre", True, heads, heads, c.n_embd, d), [
        (b.attn, b.attn.c_proj) for b in blocks
    ]


def _qkv_gpt(model: Any) -> tuple[Family, Modules] | None:
    blocks = getattr(model, "blocks", None)
    if not blocks or not hasattr(blocks[0].attn, "qkv_proj"):
        return None
    a = blocks[0].attn
    fam = Family("qkv-gpt", "pre", True, a.num_heads, a.num_kv_heads, a.embed_dim, a.head_dim)
    return fam, [(b.attn, b.attn.out_proj) for b in blocks]


FAMILIES: tuple[Callable[[Any], tuple[Family, Modules] | None], ...] = (_bert, _gpt2, _qkv_gpt)


def family_of(model: Any) -> tuple[Family, Modules]:
    """The family and each layer's modules; InputError for a model of another kind."""
    base = getattr(model, "base_model", model)  # BertForMaskedLM -> its BertModel
    for find in FAMILIES:
        found = find(base)
        if found is not None:
            return found
    raise InputError(
        f"qkv cannot follow the attention of a {type(model).__name__} by hand: it knows "
        "BERT-style encoders (MiniLM), GPT-2 and qkv gpt models"
    )


def _split(w: np.ndarray, b: np.ndarray | None, cuts: Sequence[int]) -> Weights:
    """The columns of a fused Q|K|V projection (x·W layout), cut at ``cuts``."""
    edges = [0, *cuts, w.shape[1]]
    out: Weights = {}
    for c, lo, hi in zip("qkv", edges, edges[1:], strict=False):
        out[f"w{c}"], out[f"b{c}"] = w[:, lo:hi], None if b is None else b[lo:hi]
    return out


def read_weights(fam: Family, attn: Any, out: Any) -> Weights:
    """W_Q, W_K, W_V, W_O of one layer as x·W matrices, their biases, and the scale."""
    tail = {"bo": _f64(out.bias)}
    if fam.name == "bert":  # nn.Linear: weight (out, in), so X·Wᵀ
        parts: Weights = {}
        for c, m in zip("qkv", (attn.query, attn.key, attn.value), strict=True):
            parts[f"w{c}"], parts[f"b{c}"] = _arr(m.weight.T), _f64(m.bias)
        return {**parts, **tail, "wo": _arr(out.weight.T), "scale": float(attn.scaling)}
    if fam.name == "gpt2":  # Conv1D: weight (in, out), x·W already
        e = fam.d_model
        parts = _split(_arr(attn.c_attn.weight), _f64(attn.c_attn.bias), (e, 2 * e))
        return {**parts, **tail, "wo": _arr(out.weight), "scale": float(attn.scaling)}
    e, kv = fam.d_model, fam.kv_heads * fam.d_head
    parts = _split(_arr(attn.qkv_proj.weight.T), _f64(attn.qkv_proj.bias), (e, e + kv))
    scale = 1.0 / float(np.sqrt(fam.d_head))  # qkv.nn.attention's default
    return {**parts, **tail, "wo": _arr(out.weight.T), "scale": scale}


def _hooks(modules: Modules, layers: Sequence[int], seen: dict[int, dict[str, Any]]) -> list[Any]:
    """Forward hooks that keep, per layer, the attention module's input X, W_O's input (the
    heads' outputs concatenated) and W_O's output."""

    def take_x(store: dict[str, Any]) -> Any:
        def hook(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            given = args[0] if args else kwargs.get("hidden_states", kwargs.get("query"))
            if given is not None:
                store["x"] = given.detach()

        return hook

    def take_out(store: dict[str, Any]) -> Any:
        def hook(module: Any, args: tuple[Any, ...], output: Any) -> None:
            store["heads"], store["out"] = args[0].detach(), output.detach()

        return hook

    handles = []
    for layer in layers:
        attn, out = modules[layer]
        handles.append(attn.register_forward_pre_hook(take_x(seen[layer]), with_kwargs=True))
        handles.append(out.register_forward_hook(take_out(seen[layer])))
    return handles


def capture(loaded: Any, text: str, layers: Sequence[int] | None = None) -> Capture:
    """Run the model once on ``text`` and keep the numbers of ``layers`` (0-based; all when
    None)."""
    fam, modules = family_of(loaded.model)
    chosen = list(range(len(modules))) if layers is None else list(layers)
    tokens, run = _prepare(loaded, text)
    seen: dict[int, dict[str, Any]] = {layer: {} for layer in chosen}
    handles = _hooks(modules, chosen, seen)
    try:
        with torch.no_grad():
            attentions = run()
    finally:
        for h in handles:
            h.remove()
    numbers = {}
    for layer in chosen:
        got, (attn, out) = seen[layer], modules[layer]
        if "x" not in got or "out" not in got:
            raise InputError(f"layer {layer + 1}'s attention did not run on this text")
        numbers[layer] = LayerNumbers(
            x=_arr(got["x"][0]),
            **read_weights(fam, attn, out),
            weights=_arr(attentions[layer][0]),
            heads_out=_arr(got["heads"][0]),
            out=_arr(got["out"][0]),
        )
    return Capture(fam, tokens, numbers, len(modules))


def _prepare(loaded: Any, text: str) -> tuple[list[str], Callable[[], Sequence[Any]]]:
    """The tokens, and a call that runs the model and returns each layer's weights."""
    if loaded.kind == "qkv-gpt":
        model, tok = loaded.model, loaded.tokenizer
        ids = tok.encode(text, "the text")
        if len(ids) > model.config.block_size:
            raise InputError(
                f"the text has {len(ids)} characters; the model sees at most "
                f"{model.config.block_size}"
            )
        x = torch.tensor([ids], device=model.wte.weight.device)
        return [tok.chars[i] for i in ids], lambda: model(x, need_weights=True)[2]
    from qkv import hf, limits

    n = len(loaded.tokenizer(text, truncation=False)["input_ids"])
    if n > limits.MAX_TOKENS:
        raise InputError(
            f"the text is {n} tokens; a hand calculation takes at most {limits.MAX_TOKENS}"
        )
    enc, tokens, _ = hf.encode(loaded.tokenizer, text)
    if len(tokens) < n:
        raise InputError(f"the text is {n} tokens; the model reads at most {len(tokens)}")
    return tokens, lambda: loaded.model(**enc, output_attentions=True).attentions
