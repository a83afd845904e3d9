"""Attention on the CPU: qkv.nn against torch's fused SDPA and the article's class.

fp32, B=1, H=8, d=64, N in {1024, ..., 16384}; forward and forward+backward; causal and not.
Each case is timed in one subprocess that runs every implementation interleaved (median of a
few repetitions; ratios are against torch SDPA from that same process); the peak memory of
each (implementation, case) is measured in a subprocess of its own (ru_maxrss growth over the
inputs, after a small run has loaded the code). All run under an address-space limit, so an
implementation that runs out of memory is reported as OOM instead of taking the machine down.
Then MultiHeadAttention against torch.nn.MultiheadAttention (need_weights=False),
forward+backward at N=2048, E=512.

    python benchmarks/attention_cpu.py [--sizes 1024 2048 4096] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

IMPLS = ("sdpa", "auto", "tiled", "article")
SIZES = (1024, 2048, 4096, 8192, 16384)


def _setup(impl: str, n: int, mode: str, causal: bool):
    """Inputs and a step() that runs one forward (and backward) of one implementation."""
    import torch

    from qkv.nn import attention

    torch.manual_seed(0)
    shape = (1, 8, n, 64)
    grad = mode == "fwd+bwd"
    q, k, v = (torch.randn(shape, requires_grad=grad) for _ in range(3))
    g = torch.randn(shape)
    if impl == "sdpa":

        def f():
            return torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal)
    elif impl in ("auto", "tiled"):

        def f():
            return attention(q, k, v, causal=causal, backend=impl)
    else:
        from qkv.nn.article import ArticleScaledDotProductAttention

        module = ArticleScaledDotProductAttention(64**0.5, attn_dropout=0.0).eval()
        mask = torch.tril(torch.ones(n, n, dtype=torch.bool)) if causal else None

        def f():
            return module(q, k, v, mask)[0]

    def step() -> None:
        out = f()
        if grad:
            out.backward(g)
            for t in (q, k, v):
                t.grad = None

    return step


def _oom(e: BaseException) -> bool:
    return isinstance(e, MemoryError) or "memory" in str(e).lower()


def time_case(n: int, mode: str, causal: bool, impls: list[str], reps: int) -> dict:
    """In one process: every implementation on one case, interleaved, median of reps."""
    steps, times, out = {}, {}, {}
    for impl in impls:
        try:
            steps[impl] = _setup(impl, n, mode, causal)
            steps[impl]()  # warm-up
            times[impl] = []
        except (MemoryError, RuntimeError) as e:
            out[impl] = {"error": "OOM" if _oom(e) else str(e)[:80]}
            steps.pop(impl, None)
    for _ in range(reps):
        for impl, step in steps.items():
            t0 = time.perf_counter()
            step()
            times[impl].append(time.perf_counter() - t0)
    for impl in steps:
        out[impl] = {"time_s": statistics.median(times[impl])}
    return out


def peak_memory(impl: str, n: int, mode: str, causal: bool) -> dict:
    """In its own process: peak memory growth of one step, after a small run loads the code."""
    _setup(impl, 300, mode, causal)()
    step = _setup(impl, n, mode, causal)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        step()
    except (MemoryError, RuntimeError) as e:
        return {"error": "OOM" if _oom(e) else str(e)[:80]}
    return {"peak_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024}


def in_subprocess(call: str, limit_gb: float) -> dict:
    """Run `call` (a function call in this module) in a fresh process under a memory limit."""
    limit = int(limit_gb * 2**30)
    code = (
        "import json, resource, sys\n"
        f"resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "import attention_cpu\n"
        f"print(json.dumps(attention_cpu.{call}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if proc.returncode != 0:
        return {
            "error": "OOM"
            if proc.returncode in (-9, 137) or "memory" in proc.stderr.lower()
            else f"exit {proc.returncode}: {proc.stderr.strip()[-120:]}"
        }
    return json.loads(proc.stdout.strip().splitlines()[-1])


def mha_case(reps: int = 9) -> dict:
    """MultiHeadAttention vs torch.nn.MultiheadAttention, forward+backward, in one process."""
    import torch
    from torch import nn

    from qkv.nn import MultiHeadAttention

    torch.manual_seed(0)
    theirs = nn.MultiheadAttention(512, 8, batch_first=True)
    ours = MultiHeadAttention.from_torch(theirs)
    x = torch.randn(1, 2048, 512, requires_grad=True)
    g = torch.randn(1, 2048, 512)

    def run_theirs() -> None:
        theirs(x, x, x, need_weights=False)[0].backward(g)

    def run_ours() -> None:
        ours(x)[0].backward(g)

    t_theirs, t_ours = [], []
    run_theirs(), run_ours()
    for _ in range(reps):
        for fn, sink in ((run_theirs, t_theirs), (run_ours, t_ours)):
            t0 = time.perf_counter()
            fn()
            sink.append(time.perf_counter() - t0)
    a, b = statistics.median(t_theirs), statistics.median(t_ours)
    return {"torch_mha_s": a, "qkv_mha_s": b, "ratio": a / b}


def fmt_ratio(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}×"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    ap.add_argument("--modes", nargs="+", default=["fwd", "fwd+bwd"])
    ap.add_argument("--impls", nargs="+", default=list(IMPLS))
    ap.add_argument("--limit-gb", type=float, default=20.0, help="address-space limit per case")
    ap.add_argument("--json", default="benchmarks/results/attention_cpu.json")
    args = ap.parse_args()

    rows = []
    for n in args.sizes:
        for mode in args.modes:
            for causal in (False, True):
                reps = 5 if n <= 2048 else (3 if n <= 8192 else 2)
                timed = in_subprocess(
                    f"time_case({n}, {mode!r}, {causal}, {args.impls!r}, {reps})", args.limit_gb
                )
                res = {}
                for impl in args.impls:
                    r = dict(timed.get(impl, timed))  # a whole-process error applies to all
                    mem = in_subprocess(
                        f"peak_memory({impl!r}, {n}, {mode!r}, {causal})", args.limit_gb
                    )
                    r.update(
                        {"peak_mb": mem["peak_mb"]}
                        if "peak_mb" in mem
                        else {"error": r.get("error") or mem["error"]}
                    )
                    res[impl] = r
                rows.append({"n": n, "mode": mode, "causal": causal, "results": res})
                base = res.get("sdpa", {}).get("time_s")
                cells = []
                for impl in args.impls:
                    r = res[impl]
                    if "time_s" not in r:
                        cells.append(f"{impl}: {r.get('error')}")
                    else:
                        ratio = base / r["time_s"] if base else None
                        mem_text = f"{r['peak_mb']:.0f} MB" if "peak_mb" in r else r["error"]
                        cells.append(
                            f"{impl}: {r['time_s'] * 1000:.0f} ms {fmt_ratio(ratio)} {mem_text}"
                        )
                print(f"N={n} {mode} causal={causal}: " + " | ".join(cells), flush=True)

    mha = mha_case()
    print(
        f"MultiHeadAttention fwd+bwd N=2048 E=512: torch {mha['torch_mha_s'] * 1000:.0f} ms, "
        f"qkv {mha['qkv_mha_s'] * 1000:.0f} ms, ratio {mha['ratio']:.2f}×"
    )

    print()
    print(
        f"{date.today()}, {platform.machine()}, {platform.processor() or 'cpu'}, "
        f"torch threads: {__import__('torch').get_num_threads()}; throughput ratio = "
        "SDPA time / ours (≥ 1 is faster); memory = peak growth over the inputs"
    )
    head = (
        "| N | pass | causal | "
        + " | ".join(f"{i} ms | {i} ratio | {i} MB" for i in args.impls)
        + " |"
    )
    print(head)
    print("|" + "---|" * (3 + 3 * len(args.impls)))
    for row in rows:
        cells = [str(row["n"]), row["mode"], "yes" if row["causal"] else "no"]
        base = row["results"].get("sdpa", {}).get("time_s")
        for impl in args.impls:
            r = row["results"][impl]
            t = r.get("time_s")
            cells += [
                f"{t * 1000:.0f}" if t else r.get("error", "—"),
                fmt_ratio(base / t if base and t else None),
                f"{r['peak_mb']:.0f}" if "peak_mb" in r else r.get("error", "—"),
            ]
        print("| " + " | ".join(cells) + " |")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {"date": str(date.today()), "machine": platform.machine(), "rows": rows, "mha": mha},
            indent=2,
        )
    )
    print(f"\nJSON: {out}")


if __name__ == "__main__":
    main()
