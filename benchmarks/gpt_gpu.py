"""qkv's GPT on a GPU against the plain PyTorch GPT of benchmarks/gpt_cpu.py, in one process.

1. Training tokens/s in nanoGPT's shakespeare-char shape (6 layers x 384, context 256, batch
   64; dropout 0 in both, the plain GPT has none), bfloat16 autocast, fused AdamW, the same
   step for both models; eager and with torch.compile; the four runs interleaved round by
   round, the ratio qkv / plain taken per round and its median printed.
2. Greedy decoding on the GPU: the tiny preset trained there for a few seconds, then its
   cached and uncached decoding must give the same tokens (and their tokens/s).

    python benchmarks/gpt_gpu.py [--rounds R] [--steps S] [--json out.json]
    python benchmarks/gpt_gpu.py --dry     # CPU, a tiny model, compile's eager backend
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "src"), str(HERE)]

from gpt_cpu import PlainGPT  # noqa: E402 (the peer, written once)

from qkv.gpt import checkpoint  # noqa: E402
from qkv.gpt.config import GPTConfig, preset  # noqa: E402
from qkv.gpt.data import builtin_corpus  # noqa: E402
from qkv.gpt.device import autocast  # noqa: E402
from qkv.gpt.generate import generate  # noqa: E402
from qkv.gpt.model import GPT  # noqa: E402
from qkv.gpt.train import train  # noqa: E402

SHAPE = GPTConfig(
    vocab_size=65, n_layer=6, n_head=6, n_embd=384, block_size=256, dropout=0.0, bias=False
)
MODELS = (("qkv", GPT), ("plain", PlainGPT))
DRY_SHAPE = GPTConfig(vocab_size=65, n_layer=2, n_head=2, n_embd=32, block_size=32, bias=False)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def contender(
    cls: type[torch.nn.Module], c: GPTConfig, compiled: bool, batch: int, device: torch.device
) -> Callable[[int], float]:
    """run(steps) -> seconds: that many training steps on one fixed batch."""
    torch.manual_seed(0)
    model = cls(c).to(device)
    model.apply(GPT._init)  # the same initial scale for both
    forward = compile_fn(device)(model) if compiled else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=True)
    x = torch.randint(0, c.vocab_size, (batch, c.block_size), device=device)
    y = torch.randint(0, c.vocab_size, (batch, c.block_size), device=device)

    def run(steps: int) -> float:
        sync(device)
        start = time.perf_counter()
        for _ in range(steps):
            with autocast(device):
                _, loss, _ = forward(x, y)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        sync(device)
        return time.perf_counter() - start

    return run


def compile_fn(device: torch.device) -> Callable[..., Any]:
    """torch.compile; on the CPU (--dry) its eager backend: the tracing, not minutes of C++."""
    if device.type == "cpu":
        return functools.partial(torch.compile, backend="eager")
    return torch.compile


def throughput(args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """Eager, then compiled (a compile that runs out of time leaves the eager row printed):
    each mode's two models warmed up, then measured in alternation, round by round."""
    c = DRY_SHAPE if args.dry else SHAPE
    batch = 4 if args.dry else 64
    tokens = args.steps * batch * c.block_size
    result: dict[str, Any] = {}
    for compiled in (False, True):
        mode = "compiled" if compiled else "eager"
        runs = {name: contender(cls, c, compiled, batch, device) for name, cls in MODELS}
        for name, run in runs.items():  # warm-up: compiling, autotuning, the allocator
            clock = time.perf_counter()
            run(3)
            warm = time.perf_counter() - clock
            print(f"  warm-up {name} {mode}: {warm:.1f} s", flush=True)
        rates: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.rounds):
            for name, run in runs.items():
                rates[name].append(tokens / run(args.steps))
        pairs = zip(rates["qkv"], rates["plain"], strict=True)
        ratios = [a / b for a, b in pairs]
        result[mode] = {
            "qkv_tokens_s": statistics.median(rates["qkv"]),
            "plain_tokens_s": statistics.median(rates["plain"]),
            "ratio": statistics.median(ratios),
            "ratios": ratios,
        }
        print(f"  {mode}: {_row(mode, result[mode])}", flush=True)
    print(
        f"\ntraining, {c.n_layer} layers x {c.n_embd}, context {c.block_size}, batch {batch}, "
        f"bf16 autocast on CUDA, tokens/s (median of {args.rounds} interleaved rounds of "
        f"{args.steps} steps):\n\n| | plain GPT | qkv GPT | qkv / plain (median of rounds) |"
        "\n|---|---|---|---|"
    )
    for mode, r in result.items():
        print(f"| {mode} | {_row(mode, r)} |")
    return result


def _row(mode: str, r: dict[str, Any]) -> str:
    low, high = min(r["ratios"]), max(r["ratios"])
    return (
        f"{r['plain_tokens_s']:,.0f} | {r['qkv_tokens_s']:,.0f} | "
        f"{r['ratio']:.3f}× (rounds {low:.3f}–{high:.3f})"
    )


def decoding(args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """The tiny preset trained on this device, then greedy decoding with and without the
    cache: the same tokens, and each one's tokens/s."""
    model_config, train_config = preset("tiny")
    if args.dry:
        train_config = replace(train_config, steps=10, eval_interval=10, eval_batches=2)
    with tempfile.TemporaryDirectory() as out:
        trained = train(builtin_corpus(), model_config, train_config, Path(out), device=device)
        model, tok = checkpoint.restore(checkpoint.load(Path(out)))
    model.to(device)
    prompt, new = tok.encode("我爱吃"), 20 if args.dry else 300
    result: dict[str, Any] = {"val_loss": trained["best_val"]}
    outputs = {}
    for cached in (True, False):
        generate(model, prompt, 5, temperature=0, use_cache=cached)  # warm
        clock = time.perf_counter()
        outputs[cached] = generate(model, prompt, new, temperature=0, use_cache=cached)
        result["cached" if cached else "uncached"] = new / (time.perf_counter() - clock)
    same = outputs[True] == outputs[False]
    pairs = enumerate(zip(outputs[True], outputs[False], strict=False))
    first = next((i for i, (a, b) in pairs if a != b), None)
    result.update(identical=same, first_difference=first, text=tok.decode(outputs[True][:40]))
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=20, help="steps per contender per round")
    p.add_argument("--dry", action="store_true", help="on the CPU, a tiny model")
    p.add_argument("--json", metavar="FILE")
    args = p.parse_args(argv)
    if args.dry:
        args.rounds, args.steps = min(args.rounds, 2), min(args.steps, 2)
    elif not torch.cuda.is_available():
        print("gpt_gpu: needs CUDA (or --dry for the CPU)", file=sys.stderr)
        return 2
    device = torch.device("cpu" if args.dry else "cuda")
    name = "cpu" if args.dry else torch.cuda.get_device_name(0)
    print(f"# the GPT on {name}, torch {torch.__version__}", flush=True)
    clock = time.perf_counter()
    dec = decoding(args, device)
    print(
        f"\ngreedy decoding (tiny preset, val loss {dec['val_loss']:.3f}): cached "
        f"{dec['cached']:,.0f} tokens/s, uncached {dec['uncached']:,.0f} tokens/s; "
        f"identical: {dec['identical']}"
        + ("" if dec["identical"] else f" (first difference at token {dec['first_difference']})")
    )
    print(f"  {dec['text']!r}", flush=True)
    speed = throughput(args, device)
    print(f"\nwall {time.perf_counter() - clock:.0f} s", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"train": speed, "decode": dec}, indent=1))
    return 0 if dec["identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
