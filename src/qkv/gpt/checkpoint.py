"""Checkpoints: model, optimizer, step, configs and vocabulary in one file, written atomically."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from qkv.atomic import write_atomic
from qkv.errors import InputError
from qkv.gpt.config import GPTConfig, TrainConfig
from qkv.gpt.data import CharTokenizer
from qkv.gpt.model import GPT

FORMAT = "qkv.gpt/1"
FILENAME = "checkpoint.pt"


def save(
    path: Path,
    model: GPT,
    optimizer: torch.optim.Optimizer | None,
    step: int,
    best_val: float,
    train: TrainConfig,
    tokenizer: CharTokenizer,
) -> None:
    """Write to a temporary file, then rename: an interrupted save keeps the old checkpoint."""
    state = {
        "format": FORMAT,
        "config": asdict(model.config),
        "train": asdict(train),
        "vocab": tokenizer.chars,
        "model": model.state_dict(),
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "step": step,
        "best_val": best_val,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda tmp: torch.save(state, tmp))


def load(path: Path) -> dict[str, Any]:
    """The checkpoint's dict, with a clear error for a missing, foreign or damaged file."""
    if path.is_dir():
        path = path / FILENAME
    if not path.exists():
        raise InputError(f"no checkpoint at {path}; train one with: qkv gpt train")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds for a damaged file
        raise InputError(f"{path} is not a readable checkpoint ({type(e).__name__})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise InputError(f"{path} is a checkpoint of format {found!r}, expected {FORMAT!r}")
    return state


# Parameter names of earlier qkv versions (an unnamed nn.Sequential MLP) -> today's.
RENAMED = {".mlp.0.": ".mlp.c_fc.", ".mlp.2.": ".mlp.c_proj."}


def _current_names(weights: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in weights.items():
        for old, new in RENAMED.items():
            key = key.replace(old, new)
        out[key] = value
    return out


def restore(state: dict[str, Any]) -> tuple[GPT, CharTokenizer]:
    tokenizer = CharTokenizer(state["vocab"])
    model = GPT(GPTConfig(**state["config"]))
    try:
        model.load_state_dict(_current_names(state["model"]))
    except RuntimeError:
        raise InputError("the checkpoint's weights do not fit its configuration") from None
    return model, tokenizer
