"""Checkpoints: model, optimizer, step, configs and vocabulary in one file, written atomically.

Loading one from a stranger: at most limits.CHECKPOINT_BYTES, read while reading; only the
zip format torch.save writes (its declared sizes checked before torch reads it); loaded with
weights_only=True (no code runs); then qkv.gpt.state checks every field before a model is
built from it.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any

import torch

from qkv import limits
from qkv.archive import check_directory
from qkv.errors import InputError
from qkv.files import open_regular, read_bytes, write_file
from qkv.gpt.config import GPTConfig, TrainConfig
from qkv.gpt.data import CharTokenizer
from qkv.gpt.model import GPT

FORMAT = "qkv.gpt/1"
FILENAME = "checkpoint.pt"  # the best validation loss so far: what sample, probe, attention load
LAST = "last.pt"  # the state at the last evaluation, with its RNG states: what --resume continues


def save(
    path: Path,
    model: GPT,
    optimizer: torch.optim.Optimizer | None,
    step: int,
    best_val: float,
    train: TrainConfig,
    tokenizer: CharTokenizer,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write to a temporary file, then rename: an interrupted save keeps the old checkpoint.
    ``extra``: optional fields (qkv.gpt.state.OPTIONAL: the RNG states, the best step, the
    preset's name, the text's path and digest)."""
    state = {
        **(extra or {}),
        "format": FORMAT,
        "config": asdict(model.config),
        "train": asdict(train),
        "vocab": tokenizer.chars,
        "model": model.state_dict(),
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "step": step,
        "best_val": best_val,
    }
    write_file(path, lambda f: torch.save(state, f), "checkpoint")


def in_folder(folder: Path, which: str = "best") -> Path:
    """A run folder's checkpoint: ``best`` (checkpoint.pt; a folder trained with --save last
    has only last.pt, which is taken then) or ``last`` (last.pt; a folder of an older qkv,
    or trained with --save best, has only checkpoint.pt, taken then)."""
    first, second = (FILENAME, LAST) if which == "best" else (LAST, FILENAME)
    return folder / first if (folder / first).exists() else folder / second


def load(path: Path, which: str = "best") -> dict[str, Any]:
    """The checkpoint's dict, with a clear error for a missing, foreign or damaged file. A
    folder: its ``which`` checkpoint (:func:`in_folder`)."""
    if path.is_dir():
        path = in_folder(path, which)
    if not path.exists():
        raise InputError(f"no checkpoint at {path}; train one with: qkv gpt train")
    with open_regular(path, "checkpoint", limits.CHECKPOINT_BYTES) as f:
        if f is not None:  # its directory counted in place, before the file is read whole
            _check_directory(f, path)
    data = read_bytes(path, "checkpoint", limits.CHECKPOINT_BYTES)
    _check_zip(data, path)
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds for a damaged file
        raise InputError(f"{path} is not a readable checkpoint ({type(e).__name__})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise InputError(f"{path} is a checkpoint of format {found!r}, expected {FORMAT!r}")
    from qkv.gpt.state import check_state

    check_state(state, str(path))
    return state


def _check_zip(data: bytes, path: Path) -> None:
    """torch.save's zip format, whose members unpack to at most CHECKPOINT_BYTES (their
    count and directory checked first, before zipfile builds an object for each)."""
    try:
        _check_directory(io.BytesIO(data), path)
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            declared = sum(info.file_size for info in z.infolist())
    except InputError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise InputError(f"{path} is not a readable checkpoint (not a torch zip file)") from None
    if declared > limits.CHECKPOINT_BYTES:
        raise InputError(f"{path} declares {declared:,} bytes of contents; too large")


def _check_directory(f: IO[bytes], path: Path) -> None:
    entries, directory = limits.CHECKPOINT_ZIP_ENTRIES, limits.CHECKPOINT_ZIP_DIRECTORY
    try:
        check_directory(f, str(path), entries, directory)
    except InputError:
        raise
    except (OSError, ValueError):
        raise InputError(f"{path} is not a readable checkpoint (not a torch zip file)") from None


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
    """The model and tokenizer of a checkpoint that :func:`load` checked."""
    tokenizer = CharTokenizer(state["vocab"])
    model = GPT(GPTConfig(**state["config"]))
    weights = state["model"]
    if not all(
        isinstance(k, str) and isinstance(t, torch.Tensor) and t.is_floating_point()
        for k, t in weights.items()
    ):
        raise InputError("the checkpoint's weights are not all floating-point tensors")
    try:
        model.load_state_dict(_current_names(weights))
    except (RuntimeError, ValueError, TypeError):
        raise InputError("the checkpoint's weights do not fit its configuration") from None
    if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
        raise InputError("the checkpoint's weights hold NaN or infinity")
    return model, tokenizer
