"""Every attention path of qkv on a GPU against torch's SDPA, measured in one process.

bf16, H = 16, d = 128, B·N = 16,384 tokens, N in (4096, 16384); forward and forward+backward;
TFLOP/s of useful FLOPs (4·B·H·d per query-key pair a query may see; the backward counts 2.5
times the forward), the ratio to the problem's SDPA baseline, and peak memory against it.

Problems (the baseline, torch's F.scaled_dot_product_attention on its fused kernels, first):

    full         no mask                              qkv auto, sdpa, flex, tiled, math
    causal       square causal                        the same
    lse          square causal, with the logsumexp    qkv auto, flex, tiled, math
    bottom-right causal, L = N/2 queries at the end   qkv auto, sdpa, flex, tiled; torch SDPA
                 (a prefill against a cache)          with causal_lower_right and with a dense
                                                      mask; baseline: SDPA causal square N x N
    window       causal, a sliding window of N/8      qkv auto, flex; torch SDPA dense mask
    documents    causal, four packed documents a row  qkv auto, flex; torch SDPA dense mask

tiled and math (they form (L, S) scores or loop in Python) run at N = 4096 only. Timing: CUDA
events, the median of several runs after warm-up (the first call of a flex kernel compiles it).

    python benchmarks/attention_gpu.py [--quick] [--json out.json]
    python benchmarks/attention_gpu.py --dry     # CPU, float32, tiny sizes: exercises the code
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from qkv.nn import attention, flex

Tensor = torch.Tensor
Fn = Callable[[], Any]


@dataclass(frozen=True)
class Size:
    n: int  # keys (and queries, but for bottom-right)
    batch: int
    heads: int
    d: int
    dtype: torch.dtype
    device: str
    slow_paths: bool  # tiled and math as well


@dataclass
class Problem:
    name: str
    n_q: int
    n_k: int
    pairs: int  # query-key pairs a query may see, per batch row and head
    baseline: str  # the path the ratios are against
    paths: dict[str, Callable[[Tensor, Tensor, Tensor], Any]] = field(default_factory=dict)
    baseline_shape: tuple[int, int] | None = None  # (L, S) when the baseline is another problem


def sizes(args: argparse.Namespace) -> list[Size]:
    if args.dry:
        return [Size(n, 2, 2, 16, torch.float32, "cpu", True) for n in (64, 192)]
    ns = (4096,) if args.quick else (4096, 16384)
    slow = not args.no_slow
    return [Size(n, 16384 // n, 16, 128, torch.bfloat16, "cuda", slow and n <= 4096) for n in ns]


def problems(size: Size) -> list[Problem]:
    """The problems at one size, each with its paths: fn(q, k, v) -> output (or (out, lse))."""
    n, dev = size.n, size.device
    slow = size.slow_paths
    i = torch.arange(n, device=dev)

    def qkv_paths(names: tuple[str, ...], **kw: Any) -> dict[str, Callable[..., Any]]:
        return {
            f"qkv {b}": (lambda q, k, v, b=b: attention(q, k, v, backend=b, **kw))
            for b in names
            if slow or b not in ("tiled", "math")
        }

    full = Problem("full", n, n, n * n, "torch sdpa")
    full.paths = {"torch sdpa": lambda q, k, v: F.scaled_dot_product_attention(q, k, v)}
    full.paths |= qkv_paths(("auto", "sdpa", "flex", "tiled", "math"))

    causal = Problem("causal", n, n, n * (n + 1) // 2, "torch sdpa")
    causal.paths = {
        "torch sdpa": lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True)
    }
    causal.paths |= qkv_paths(("auto", "sdpa", "flex", "tiled", "math"), causal=True)

    lse = Problem("lse", n, n, n * (n + 1) // 2, "torch sdpa")
    lse.paths = {"torch sdpa": causal.paths["torch sdpa"]}
    lse.paths |= qkv_paths(("auto", "flex", "tiled", "math"), causal=True, return_lse=True)

    half = n // 2  # queries: the last half of the keys' positions
    allowed_br = i[:half, None] + (n - half) >= i[None, :]
    br = Problem("bottom-right", half, n, int(allowed_br.sum()), "torch sdpa causal N x N")
    br.baseline_shape = (n, n)
    br.paths = {"torch sdpa causal N x N": causal.paths["torch sdpa"]}
    br.paths |= qkv_paths(("auto", "sdpa", "flex", "tiled"), causal=True)
    br.paths["torch sdpa lower_right"] = _lower_right(half, n)
    br.paths["torch sdpa dense mask"] = _dense(allowed_br)

    w = max(1, n // 8)
    allowed_w = (i[:, None] >= i[None, :]) & (i[:, None] - i[None, :] <= w)
    window = Problem("window", n, n, int(allowed_w.sum()), "torch sdpa causal N x N")
    window.paths = {"torch sdpa causal N x N": causal.paths["torch sdpa"]}
    window.paths |= qkv_paths(("auto", "flex"), causal=True, window=(w, 0))
    window.paths["torch sdpa dense mask"] = _dense(allowed_w)

    docs = _documents(size)  # (B, N)
    same = docs[:, None, :, None] == docs[:, None, None, :]  # (B, 1, N, N)
    allowed_d = same & (i[:, None] >= i[None, :])
    documents = Problem(
        "documents", n, n, int(allowed_d.sum()) // size.batch, "torch sdpa causal N x N"
    )
    documents.paths = {"torch sdpa causal N x N": causal.paths["torch sdpa"]}
    documents.paths |= qkv_paths(("auto", "flex"), causal=True, document_ids=docs)
    documents.paths["torch sdpa dense mask"] = _dense(allowed_d)
    return [full, causal, lse, br, window, documents]


def _lower_right(n_q: int, n_k: int) -> Callable[..., Tensor]:
    from torch.nn.attention.bias import causal_lower_right

    bias = causal_lower_right(n_q, n_k)
    return lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=bias)


def _dense(allowed: Tensor) -> Callable[..., Tensor]:
    """torch SDPA with a boolean (L, S) mask made beforehand (not counted in its memory)."""
    return lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)


def _documents(size: Size) -> Tensor:
    """Four documents of random lengths in each batch row (packed sequences)."""
    gen = torch.Generator().manual_seed(0)
    rows = []
    for _ in range(size.batch):
        cuts = torch.sort(torch.randperm(size.n - 1, generator=gen)[:3] + 1).values
        ids = torch.zeros(size.n, dtype=torch.long)
        for c in cuts:
            ids[c:] += 1
        rows.append(ids)
    return torch.stack(rows).to(size.device)


def timed(fn: Fn, device: str, reps: int) -> tuple[float, float]:
    """(median milliseconds, peak bytes above what was allocated before) of fn, warm."""
    fn()  # the first call compiles (flex) or picks kernels
    if device != "cuda":
        times = []
        for _ in range(max(1, reps // 4)):
            t = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t) * 1000)
        return statistics.median(times), 0.0
    for _ in range(2):
        fn()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times), float(torch.cuda.max_memory_allocated() - base)


def measure(size: Size, problem: Problem, mode: str) -> list[dict[str, Any]]:
    """One row per path: ms, TFLOP/s, peak MB, or the error."""
    dev, dt, b, h, d = size.device, size.dtype, size.batch, size.heads, size.d
    grad = mode == "fwd+bwd"
    gen = torch.Generator(device=dev).manual_seed(0)

    def tensor(n: int) -> Tensor:
        t = torch.randn(b, h, n, d, device=dev, dtype=dt, generator=gen)
        return t.requires_grad_(grad)

    q, k, v = tensor(problem.n_q), tensor(problem.n_k), tensor(problem.n_k)
    square_q = None
    if problem.baseline_shape is not None:
        square_q = tensor(problem.baseline_shape[0])
    flops = 4 * b * h * d * problem.pairs * (3.5 if grad else 1.0)
    rows = []
    for name, path in problem.paths.items():
        row: dict[str, Any] = {"problem": problem.name, "n": size.n, "mode": mode, "path": name}
        is_base = name == problem.baseline
        args = (square_q if is_base and square_q is not None else q, k, v)
        try:
            ms, peak = timed(_runner(path, args, grad), dev, 10 if not grad else 6)
        except Exception as e:  # a path that fails is reported, not fatal
            row["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}"
            if not isinstance(e, (torch.OutOfMemoryError, ValueError)):
                traceback.print_exc()
            rows.append(row)
            _release(dev)
            continue
        base_flops = flops
        if is_base and problem.baseline_shape is not None:
            n_q, n_k = problem.baseline_shape
            base_flops = 4 * b * h * d * (n_q * (n_q + 1) // 2) * (3.5 if grad else 1.0)
            assert n_q == n_k
        row.update(ms=ms, tflops=base_flops / ms / 1e9, peak_mb=peak / 2**20)
        rows.append(row)
        _release(dev)
    base = next((r for r in rows if r["path"] == problem.baseline and "ms" in r), None)
    for r in rows:
        if base is not None and "ms" in r:
            r["ratio"] = r["tflops"] / base["tflops"]
            r["memory"] = r["peak_mb"] / base["peak_mb"] if base["peak_mb"] else None
    return rows


def _runner(path: Callable[..., Any], args: tuple[Tensor, ...], grad: bool) -> Fn:
    if not grad:

        def forward() -> None:
            with torch.no_grad():
                path(*args)

        return forward
    out = path(*args)
    out = out[0] if isinstance(out, tuple) else out
    g = torch.randn_like(out)
    del out

    def both() -> None:
        for t in args:
            t.grad = None
        o = path(*args)
        (o[0] if isinstance(o, tuple) else o).backward(g)

    return both


def _release(device: str) -> None:
    if device == "cuda":
        torch.cuda.empty_cache()


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| problem | N | mode | path | ms | TFLOP/s | × baseline | peak MB | memory × |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        head = f"| {r['problem']} | {r['n']} | {r['mode']} | {r['path']} |"
        if "error" in r:
            lines.append(f"{head} {r['error']} | | | | |")
            continue
        ratio = f"{r['ratio']:.2f}×" if "ratio" in r else ""
        memory = f"{r['memory']:.2f}×" if r.get("memory") else ""
        lines.append(
            f"{head} {r['ms']:.3f} | {r['tflops']:.1f} | {ratio} | {r['peak_mb']:.0f} | {memory} |"
        )
    return "\n".join(lines)


def target(problem: str, mode: str) -> float | None:
    """Issue 15's floor for qkv auto's ratio to the baseline (None: to report only)."""
    if mode == "fwd+bwd":
        return 0.7
    return {"full": 0.9, "causal": 0.9, "lse": 0.8, "bottom-right": 0.8}.get(problem)


def verdicts(rows: list[dict[str, Any]]) -> str:
    """qkv auto against the targets: throughput ratio, and peak memory (at most 1.2x)."""
    lines = []
    for r in rows:
        if r["path"] != "qkv auto":
            continue
        head = f"{r['problem']} N={r['n']} {r['mode']}: qkv auto"
        if "ratio" not in r:
            lines.append(f"{head}: {r.get('error', 'no baseline')}")
            continue
        floor = target(r["problem"], r["mode"])
        speed = f"{r['ratio']:.2f}×" + (
            ""
            if floor is None
            else f" (target ≥ {floor}: {'met' if r['ratio'] >= floor else 'MISSED'})"
        )
        memory = r.get("memory")
        if memory:
            speed += f", memory {memory:.2f}× ({'met' if memory <= 1.2 else 'MISSED'} ≤ 1.2)"
        lines.append(f"{head} {speed}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="N = 4096 only")
    p.add_argument("--dry", action="store_true", help="on the CPU at tiny sizes, float32")
    p.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    p.add_argument(
        "--budget",
        type=float,
        metavar="SECONDS",
        help="start no new problem after this long (the table is printed all the same)",
    )
    p.add_argument("--problems", metavar="A,B", help="only these problems (full, causal, ...)")
    p.add_argument("--no-slow", action="store_true", help="leave out the tiled and math paths")
    args = p.parse_args(argv)
    if not args.dry and not torch.cuda.is_available():
        print("attention_gpu: needs CUDA (or --dry for the CPU)", file=sys.stderr)
        return 2
    if args.dry:
        flex.COMPILE = False  # eager flex on the CPU: the semantics, not the speed
    device = "cpu" if args.dry else torch.cuda.get_device_name(0)
    print(f"# attention on {device}, torch {torch.__version__}", flush=True)
    clock = time.perf_counter()
    rows, skipped = run_all(args, clock)
    print(f"\n{table(rows)}\n\n{verdicts(rows)}\n\nwall {time.perf_counter() - clock:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    failed = [r for r in rows if "error" in r]
    if skipped:
        print(f"past --budget {args.budget:.0f} s, not measured: {', '.join(skipped)}")
    print(f"{len(rows) - len(failed)} paths measured, {len(failed)} failed", flush=True)
    return 1 if failed else 0


def run_all(args: argparse.Namespace, clock: float) -> tuple[list[dict[str, Any]], list[str]]:
    """Every problem at every size, in order, until the budget is spent: (rows, skipped)."""
    rows: list[dict[str, Any]] = []
    skipped = []
    for size in sizes(args):
        for problem in problems(size):
            if args.problems and problem.name not in args.problems.split(","):
                continue
            if args.budget is not None and time.perf_counter() - clock > args.budget:
                skipped.append(f"{problem.name} N={size.n}")
                continue
            for mode in ("fwd", "fwd+bwd"):
                if args.dry and mode == "fwd+bwd":
                    # flex has no backward on the CPU (torch 2.13)
                    problem.paths = {n: f for n, f in problem.paths.items() if "flex" not in n}
                got = measure(size, problem, mode)
                rows += got
                for r in got:
                    shown = r.get("error") or f"{r['tflops']:.1f} TFLOP/s {r.get('ratio', 0):.2f}×"
                    print(f"  {problem.name} N={size.n} {mode} {r['path']}: {shown}", flush=True)
    return rows, skipped


if __name__ == "__main__":
    sys.exit(main())
