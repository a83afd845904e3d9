"""What ``--model`` names: the offline MiniLM, a local Hugging Face folder, or a `qkv gpt`
run (its folder or its checkpoint.pt). Loading imports torch (and transformers for the
Hugging Face ones) here, when it is needed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qkv.errors import InputError

MINILM = ("minilm", "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2")
CHECKPOINT = "checkpoint.pt"  # qkv.gpt.checkpoint.FILENAME (importing that imports torch)


@dataclass
class Loaded:
    """A model ready to run, with what reads text into its tokens."""

    model: Any
    tokenizer: Any
    kind: str  # "hf" or "qkv-gpt"
    name: str  # as the user named it: shown in the title


def gpt_checkpoint(name: str) -> Path | None:
    """The checkpoint of a `qkv gpt` run named by its folder or file, else None."""
    path = Path(name)
    if path.is_dir() and (path / CHECKPOINT).is_file():
        return path / CHECKPOINT
    if path.is_file() and path.suffix == ".pt":
        return path
    return None


def open_model(name: str) -> Loaded:
    """The model ``name`` names, loaded offline; InputError saying what it could be."""
    if name in MINILM:
        return _hf(name, "all-MiniLM-L6-v2")
    checkpoint = gpt_checkpoint(name)
    if checkpoint is not None:
        return _gpt(checkpoint, name)
    path = Path(name)
    if path.is_dir() and (path / "config.json").is_file():
        return _hf(name, name)
    raise InputError(
        f"--model {name[:80]!r}: not minilm, a Hugging Face model folder (with config.json) "
        f"or a qkv gpt run (a folder with {CHECKPOINT}, e.g. qkv-gpt after qkv gpt train)"
    )


def _hf(name: str, shown: str) -> Loaded:
    from qkv import hf

    model, tokenizer = hf.load(name)  # without the hf extra: one line that names it
    return Loaded(model, tokenizer, "hf", shown)


def _gpt(path: Path, name: str) -> Loaded:
    from qkv.gpt import checkpoint  # without torch: the CLI names the torch extra

    model, tokenizer = checkpoint.restore(checkpoint.load(path))
    return Loaded(model.eval(), tokenizer, "qkv-gpt", name)
