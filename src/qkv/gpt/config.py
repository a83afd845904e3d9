"""GPT configurations and the presets."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from qkv.errors import InputError


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int = 0  # set from the tokenizer
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    block_size: int = 32  # the longest context the model sees
    dropout: float = 0.0
    bias: bool = True

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class TrainConfig:
    batch_size: int = 32
    steps: int = 600
    lr: float = 3e-3
    min_lr: float = 3e-4
    warmup: int = 50
    weight_decay: float = 0.1
    eval_interval: int = 100
    eval_batches: int = 20


# tiny: learns the built-in corpus in well under a minute on a laptop CPU.
# baby: nanoGPT's CPU setting (4 layers, 128 wide, context 64, batch 12, 2000 steps, no dropout)
# with biases (nanoGPT's train.py has bias=False; the README's measured figures for baby were
# made with them, so they stay) and the learning rate of tiny: nanoGPT's 1e-3 was set for
# its 6-layer, 384-wide GPU model, and is too low at this size (README, "Measured";
# benchmarks/gpt_cpu.py --only-corpora --lr 1e-3 compares).
PRESETS: dict[str, tuple[GPTConfig, TrainConfig]] = {
    "tiny": (
        GPTConfig(n_layer=2, n_head=4, n_embd=64, block_size=32),
        TrainConfig(batch_size=32, steps=400, lr=3e-3, min_lr=3e-4, warmup=40, eval_interval=100),
    ),
    "baby": (
        GPTConfig(n_layer=4, n_head=4, n_embd=128, block_size=64),
        TrainConfig(
            batch_size=12,
            steps=2000,
            lr=3e-3,
            min_lr=3e-4,
            warmup=100,
            eval_interval=250,
            eval_batches=50,
        ),
    ),
    "small": (
        GPTConfig(n_layer=6, n_head=6, n_embd=192, block_size=128, dropout=0.1),
        TrainConfig(
            batch_size=32,
            steps=5000,
            lr=1e-3,
            min_lr=1e-4,
            warmup=200,
            eval_interval=500,
            eval_batches=50,
        ),
    ),
    # nanoGPT's config/train_shakespeare_char.py, for a GPU (with --text shakespeare.txt):
    # its published val loss is 1.47. nanoGPT evaluates on 200 batches (eval_iters).
    "shakespeare-char": (
        GPTConfig(n_layer=6, n_head=6, n_embd=384, block_size=256, dropout=0.2, bias=False),
        TrainConfig(
            batch_size=64,
            steps=5000,
            lr=1e-3,
            min_lr=1e-4,
            warmup=100,
            eval_interval=250,
            eval_batches=200,
        ),
    ),
}


def preset(name: str) -> tuple[GPTConfig, TrainConfig]:
    try:
        return PRESETS[name]
    except KeyError:
        raise InputError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}") from None
