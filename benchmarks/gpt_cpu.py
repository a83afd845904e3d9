"""The tiny GPT on the CPU: training throughput, KV-cache generation, and real corpora.

1. Training tokens/s of the `baby` shape (4 layers, 128 wide, context 64, batch 12) against a
   plain PyTorch GPT of the same shape written here with torch's fused attention and trained
   as nanoGPT trains on the CPU, measured in the same process, interleaved; and the models
   alone (qkv's model with the plain optimizer).
2. Generation of 256 new tokens on `baby` and `small`, with the KV cache and without, and the
   plain GPT's own cached and uncached decoding, and the same function as bare F.* calls
   (same weights, same window policy; all six must give the same tokens): the bare speedup is
   about the most eager PyTorch can show on this machine.
3. When ../shared/data is present: `baby` on tiny Shakespeare for 2000 steps (nanoGPT's CPU
   figure is val loss 1.88), and on the Tang poems (val loss in bits per character, and the
   share of sampled poems with the 5-5-punctuation shape).

    python benchmarks/gpt_cpu.py [--skip-corpora | --only-corpora] [--skip-generation]
                                 [--threads N] [--rounds R] [--seed S] [--lr LR]
                                 [--json out.json]

--threads sets torch's threads for every model alike (default: qkv.cpus' choice,
OMP_NUM_THREADS when set, else the CPUs this process may run on): `--threads 1` is the
comparison that a loaded machine cannot skew by stalling a second thread.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import time
from dataclasses import replace
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

    def forward(self, x: torch.Tensor, cache: list | None = None) -> torch.Tensor:
        """cache: [keys (B, H, block, hd), values, length], filled in place."""
        b, t, e = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(e, dim=-1)
        q, k, v = (z.view(b, t, self.h, e // self.h).transpose(1, 2) for z in (q, k, v))
        if cache is not None:
            keys, values, n = cache
            keys[:, :, n : n + t] = k
            values[:, :, n : n + t] = v
            k, v = keys[:, :, : n + t], values[:, :, : n + t]
            cache[2] = n + t
            causal = n == 0 and t > 1  # a prefill; one new token sees everything cached
        else:
            causal = True
        y = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, e))
        return x + self.mlp(self.ln2(x))


class PlainGPT(nn.Module):
    def __init__(self, c: GPTConfig):
        super().__init__()
        self.c = c
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

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None, caches=None):
        start = caches[0][2] if caches else 0
        x = self.wte(idx) + self.wpe.weight[start : start + idx.shape[1]]
        for i, blk in enumerate(self.blocks):
            x = blk(x, None if caches is None else caches[i])
        logits = self.head(self.ln_f(x))
        if targets is None:
            return logits, None, []
        return (
            logits,
            F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)),
            [],
        )

    def load_from(self, model: GPT) -> PlainGPT:
        """qkv's weights under the peer's names: both then compute the same function."""
        names = {
            "attn.qkv_proj": "qkv",
            "attn.out_proj": "proj",
            "lm_head": "head",
            "mlp.c_fc": "mlp.0",
            "mlp.c_proj": "mlp.2",
        }
        state = {}
        for key, value in model.state_dict().items():
            for ours, theirs in names.items():
                key = key.replace(ours, theirs)
            state[key] = value
        self.load_state_dict(state)
        return self

    def new_caches(self) -> list:
        c = self.c
        shape = (1, c.n_head, c.block_size, c.n_embd // c.n_head)
        return [[torch.empty(shape), torch.empty(shape), 0] for _ in self.blocks]


class BareGPT:
    """The plain GPT's function as bare F.* calls on its weights: no modules, no checks, no
    generality. Not a way to write a model; it measures what eager PyTorch itself costs a
    token on this machine, with the cache and without."""

    def __init__(self, plain: PlainGPT):
        self.c, self.plain = plain.c, plain

    def new_caches(self) -> list:
        return self.plain.new_caches()

    def __call__(self, idx: torch.Tensor, caches: list | None = None):
        p, c = self.plain, self.c
        e, h = c.n_embd, c.n_head
        b, t = idx.shape
        n = caches[0][2] if caches else 0
        x = F.embedding(idx, p.wte.weight) + p.wpe.weight[n : n + t]
        for i, blk in enumerate(p.blocks):
            y = F.layer_norm(x, (e,), blk.ln1.weight, blk.ln1.bias)
            qkv = F.linear(y, blk.qkv.weight, blk.qkv.bias).view(b, t, 3 * h, e // h)
            q, k, v = qkv.transpose(1, 2).split(h, dim=1)
            if caches is not None:
                keys, values, _ = cache = caches[i]
                keys[:, :, n : n + t] = k
                values[:, :, n : n + t] = v
                k, v = keys[:, :, : n + t], values[:, :, : n + t]
                cache[2] = n + t
            y = F.scaled_dot_product_attention(q, k, v, is_causal=n == 0 and t > 1)
            x = x + F.linear(y.transpose(1, 2).reshape(b, t, e), blk.proj.weight, blk.proj.bias)
            fc, out = blk.mlp[0], blk.mlp[2]
            y = F.layer_norm(x, (e,), blk.ln2.weight, blk.ln2.bias)
            x = x + F.linear(F.gelu(F.linear(y, fc.weight, fc.bias)), out.weight, out.bias)
        x = F.layer_norm(x, (e,), p.ln_f.weight, p.ln_f.bias)
        return F.linear(x, p.wte.weight), None, []


@torch.inference_mode()
def plain_generate(
    model: PlainGPT | BareGPT, prompt: list[int], new: int, use_cache: bool
) -> list[int]:
    """Greedy decoding with the same window policy as qkv.gpt.generate (full: keep the last
    half and start over), so that both produce the same tokens."""
    window, keep = model.c.block_size, max(1, model.c.block_size // 2)
    tokens, start, fed = list(prompt), 0, 0
    caches = model.new_caches() if use_cache else None
    for _ in range(new):
        if len(tokens) - start > window:
            start, fed = len(tokens) - keep, 0
            caches = model.new_caches() if use_cache else None
        if caches is not None:
            logits, _, _ = model(torch.tensor([tokens[start + fed :]]), caches=caches)
            fed = len(tokens) - start
        else:
            logits, _, _ = model(torch.tensor([tokens[start:]]))
        tokens.append(int(torch.argmax(logits[0, -1])))
    return tokens


def throughput(rounds: int = 8, steps: int = 20) -> dict:
    """Three runs, interleaved: qkv as `qkv gpt train` trains it; the plain GPT as nanoGPT
    would on the CPU; and qkv's model with the plain optimizer (the models alone)."""
    model_config, train_config = preset("baby")
    c = GPTConfig(**{**model_config.to_dict(), "vocab_size": 65})
    torch.manual_seed(0)
    data = torch.randint(0, 65, (200_000,))
    plain = PlainGPT(c)
    plain.apply(GPT._init)  # the same initial scale: activations and gradients of the same size
    models = {"qkv": GPT(c), "plain": plain, "qkv_model": GPT(c)}
    opts = {
        "qkv": optimizer_for(models["qkv"], train_config),
        # nanoGPT asks for the fused AdamW only on CUDA: on the CPU it runs the default one
        "plain": optimizer_for(plain, train_config, fused=False),
        "qkv_model": optimizer_for(models["qkv_model"], train_config, fused=False),
    }
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
    q, p, m = (statistics.median(rates[k]) for k in ("qkv", "plain", "qkv_model"))
    per_round = [a / b for a, b in zip(rates["qkv"], rates["plain"], strict=True)]
    return {
        "ratio_range": [min(per_round), max(per_round)],
        "qkv_tokens_per_s": q,
        "plain_tokens_per_s": p,
        "qkv_model_tokens_per_s": m,
        "ratio": q / p,
        "model_ratio": m / p,
    }


