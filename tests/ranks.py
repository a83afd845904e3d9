"""Run a function on P processes joined by torch.distributed (gloo over loopback), in bounded time.

    results = run_ranks(fn, 2, arg)     # fn(rank, world, arg) on ranks 0 and 1; their returns

The processes fork from a server that has imported torch once (multiprocessing's forkserver),
so a run costs a fork, not a torch import. Each rank reports its return value or its error;
a rank that has not reported by the deadline is killed, and the test fails instead of hanging.
"""

from __future__ import annotations

import datetime
import multiprocessing as mp
import os
import queue
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

_CTX = mp.get_context("forkserver")
# what the ranks import, imported once (torch._dynamo: the optimizers import it, 3 s on 2 cores)
_CTX.set_forkserver_preload(
    ["torch", "torch._dynamo", "torch.distributed", "qkv.nn.distributed", "qkv.gpt.train"]
)

GROUP_TIMEOUT_S = 30  # torch.distributed gives up on a silent peer after this


class RankFailed(AssertionError):
    """A rank raised, died or overran; the message holds what each rank said."""


def _worker(
    fn: Callable[..., Any], rank: int, world: int, store: str, out: Any, args: tuple
) -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    try:
        dist.init_process_group(
            "gloo",
            init_method=f"file://{store}",
            rank=rank,
            world_size=world,
            timeout=datetime.timedelta(seconds=GROUP_TIMEOUT_S),
        )
        value = fn(rank, world, *args)
        out.put((rank, "ok", value))
    except BaseException as e:  # reported to the test, whatever it is
        out.put((rank, "error", f"{type(e).__name__}: {e}\n{traceback.format_exc()}"))
        return
    dist.destroy_process_group()


def run_ranks(
    fn: Callable[..., Any], world: int, *args: Any, timeout: float = 120, allow: bool = False
) -> list[Any]:
    """fn(rank, world, *args) on world processes; the list of their return values.

    A rank that raises makes this raise RankFailed with its traceback, unless ``allow``: then
    its entry is ("error", message), and a rank that exits without a word is ("died", code).
    """
    with tempfile.TemporaryDirectory() as tmp:
        out = _CTX.Queue()
        store = str(Path(tmp) / "store")
        procs = [
            _CTX.Process(target=_worker, args=(fn, r, world, store, out, args), daemon=True)
            for r in range(world)
        ]
        for p in procs:
            p.start()
        try:
            results = _collect(procs, out, time.monotonic() + timeout)
        finally:
            for p in procs:
                if p.is_alive():
                    p.kill()
                p.join(5)
    failed = {r: v for r, v in results.items() if v[0] != "ok"}
    if failed and not allow:
        raise RankFailed("\n".join(f"rank {r}: {v[1]}" for r, v in sorted(failed.items())))
    return [results[r][1] if results[r][0] == "ok" else results[r] for r in range(world)]


def _collect(procs: list[Any], out: Any, deadline: float) -> dict[int, tuple[str, Any]]:
    """Each rank's report; a rank that died without one is ("died", exit code)."""
    results: dict[int, tuple[str, Any]] = {}
    while len(results) < len(procs):
        try:
            rank, kind, value = out.get(timeout=0.2)
            results[rank] = (kind, value)
            continue
        except queue.Empty:
            pass
        for r, p in enumerate(procs):
            if r not in results and not p.is_alive() and p.exitcode is not None:
                try:  # it may have reported just before it ended
                    rank, kind, value = out.get(timeout=0.5)
                    results[rank] = (kind, value)
                except queue.Empty:
                    results[r] = ("died", p.exitcode)
        if time.monotonic() > deadline:
            alive = [r for r in range(len(procs)) if r not in results]
            raise RankFailed(f"ranks {alive} did not finish in time (they are killed)")
    return results
