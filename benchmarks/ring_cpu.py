"""Ring attention on the CPU: peak memory per rank and time, 1, 2 and 4 gloo processes.

fp32, B=1, H=4, d=64, causal (zigzag shards), N in {8192, ..., 65536}; forward, and forward
plus backward. P = 1 is qkv.nn.attention(backend="tiled") on the whole sequence in one process;
P > 1 is ring_attention, each rank holding N/P rows of q, k and v, on gloo over loopback.
Every process runs one thread: P = 1 uses one of the machine's two cores, P = 2 both, and the
4 processes of P = 4 share them.
Each (N, P, pass) runs in fresh processes. Memory is each rank's ru_maxrss growth over a
baseline taken before its inputs were made (after a small run has loaded the code and set up
gloo): the inputs, outputs, gradients and everything the attention allocates. Time is the
slowest rank's wall time for one pass; on this 2-core machine 2 and 4 processes share 2 cores,
so the time is for information. Also measured, for the README's model of when the ring hides
its communication: the tiled forward's FLOP rate and gloo's loopback bandwidth.

    python benchmarks/ring_cpu.py [--sizes 8192 65536] [--procs 1 4] [--json out.json]
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import resource
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

SIZES = (8192, 16384, 32768, 65536)
PROCS = (1, 2, 4)
MODES = ("fwd", "fwd+bwd")
HEADS, DIM = 4, 64


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _inputs(n: int, grad: bool, seed: int):
    import torch

    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(1, HEADS, n, DIM, generator=g).requires_grad_(grad) for _ in range(3))
    return q, k, v, torch.randn(1, HEADS, n, DIM, generator=g) if grad else None


def _step(fn, n: int, grad: bool, seed: int) -> float:
    """Make this rank's inputs, run one pass, and return its wall time."""
    q, k, v, g = _inputs(n, grad, seed)
    t0 = time.perf_counter()
    out = fn(q, k, v)
    if grad:
        out.backward(g)
    return time.perf_counter() - t0


def single(n: int, mode: str) -> dict:
    """One process, the tiled backend on the whole sequence, on one thread as each rank (two
    threads on this shared machine wait on each other whenever another job takes a core)."""
    import torch

    from qkv.nn import attention

    torch.set_num_threads(1)

    def fn(q, k, v):
        return attention(q, k, v, causal=True, backend="tiled")

    grad = mode == "fwd+bwd"
    _step(fn, 512, grad, 1)  # load the code
    base = _rss_mb()
    seconds = _step(fn, n, grad, 0)
    return {"peak_mb": _rss_mb() - base, "time_s": seconds}


def rank_main(rank: int, world: int, port: int, n: int, mode: str, out: str) -> None:
    """One rank of a ring run: its shard is N/P rows, zigzag-ordered (random data)."""
    import torch
    import torch.distributed as dist

    from qkv.nn.distributed import ring_attention

    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=world,
        timeout=datetime.timedelta(minutes=30),
    )

    def fn(q, k, v):
        return ring_attention(q, k, v, causal=True)

    grad = mode == "fwd+bwd"
    _step(fn, 512, grad, 1)
    dist.barrier()
    base = _rss_mb()
    seconds = _step(fn, n // world, grad, rank)
    peak = _rss_mb() - base
    stats = torch.tensor([seconds, peak], dtype=torch.float64)
    dist.all_reduce(stats, op=dist.ReduceOp.MAX)
    if rank == 0:
        Path(out).write_text(json.dumps({"time_s": stats[0].item(), "peak_mb": stats[1].item()}))
    dist.destroy_process_group()


def ring(n: int, world: int, mode: str) -> dict:
    """world gloo processes on this machine; the worst rank's time and memory."""
    import tempfile

    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "result.json")
        mp.start_processes(
            rank_main, args=(world, _free_port(), n, mode, out), nprocs=world, start_method="spawn"
        )
        return json.loads(Path(out).read_text())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bandwidth_main(rank: int, port: int, out: str) -> None:
    """Two ranks: the time to pass a 64 MB buffer over gloo, both ways at once (as the ring)."""
    import torch
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    send, recv = torch.ones(16 * 2**20), torch.empty(16 * 2**20)
    times = []
    for _ in range(5):
        dist.barrier()
        t0 = time.perf_counter()
        ops = [dist.P2POp(dist.isend, send, 1 - rank), dist.P2POp(dist.irecv, recv, 1 - rank)]
        for w in dist.batch_isend_irecv(ops):
            w.wait()
        times.append(time.perf_counter() - t0)
    if rank == 0:
        Path(out).write_text(json.dumps({"bytes_per_s": send.numel() * 4 / min(times)}))
    dist.destroy_process_group()


