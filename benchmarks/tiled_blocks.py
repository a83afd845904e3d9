"""The tiled backend's block sizes on the CPU: which score-block size runs fastest, per dtype.

For each dtype and each candidate (bytes of one block's scores, key-block length), the tiled
forward and forward+backward at N = 4096 (B=1, H=8, d=64, causal and not) are timed against
torch SDPA in the same process, all interleaved round by round; ratios are SDPA's time over
the tiled one's (≥ 1 is faster), median and range over the rounds. The blocks are
(bytes / itemsize / (B·H) / block_k) queries x block_k keys: qkv.nn.blocks.block_sizes with
these settings. qkv.nn.blocks.BLOCK_BYTES and BLOCK_K hold the winners.

    python benchmarks/tiled_blocks.py [--n 4096] [--rounds 5] [--dtypes float32 float64]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable
from datetime import date

import torch

from qkv.nn import blocks, tiled

KIB = 1024


def sizes(nbytes: int, block_k: int, dtype: torch.dtype, heads: int, n: int) -> tuple[int, int]:
    saved = blocks.BLOCK_BYTES.copy(), blocks.BLOCK_K
    try:
        blocks.BLOCK_BYTES.update({torch.empty((), dtype=dtype).element_size(): nbytes})
        blocks.BLOCK_K = block_k
        return blocks.block_sizes(heads, n, n, dtype)
    finally:
        blocks.BLOCK_BYTES.clear()
        blocks.BLOCK_BYTES.update(saved[0])
        blocks.BLOCK_K = saved[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    ap.add_argument("--kib", type=int, nargs="+", default=[256, 512, 1024, 2048, 4096])
    ap.add_argument("--block-k", type=int, nargs="+", default=[128, 256, 512])
    ap.add_argument("--modes", nargs="+", default=["fwd", "fwd+bwd"])
    args = ap.parse_args()
    heads, d = 8, 64
    print(
        f"{date.today()}, {platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; N={args.n}, B=1, H={heads}, d={d}; "
        "ratio = SDPA time / tiled time, median [range] over rounds"
    )
    for dtype in (getattr(torch, name) for name in args.dtypes):
        for mode in args.modes:
            for causal in (False, True):
                run_case(args, dtype, mode, causal, heads, d)


def run_case(
    args: argparse.Namespace, dtype: torch.dtype, mode: str, causal: bool, heads: int, d: int
) -> None:
    runs = candidates(args, dtype, mode, causal, heads, d)
    times: dict[str, list[float]] = {name: [] for name in runs}
    for run in runs.values():
        run()  # warm-up
    for _ in range(args.rounds):
        for name, run in runs.items():
            t0 = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - t0)
    base = times["sdpa"]
    cells = []
    for name, ts in times.items():
        if name != "sdpa":
            ratios = [b / t for b, t in zip(base, ts, strict=True)]
            cells.append((statistics.median(ratios), name, min(ratios), max(ratios)))
    print(
        f"\n{str(dtype)[6:]} {mode} {'causal' if causal else 'no mask'}: "
        f"SDPA {statistics.median(base) * 1000:.0f} ms"
    )
    for med, name, lo, hi in sorted(cells, reverse=True):
        print(f"  {name:20s} {med:.2f}x [{lo:.2f}-{hi:.2f}]")


def candidates(
    args: argparse.Namespace, dtype: torch.dtype, mode: str, causal: bool, heads: int, d: int
) -> dict[str, Callable[[], None]]:
    """SDPA and the tiled backend with each candidate block size, as steps to time."""
    torch.manual_seed(0)
    grad = mode == "fwd+bwd"
    q, k, v = (torch.randn(1, heads, args.n, d, dtype=dtype, requires_grad=grad) for _ in "qkv")
    g = torch.randn(1, heads, args.n, d, dtype=dtype)
    scale, offset = d**-0.5, (0 if causal else None)

    def step(fn: Callable[[], torch.Tensor]) -> Callable[[], None]:
        def run() -> None:
            out = fn()
            if grad:
                out.backward(g)
                for t in (q, k, v):
                    t.grad = None

        return run

    sdpa = torch.nn.functional.scaled_dot_product_attention
    runs = {"sdpa": step(lambda: sdpa(q, k, v, is_causal=causal))}
    for kib in args.kib:
        for bk in args.block_k:
            b = sizes(kib * KIB, bk, dtype, heads, args.n)
            runs[f"{kib}K {b[0]}x{b[1]}"] = step(
                lambda b=b: tiled.attention(
                    q, k, v, allowed=None, bias=None, scale=scale, causal_offset=offset, blocks=b
                )[0]
            )
    return runs


if __name__ == "__main__":
    main()
