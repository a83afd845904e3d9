"""What a checkpoint must hold, checked before anything is built from it.

A checkpoint may come from a stranger. torch.load(weights_only=True) keeps code out; these
checks keep its numbers sane: a configuration within qkv.limits (a few bytes cannot ask for a
4 GB embedding), a vocabulary of distinct characters as long as the model's, training
settings of the right types, weights that are finite.
"""

from __future__ import annotations

import math
from dataclasses import fields
from typing import Any

from qkv import limits
from qkv.core.text import ensure_text
from qkv.errors import InputError
from qkv.gpt.config import GPTConfig, TrainConfig

KEYS = ("config", "train", "vocab", "model", "optimizer", "step", "best_val")
POSITIVE = ("vocab_size", "n_layer", "n_head", "n_embd", "block_size")
BOUNDS = {
    "vocab_size": limits.MAX_VOCAB,
    "n_layer": limits.MAX_LAYERS,
    "n_head": limits.MAX_HEADS,
    "block_size": limits.MAX_CONTEXT,
    "n_embd": limits.MAX_EMBED,
}


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and math.isfinite(v)


def check_state(state: dict[str, Any], name: str) -> None:
    """InputError naming the first thing wrong with a loaded checkpoint dict."""
    missing = [k for k in KEYS if k not in state]
    if missing:
        raise InputError(f"{name} lacks {missing[0]!r}; it is not a complete qkv checkpoint")
    config = check_config(state["config"], name)
    check_vocab(state["vocab"], config.vocab_size, name)
    check_train(state["train"], config, name)
    if not _is_int(state["step"]) or state["step"] < 0:
        raise InputError(f"{name}: step must be a whole number >= 0")
    if not isinstance(state["best_val"], (int, float)) or isinstance(state["best_val"], bool):
        raise InputError(f"{name}: best_val must be a number")
    if not isinstance(state["model"], dict):
        raise InputError(f"{name}: the model's weights are not a table of tensors")
    if state["optimizer"] is not None and not isinstance(state["optimizer"], dict):
        raise InputError(f"{name}: the optimizer state is not a table")
    check_optional(state, name)


# Fields a checkpoint may hold (qkv before these had none; every one is optional):
# best_step: the step of best_val; preset: the preset's name (for --resume's header and
# steps); text: {"path", "sha256"} of the training text (--resume without --text) or None;
# rng: {"torch", "data", "cuda"}: the RNG states at `step` (uint8 tensors, cuda may be None),
# which make --resume continue exactly.
OPTIONAL = ("best_step", "preset", "text", "rng")


def check_optional(state: dict[str, Any], name: str) -> None:
    """InputError for an optional field of the wrong kind."""
    if "best_step" in state and (not _is_int(state["best_step"]) or state["best_step"] < 0):
        raise InputError(f"{name}: best_step must be a whole number >= 0")
    preset = state.get("preset")
    if preset is not None and not (isinstance(preset, str) and 0 < len(preset) <= 40):
        raise InputError(f"{name}: preset must be a short name")
    if preset is not None:
        ensure_text(preset, f"{name}: preset")
    text = state.get("text")
    if text is not None and not (
        isinstance(text, dict)
        and isinstance(text.get("path"), str)
        and len(text["path"]) <= 4096
        and isinstance(text.get("sha256"), str)
        and len(text["sha256"]) == 64
    ):
        raise InputError(f"{name}: text must name a path and its sha256")
    rng = state.get("rng")
    if rng is None:
        return
    if (
        not isinstance(rng, dict)
        or not all(
            rng.get(key) is None or _is_bytes_tensor(rng.get(key))
            for key in ("torch", "data", "cuda")
        )
        or rng.get("torch") is None
        or rng.get("data") is None
    ):
        raise InputError(f"{name}: rng must hold the RNG states as byte tensors")


def _is_bytes_tensor(value: Any) -> bool:
    import torch

    return isinstance(value, torch.Tensor) and value.dtype == torch.uint8 and value.dim() == 1


def check_config(raw: Any, name: str) -> GPTConfig:
    """The model's configuration: known keys, whole numbers within qkv.limits."""
    if not isinstance(raw, dict):
        raise InputError(f"{name}: config is not a table")
    known = {f.name for f in fields(GPTConfig)}
    unknown = sorted(str(k) for k in raw if k not in known)
    if unknown:
        raise InputError(f"{name}: unknown config key {unknown[0]!r}")
    for key in POSITIVE:
        value = raw.get(key, getattr(GPTConfig(), key))
        if not _is_int(value) or value < 1 or value > BOUNDS.get(key, value):
            bound = BOUNDS.get(key)
            within = f" and at most {bound:,}" if bound else ""
            raise InputError(f"{name}: config {key} must be a whole number >= 1{within}")
    if not _is_number(raw.get("dropout", 0.0)) or not 0 <= raw.get("dropout", 0.0) < 1:
        raise InputError(f"{name}: config dropout must be in [0, 1)")
    if not isinstance(raw.get("bias", True), bool):
        raise InputError(f"{name}: config bias must be true or false")
    config = GPTConfig(**raw)
    check_size(config, name)
    return config


def parameters(c: GPTConfig) -> int:
    """Parameters the configuration implies (embeddings, blocks, final norm)."""
    e = c.n_embd
    block = 12 * e * e + 13 * e  # attention 4E², MLP 8E², norms and biases
    return (c.vocab_size + c.block_size) * e + c.n_layer * block + 2 * e


def check_size(c: GPTConfig, name: str) -> None:
    if c.n_embd % c.n_head:
        raise InputError(f"{name}: config n_embd {c.n_embd} is not a multiple of n_head")
    n = parameters(c)
    if n > limits.MAX_GPT_PARAMS:
        raise InputError(
            f"{name}: the configuration implies {n:,} parameters; "
            f"qkv loads at most {limits.MAX_GPT_PARAMS:,}"
        )


def check_vocab(vocab: Any, size: int, name: str) -> None:
    if not isinstance(vocab, list) or not all(isinstance(c, str) and len(c) == 1 for c in vocab):
        raise InputError(f"{name}: the vocabulary must be a list of single characters")
    if len(vocab) != size:
        raise InputError(
            f"{name}: the vocabulary has {len(vocab):,} characters, the model {size:,}"
        )
    if len(set(vocab)) != len(vocab):
        raise InputError(f"{name}: the vocabulary repeats characters")
    ensure_text("".join(vocab), f"{name}: the vocabulary")


def check_train(raw: Any, config: GPTConfig, name: str) -> None:
    """Training settings: known keys with numbers of the right kind (used by --resume)."""
    if not isinstance(raw, dict):
        raise InputError(f"{name}: train is not a table")
    for f in fields(TrainConfig):
        if f.name not in raw:
            continue
        value = raw[f.name]
        whole = f.type in (int, "int")
        ok = _is_int(value) if whole else _is_number(value)
        if not ok or value < (1 if whole and f.name != "warmup" else 0):
            kind = "a whole number" if whole else "a finite number"
            raise InputError(f"{name}: train {f.name} must be {kind} >= 0")
    unknown = sorted(str(k) for k in raw if k not in {f.name for f in fields(TrainConfig)})
    if unknown:
        raise InputError(f"{name}: unknown train key {unknown[0]!r}")
    if raw.get("batch_size", 1) * config.block_size > limits.MAX_BATCH_TOKENS:
        raise InputError(f"{name}: train batch_size is too large for this model")
