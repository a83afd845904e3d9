"""Where the GPT runs: the --device choice, and the precision it computes in there."""

from __future__ import annotations

import os
from contextlib import AbstractContextManager, nullcontext

import torch

from qkv.errors import InputError

CHOICES = ("auto", "cpu", "cuda")


def resolve(name: str) -> torch.device:
    """auto: CUDA when torch sees a GPU, else the CPU. Under torchrun each process takes the
    GPU of its LOCAL_RANK."""
    if name not in CHOICES:
        raise InputError(f"--device must be one of {', '.join(CHOICES)}, not {name!r}")
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise InputError(
            f"--device cuda: torch {torch.__version__} sees no CUDA GPU here; use --device cpu"
        )
    local = int(os.environ.get("LOCAL_RANK", "0") or 0)
    return torch.device("cuda", local % torch.cuda.device_count())


def autocast(device: torch.device) -> AbstractContextManager[object]:
    """bfloat16 autocast on a GPU that has it (matrix products in bf16, the weights, the
    optimizer and the reductions in float32: no loss scaling needed); float32 elsewhere."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()