def generation(name: str = "baby", new_tokens: int = 256, reps: int = 9) -> dict:
    """qkv.gpt.generate with and without the KV cache; the plain peer and the bare floor the
    same two ways, on the same weights (all six must give the same tokens)."""
    model_config, _ = preset(name)
    c = GPTConfig(**{**model_config.to_dict(), "vocab_size": 65, "dropout": 0.0})
    torch.manual_seed(0)
    model = GPT(c).eval()
    plain = PlainGPT(c).load_from(model).eval()
    bare = BareGPT(plain)
    runs = {
        "qkv_cached": lambda: generate(model, [0], new_tokens, temperature=0, use_cache=True),
        "qkv_uncached": lambda: generate(model, [0], new_tokens, temperature=0, use_cache=False),
        "plain_cached": lambda: plain_generate(plain, [0], new_tokens, True),
        "plain_uncached": lambda: plain_generate(plain, [0], new_tokens, False),
        "bare_cached": lambda: plain_generate(bare, [0], new_tokens, True),
        "bare_uncached": lambda: plain_generate(bare, [0], new_tokens, False),
    }
    outputs = {key: run() for key, run in runs.items()}  # also the warm-up
    reference = outputs["qkv_uncached"]
    assert len(reference) == new_tokens + 1
    assert all(out == reference for out in outputs.values()), "the six ways disagree"
    times: dict[str, list[float]] = {key: [] for key in runs}
    for _ in range(reps):  # interleaved, so that the machine's moods hit all four alike
        for key, run in runs.items():
            t0 = time.perf_counter()
            run()
            times[key].append(time.perf_counter() - t0)
    s = {key: statistics.median(v) for key, v in times.items()}
    return {
        **{f"{key}_s": v for key, v in s.items()},
        "speedup": s["qkv_uncached"] / s["qkv_cached"],
        "plain_speedup": s["plain_uncached"] / s["plain_cached"],
        "bare_speedup": s["bare_uncached"] / s["bare_cached"],
        "cached_vs_plain_cached": s["plain_cached"] / s["qkv_cached"],
    }


