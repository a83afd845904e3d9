"""The models behind /api/next and /api/maps, loaded on first use (torch is imported then,
in a worker thread, never at startup), and the tiny GPT trained in the background when there
is no checkpoint yet, with its progress for the page."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qkv.errors import InputError
from qkv.serve.errors import Unavailable

# qkv.gpt.checkpoint.FILENAME and `qkv gpt train`'s default folder, named here because importing
# qkv.gpt imports torch (tests/test_serve_api.py holds them equal).
CHECKPOINT = "checkpoint.pt"
TRAIN_DIR = "qkv-gpt"


def cache_dir() -> Path:
    """Where qkv keeps what it made for the user: $XDG_CACHE_HOME/qkv or ~/.cache/qkv."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "qkv"


@dataclass
class GPTSource:
    """A checkpoint to load, or a folder to train the tiny preset into when it has none."""

    checkpoint: Path
    train_steps: int | None = None  # None: the tiny preset's
    trains: bool = False  # may train here when the checkpoint is missing or unfinished


def find_gpt(checkpoint: str | None, cache: Path) -> GPTSource:
    """An explicit checkpoint (which must exist), else `qkv gpt train`'s default folder when it
    holds one, else the cache (trained there on first use)."""
    if checkpoint is not None:
        path = Path(checkpoint)
        path = path / CHECKPOINT if path.is_dir() else path
        if not path.is_file():
            raise InputError(f"--checkpoint {checkpoint}: no checkpoint there (qkv gpt train)")
        return GPTSource(path)
    here = Path(TRAIN_DIR) / CHECKPOINT
    if here.is_file():
        return GPTSource(here)
    return GPTSource(cache / "gpt" / CHECKPOINT, trains=True)


@dataclass
class GPTHolder:
    source: GPTSource
    state: str = "idle"  # idle, loading, untrained, training, ready, failed
    step: int = 0
    steps: int = 0
    loss: float | None = None
    error: str | None = None
    model: Any = None
    tokenizer: Any = None
    lock: threading.Lock = field(default_factory=threading.Lock)  # one forward pass at a time
    _start: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None
    _may_train: bool = False

    def status(self) -> dict[str, Any]:
        """What the model is doing (asking starts nothing)."""
        d: dict[str, Any] = {"schema": "qkv.gpt-status/1", "state": self.state}
        if self.state == "training":
            d.update(step=self.step, steps=self.steps, loss=self.loss)
        if self.error:
            d["error"] = self.error
        if self.model is not None:
            c = self.model.config
            d["model"] = {
                "layers": c.n_layer,
                "heads": c.n_head,
                "width": c.n_embd,
                "context": c.block_size,
                "vocabulary": len(self.tokenizer),
            }
        return d

    def start(self, train: bool = False) -> None:
        """Load the checkpoint in the background; with ``train``, train it first when it is
        missing or unfinished (only POST /api/gpt/start asks that: a GET never trains).
        Idempotent while it works."""
        with self._start:
            if self._thread is not None and self._thread.is_alive():
                return
            if self.state in ("ready", "failed") or (self.state == "untrained" and not train):
                return
            self.state, self._may_train = "loading", train
            self._thread = threading.Thread(target=self._run, name="qkv-gpt", daemon=True)
            self._thread.start()

    def ready(self) -> tuple[Any, Any]:
        """(model, tokenizer), or Unavailable saying what is happening (loading a finished
        checkpoint starts here; training never does)."""
        self.start()
        if self.state == "ready":
            return self.model, self.tokenizer
        if self.state == "untrained":
            raise Unavailable("the tiny GPT is not trained yet: POST /api/gpt/start trains it")
        if self.state == "training":
            raise Unavailable(f"the tiny GPT is training: step {self.step} of {self.steps}")
        if self.state == "failed":
            raise Unavailable(f"the tiny GPT is not available: {self.error}")
        raise Unavailable("the tiny GPT is loading")

    def _run(self) -> None:
        try:
            from qkv.gpt.train import configure_cpu

            configure_cpu()
            if self.source.trains and self._unfinished():
                if not self._may_train:
                    self.state = "untrained"
                    return
                self._train()
            from qkv.gpt import checkpoint

            self.model, self.tokenizer = checkpoint.restore(checkpoint.load(self.source.checkpoint))
            self.model.eval()
            self.state = "ready"
        except InputError as e:
            self.error, self.state = str(e), "failed"
        except Exception as e:  # a worker thread must say why it stopped, not die silently
            self.error, self.state = f"{type(e).__name__}: {e}", "failed"

    def _unfinished(self) -> bool:
        path = self.source.checkpoint
        if not path.is_file():
            return True
        from qkv.gpt import checkpoint

        # the run's last state (checkpoint.pt is its best, which may be an earlier step)
        last = path.with_name(checkpoint.LAST)
        state = checkpoint.load(last if last.is_file() else path)
        return int(state["step"]) < int(self.source.train_steps or state["train"]["steps"])

    def _train(self) -> None:
        from dataclasses import replace

        from qkv.gpt.config import preset
        from qkv.gpt.data import builtin_corpus
        from qkv.gpt.train import train

        model_config, train_config = preset("tiny")
        if self.source.train_steps is not None:
            train_config = replace(train_config, steps=self.source.train_steps)
        self.steps, self.state = train_config.steps, "training"

        def progress(p: Any) -> None:
            self.step, self.loss = p.step, p.loss

        train(
            builtin_corpus(),
            model_config,
            train_config,
            self.source.checkpoint.parent,
            seed=0,
            resume=self.source.checkpoint.is_file(),
            on_progress=progress,
        )
