"""Structured masks on the CPU: every qkv path and torch's SDPA with a dense mask, and what
backend="auto" takes (qkv.nn.routes; its CPU table is measured here).

Cases (fp32, H=8, d=64): a causal sliding window of N/8 keys and one of N/2; two padded rows
(lengths N/2 and 3N/4, no causal mask), and two mostly padding (N/8 and N/4); four packed
documents, causal; bottom-right causal with
L = N/2 queries against S = N keys. Paths: torch SDPA with the dense boolean mask made once,
outside the timing (the peer), and qkv's sdpa (which makes that mask every call), tiled, math
and auto. flex is not timed: compiled flex_attention has no backward on the CPU, and on the
machine measured here (torch 2.13.0+cpu) it does not compile these masks at all.

Every path of one (case, N, pass) runs in one process, interleaved round by round; a ratio is
the peer's time over the path's (≥ 1 is faster), the median over rounds with its range.
"auto/best" is the fastest qkv path's time (the one with the best median) over auto's, round
by round. A round runs each path enough times to take some 20 ms.

    python benchmarks/routes_cpu.py [--sizes 256 1024 4096] [--cases window lengths]
                                    [--modes fwd fwd+bwd] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import torch

from qkv.core.masks import structure_mask
from qkv.nn import attention
from qkv.nn.functional import route

CASES = ("window", "wide-window", "lengths", "short-lengths", "documents", "bottom-right")
QKV = ("sdpa", "tiled", "math", "auto")


def setup(case: str, n: int, grad: bool) -> tuple[dict[str, Any], tuple[torch.Tensor, ...]]:
    """(attention's keyword arguments, (q, k, v, dense mask, output gradient))."""
    torch.manual_seed(0)
    b, n_q = (2, n) if "lengths" in case else (1, n // 2 if case == "bottom-right" else n)
    kw: dict[str, Any] = {
        "window": {"window": (n // 8, 0), "causal": True},
        "wide-window": {"window": (n // 2, 0), "causal": True},
        "lengths": {"lengths": torch.tensor([n // 2, 3 * n // 4])},
        "short-lengths": {"lengths": torch.tensor([n // 8, n // 4])},
        "documents": {"document_ids": torch.arange(n) * 4 // n, "causal": True},
        "bottom-right": {"causal": True},
    }[case]
    q = torch.randn(b, 8, n_q, 64, requires_grad=grad)
    k, v = (torch.randn(b, 8, n, 64, requires_grad=grad) for _ in "kv")
    causal = "bottom_right" if kw.get("causal") else None
    lengths = kw.get("lengths")
    docs = kw.get("document_ids")
    dense = structure_mask(
        (b, 8, n_q, n),
        causal,
        kw.get("window"),
        None if lengths is None else lengths.numpy(),
        None if docs is None else docs.numpy(),
    )
    mask = torch.from_numpy(dense.copy())
    return kw, (q, k, v, mask, torch.randn(b, 8, n_q, 64))


def runs(case: str, n: int, mode: str) -> tuple[dict[str, Callable[[], None]], str]:
    grad = mode == "fwd+bwd"
    kw, (q, k, v, mask, g) = setup(case, n, grad)

    def step(fn: Callable[[], torch.Tensor]) -> Callable[[], None]:
        def run() -> None:
            out = fn()
            if grad:
                out.backward(g)
                for t in (q, k, v):
                    t.grad = None

        return run

    sdpa = torch.nn.functional.scaled_dot_product_attention
    out: dict[str, Callable[[], None]] = {"torch+mask": step(lambda: sdpa(q, k, v, attn_mask=mask))}
    for backend in QKV:
        out[backend] = step(lambda b=backend: attention(q, k, v, backend=b, **kw))
    with torch.set_grad_enabled(grad):
        chosen = route(q, k, v, **kw)
    return out, chosen


def time_case(case: str, n: int, mode: str, rounds: int) -> dict[str, Any]:
    fns, chosen = runs(case, n, mode)
    calls = {}
    for name, fn in fns.items():  # warm-up, and how many calls make a round's ~20 ms
        t0 = time.perf_counter()
        fn()
        calls[name] = max(1, min(50, int(0.02 / max(time.perf_counter() - t0, 1e-6))))
    times: dict[str, list[float]] = {name: [] for name in fns}
    order = list(fns)
    for r in range(rounds):  # each round in another order: no path always follows math's
        for name in order[r % len(order) :] + order[: r % len(order)]:  # (L, S) weights
            fn = fns[name]
            t0 = time.perf_counter()
            for _ in range(calls[name]):
                fn()
            times[name].append((time.perf_counter() - t0) / calls[name])
    peer = times["torch+mask"]
    ratios = {name: [p / t for p, t in zip(peer, ts, strict=True)] for name, ts in times.items()}
    paths = [b for b in QKV if b != "auto"]
    median = {name: statistics.median(ts) for name, ts in times.items()}
    best = min(paths, key=lambda b: median[b])
    # auto against the fastest path, each round: ≥ 1 when auto is as fast
    auto_vs_best = [b / a for b, a in zip(times[best], times["auto"], strict=True)]
    return {
        "case": case,
        "n": n,
        "mode": mode,
        "auto_took": chosen,
        "best": best,
        "time_s": median,
        "ratio": {name: _summary(r) for name, r in ratios.items()},
        "auto_vs_best": _summary(auto_vs_best),
    }


def _summary(values: list[float]) -> list[float]:
    return [statistics.median(values), min(values), max(values)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024, 2048, 4096])
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    ap.add_argument("--modes", nargs="+", default=["fwd", "fwd+bwd"])
    ap.add_argument("--rounds", type=int, help="default: 9 to N = 1024, 5 to 2048, 3 above")
    ap.add_argument("--json", default="benchmarks/results/routes_cpu.json")
    args = ap.parse_args()
    print(
        f"{date.today()}, {platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; ratio = torch SDPA with a dense mask ÷ path "
        "(≥ 1 is faster), median [min-max] over rounds"
    )
    head = "| case | N | pass | auto took | best | " + " | ".join(("torch+mask ms", *QKV))
    print(head + " | auto/best |")
    print("|" + "---|" * (6 + len(QKV)))
    rows = []
    for case in args.cases:
        for n in args.sizes:
            for mode in args.modes:
                rounds = args.rounds or (9 if n <= 1024 else 5 if n <= 2048 else 3)
                r = time_case(case, n, mode, rounds)
                rows.append(r)
                cells = [f"{r['time_s']['torch+mask'] * 1000:.1f}"]
                cells += [_fmt(r["ratio"][b]) for b in QKV]
                print(
                    f"| {case} | {n} | {mode} | {r['auto_took']} | {r['best']} | "
                    + " | ".join(cells)
                    + f" | {_fmt(r['auto_vs_best'])} |",
                    flush=True,
                )
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"date": str(date.today()), "rows": rows}, indent=2))
    print(f"\nJSON: {out}")


def _fmt(s: list[float]) -> str:
    return f"{s[0]:.2f}× [{s[1]:.2f}–{s[2]:.2f}]"


if __name__ == "__main__":
    main()
