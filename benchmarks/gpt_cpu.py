"""The tiny GPT on the CPU: training throughput, KV-cache generation, and real corpora.

1. Training tokens/s of the `baby` shape (4 layers, 128 wide, context 64, batch 12) against a
   plain PyTorch GPT of the same shape written here with torch's fused attention, measured in
   the same process, interleaved.
2. Generation of 256 new tokens on `baby`, with the KV cache and without.
3. When ../shared/data is present: `baby` on tiny Shakespeare for 2000 steps (nanoGPT's CPU
   figure is val loss 1.88), and on the Tang poems (val loss in bits per character, and the
   share of sampled poems with the 5-5-punctuation shape).

    python benchmarks/gpt_cpu.py [--skip-corpora] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from qkv.gpt.config import GPTConfig, preset
from qkv.gpt.generate import generate
from qkv.gpt.model import GPT
from qkv.gpt.train import batch, configure_cpu, optimizer_for, train

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


class PlainBlock(nn.Module):
    """A straightforward pre-norm block with torch's fused attention (the peer)."""

    def __init__(self, e: int, h: int, bias: bool):
        super().__init__()
        self.h = h
        self.ln1, self.ln2 = nn.LayerNorm(e, bias=bias), nn.LayerNorm(e, bias=bias)
        self.qkv, self.proj = nn.Linear(e, 3 * e, bias=bias), nn.Linear(e, e, bias=bias)
        self.mlp = nn.Sequential(
            nn.Linear(e, 4 * e, bias=bias), nn.GELU(), nn.Linear(4 * e, e, bias=bias)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, e = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(e, dim=-1)
        q, k, v = (z.view(b, t, self.h, e // self.h).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, e))
        return x + self.mlp(self.ln2(x))


class PlainGPT(nn.Module):
    def __init__(self, c: GPTConfig):
        super().__init__()
        self.wte, self.wpe = (
            nn.Embedding(c.vocab_size, c.n_embd),
            nn.Embedding(c.block_size, c.n_embd),
        )
        self.blocks = nn.ModuleList(
            PlainBlock(c.n_embd, c.n_head, c.bias) for _ in range(c.n_layer)
        )
        self.ln_f = nn.LayerNorm(c.n_embd, bias=c.bias)
        self.head = nn.Linear(c.n_embd, c.vocab_size, bias=False)
        self.head.weight = self.wte.weight

    def forward(self, idx: torch.Tensor, targets: torch.Tensor):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for blk in self.blocks:
            x = blk(x)
        logits = self.head(self.ln_f(x))
        return (
            logits,
            F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)),
            [],
        )


def throughput(rounds: int = 8, steps: int = 20) -> dict:
    model_config, train_config = preset("baby")
    c = GPTConfig(**{**model_config.to_dict(), "vocab_size": 65})
    torch.manual_seed(0)
    data = torch.randint(0, 65, (200_000,))
    plain = PlainGPT(c)
    plain.apply(GPT._init)  # the same initial scale: activations and gradients of the same size
    models = {"qkv": GPT(c), "plain": plain}
    opts = {name: optimizer_for(m, train_config) for name, m in models.items()}
    gen = torch.Generator().manual_seed(0)
    rates: dict[str, list[float]] = {name: [] for name in models}

    def run(name: str, n: int) -> float:
        model, opt = models[name], opts[name]
        t0 = time.perf_counter()
        for _ in range(n):
            x, y = batch(data, train_config.batch_size, c.block_size, gen)
            _, loss, _ = model(x, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return n * train_config.batch_size * c.block_size / (time.perf_counter() - t0)

    for name in models:
        run(name, 5)  # warm-up
    for _ in range(rounds):
        for name in models:
            rates[name].append(run(name, steps))
    q, p = statistics.median(rates["qkv"]), statistics.median(rates["plain"])
    return {"qkv_tokens_per_s": q, "plain_tokens_per_s": p, "ratio": q / p}


def generation(name: str = "baby", new_tokens: int = 256, reps: int = 3) -> dict:
    model_config, _ = preset(name)
    torch.manual_seed(0)
    model = GPT(GPTConfig(**{**model_config.to_dict(), "vocab_size": 65, "dropout": 0.0})).eval()
    times: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(reps):
        for cached in (True, False):
            t0 = time.perf_counter()
            out = generate(model, [0], new_tokens, temperature=0, use_cache=cached)
            times[cached].append(time.perf_counter() - t0)
            assert len(out) == new_tokens + 1
    a, b = statistics.median(times[True]), statistics.median(times[False])
    return {"cached_s": a, "uncached_s": b, "speedup": b / a}


POEM = re.compile(r"^(?:[^，。\n]{5}，[^，。\n]{5}。){4}$")  # full-width punctuation


def corpus(name: str, steps: int = 2000) -> dict:
    text = (DATA / name).read_text(encoding="utf-8")
    model_config, train_config = preset("baby")
    out = Path("benchmarks/results") / f"gpt-{name.split('.')[0]}"
    if (out / "checkpoint.pt").exists():
        (out / "checkpoint.pt").unlink()
    t0 = time.perf_counter()
    result = train(
        text,
        model_config,
        train_config.__class__(**{**train_config.__dict__, "steps": steps}),
        out,
        seed=0,
    )
    wall = time.perf_counter() - t0
    report = {
        "steps": steps,
        "val_loss": result["best_val"],
        "wall_s": wall,
        "bits_per_char": result["best_val"] / math.log(2),
    }
    if name.startswith("tang"):
        from qkv.gpt import checkpoint

        model, tok = checkpoint.restore(checkpoint.load(out))
        good, n = 0, 50
        for seed in range(n):
            ids = generate(model, tok.encode("\n"), 48, temperature=0.8, top_k=50, seed=seed)
            good += bool(POEM.match(tok.decode(ids)[1:]))
        report["poem_shape_share"] = good / n
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-corpora", action="store_true")
    ap.add_argument("--json", default="benchmarks/results/gpt_cpu.json")
    args = ap.parse_args()
    threads = configure_cpu()  # for both models: threads, denormals flushed
    results: dict[str, object] = {"threads": threads}
    tp = results["throughput"] = throughput()
    print(
        f"training tokens/s, baby: qkv {tp['qkv_tokens_per_s']:,.0f}, plain PyTorch GPT "
        f"{tp['plain_tokens_per_s']:,.0f}, ratio {tp['ratio']:.2f}×",
        flush=True,
    )
    for name in ("baby", "small"):
        g = results[f"generation_{name}"] = generation(name)
        print(
            f"256 new tokens, {name}: KV cache {g['cached_s'] * 1000:.0f} ms, without "
            f"{g['uncached_s'] * 1000:.0f} ms, speedup {g['speedup']:.1f}×",
            flush=True,
        )
    if not args.skip_corpora and DATA.exists():
        for name in ("tinyshakespeare.txt", "tang_wuyan_lushi.txt"):
            r = results[name] = corpus(name)
            extra = (
                f", poems with the 5-5 shape: {r['poem_shape_share']:.0%}"
                if "poem_shape_share" in r
                else ""
            )
            print(
                f"{name}: val loss {r['val_loss']:.3f} ({r['bits_per_char']:.2f} bits/char) "
                f"after {r['steps']} steps in {r['wall_s']:.0f} s{extra}",
                flush=True,
            )
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