POEM = re.compile(r"^(?:[^，。\n]{5}，[^，。\n]{5}。){4}$")  # full-width punctuation


def corpus(name: str, steps: int = 2000, seed: int = 0, lr: float | None = None) -> dict:
    """`baby` on a corpus; lr (with min_lr = lr / 10) replaces the preset's when given."""
    text = (DATA / name).read_text(encoding="utf-8")
    model_config, train_config = preset("baby")
    if lr is not None:
        train_config = replace(train_config, lr=lr, min_lr=lr / 10)
    out = Path("benchmarks/results") / f"gpt-{name.split('.')[0]}"
    for name_ in ("checkpoint.pt", "last.pt"):  # a new run each time
        (out / name_).unlink(missing_ok=True)
    t0 = time.perf_counter()
    result = train(
        text,
        model_config,
        replace(train_config, steps=steps),
        out,
        seed=seed,
    )
    wall = time.perf_counter() - t0
    report = {
        "seed": seed,
        "lr": train_config.lr,
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
    ap.add_argument("--only-corpora", action="store_true")
    ap.add_argument("--skip-generation", action="store_true")
    ap.add_argument("--threads", type=int, help="torch threads (default: qkv.cpus' choice)")
    ap.add_argument("--rounds", type=int, default=8, help="interleaved training rounds")
    ap.add_argument("--seed", type=int, default=0, help="for the corpus runs")
    ap.add_argument("--lr", type=float, help="for the corpus runs (default: the preset's)")
    ap.add_argument("--json", default="benchmarks/results/gpt_cpu.json")
    args = ap.parse_args()
    threads = configure_cpu(args.threads)  # for both models: threads, denormals flushed
    results: dict[str, object] = {"threads": threads}
    print(f"torch threads: {threads}", flush=True)
    if not args.only_corpora:
        speed(results, args.rounds, generate_too=not args.skip_generation)
    if not args.skip_corpora and DATA.exists():
        for name in ("tinyshakespeare.txt", "tang_wuyan_lushi.txt"):
            r = results[name] = corpus(name, seed=args.seed, lr=args.lr)
            extra = (
                f", poems with the 5-5 shape: {r['poem_shape_share']:.0%}"
                if "poem_shape_share" in r
                else ""
            )
            print(
                f"{name}: val loss {r['val_loss']:.3f} ({r['bits_per_char']:.2f} bits/char) "
                f"after {r['steps']} steps in {r['wall_s']:.0f} s (lr {r['lr']:g}, seed "
                f"{r['seed']}){extra}",
                flush=True,
            )
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=2))


def speed(results: dict[str, object], rounds: int, generate_too: bool) -> None:
    tp = results["throughput"] = throughput(rounds)
    print(
        f"training tokens/s, baby: qkv {tp['qkv_tokens_per_s']:,.0f}, plain PyTorch GPT "
        f"{tp['plain_tokens_per_s']:,.0f}, ratio {tp['ratio']:.2f}×; the models alone (the "
        f"same optimizer): {tp['model_ratio']:.2f}×; per round {tp['ratio_range'][0]:.2f}–"
        f"{tp['ratio_range'][1]:.2f}×",
        flush=True,
    )
    for name in ("baby", "small") if generate_too else ():
        g = results[f"generation_{name}"] = generation(name)
        print(
            f"256 new tokens, {name}: KV cache {g['qkv_cached_s'] * 1000:.0f} ms, without "
            f"{g['qkv_uncached_s'] * 1000:.0f} ms, speedup {g['speedup']:.2f}×; plain peer "
            f"{g['plain_cached_s'] * 1000:.0f} / {g['plain_uncached_s'] * 1000:.0f} ms, "
            f"speedup {g['plain_speedup']:.2f}×; qkv cached vs peer cached "
            f"{g['cached_vs_plain_cached']:.2f}×; bare F.* calls (eager PyTorch's floor) "
            f"{g['bare_cached_s'] * 1000:.0f} / {g['bare_uncached_s'] * 1000:.0f} ms, "
            f"speedup {g['bare_speedup']:.2f}×",
            flush=True,
        )


if __name__ == "__main__":
    main()