def bandwidth() -> dict:
    import tempfile

    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "bw.json")
        mp.start_processes(bandwidth_main, args=(_free_port(), out), nprocs=2, start_method="spawn")
        return dict(json.loads(Path(out).read_text()))


def compute_rate(n: int = 4096, reps: int = 5) -> dict:
    """FLOP/s of one rank's work on this machine: the tiled causal forward on one thread,
    best of reps (the machine is shared: the best run is the least disturbed)."""
    import torch

    from qkv.nn import attention

    torch.set_num_threads(1)
    q, k, v, _ = _inputs(n, False, 0)
    best = math.inf
    for _ in range(reps):
        t0 = time.perf_counter()
        attention(q, k, v, causal=True, backend="tiled")
        best = min(best, time.perf_counter() - t0)
    return {"flops_per_s": flops(n, "fwd") / best}


def in_subprocess(call: str) -> dict:
    """Run `call` (a function call in this module) in a fresh Python process."""
    code = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "import ring_cpu\n"
        f"print(json.dumps(ring_cpu.{call}))\n"
    )
    # glibc would keep freed blocks of a few MB for reuse (its threshold for returning them to
    # the system grows with the blocks freed): fixed, the peak RSS is the peak of live memory
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MALLOC_MMAP_THRESHOLD_": str(2**17)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        return {"error": f"exit {proc.returncode}: {proc.stderr.strip()[-300:]}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def flops(n: int, mode: str) -> float:
    """A causal pass's useful FLOPs: half of 4·N²·d·H forward; backward 2.5 times that."""
    fwd = 4 * n * n * DIM * HEADS / 2
    return fwd * (3.5 if mode == "fwd+bwd" else 1.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    ap.add_argument("--procs", type=int, nargs="+", default=list(PROCS))
    ap.add_argument("--modes", nargs="+", default=list(MODES))
    ap.add_argument("--json", default="benchmarks/results/ring_cpu.json")
    args = ap.parse_args()

    rows = []
    print("| N | pass | P | time s | peak MB per rank | × single-process peak |")
    print("|---|---|---|---|---|---|")
    for n in args.sizes:
        for mode in args.modes:
            first = None
            for p in args.procs:
                call = f"single({n}, {mode!r})" if p == 1 else f"ring({n}, {p}, {mode!r})"
                r = in_subprocess(call)
                rows.append({"n": n, "mode": mode, "procs": p, **r})
                if "error" in r:
                    print(f"| {n} | {mode} | {p} | {r['error']} | | |", flush=True)
                    continue
                if p == 1:
                    first = r["peak_mb"]
                ratio = f"{r['peak_mb'] / first:.3f}×" if first else "—"
                print(
                    f"| {n} | {mode} | {p} | {r['time_s']:.1f} | {r['peak_mb']:.0f} | {ratio} |",
                    flush=True,
                )
    model = overlap()
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"date": str(date.today()), "machine": platform.machine(), "cpus": os.cpu_count()}
    out.write_text(json.dumps({"meta": meta, "rows": rows, **model}, indent=2))
    print(f"-> {out}")


def overlap() -> dict:
    """This machine's numbers for the README's model: the ring hides its transfers when a
    shard has at least F·b / (2·B) rows (F: FLOP/s of a rank, B: bytes/s of a link, b: bytes
    of a number)."""
    bw = float(in_subprocess("bandwidth()")["bytes_per_s"])
    rate = float(in_subprocess("compute_rate()")["flops_per_s"])
    rows = rate * 4 / (2 * bw)
    print(f"gloo over loopback, both ways at once: {bw / 1e9:.2f} GB/s each way")
    print(f"tiled causal forward, one thread: {rate / 1e9:.1f} GFLOP/s")
    print(f"float32 shards of more than {rows:.0f} rows hide their transfers")
    return {"bytes_per_s": bw, "flops_per_s": rate, "rows_to_hide": rows}


if __name__ == "__main__":
    main()
