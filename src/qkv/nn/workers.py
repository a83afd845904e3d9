"""Worker threads for the tiled backend on the CPU: one loop over blocks, shared out.

torch runs each operator on all its intra-op threads, with a barrier at the end. The tiled
backend calls some ten operators a block, thousands a call: on a machine where other processes
take a core, every barrier waits for a thread the system has put aside, and the tiled forward
ran 5x slower on 2 threads than on 1 (benchmarks/attention_cpu.py, two shared cores). Flash
kernels share out the blocks instead; so does this: each worker runs its blocks with one
intra-op thread, takes the next block when it is done, and never waits for another.

The pool holds as many threads as torch.get_num_threads() says in the caller's thread (the
user's setting, OMP_NUM_THREADS or ``qkv gpt train --threads``). The caller waits; its own
settings are left as they were. Grad mode, inference mode and autocast are thread-local in
torch: the workers run with grad off, autocast off (the tiled backend computes in float32 or
wider) and the caller's inference mode. After a fork the child starts without the threads.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import torch

T = TypeVar("T")


class _Job:
    """One parallel loop: items taken in order by whoever is free; the first error kept."""

    def __init__(self, fn: Callable[[Any], None], items: Iterable[Any], inference: bool):
        self.fn, self.inference = fn, inference
        self.items = iter(items)
        self.lock = threading.Lock()
        self.error: BaseException | None = None
        self.stopped = False

    def next(self) -> tuple[bool, Any]:
        with self.lock:
            if self.stopped:
                return False, None
            for item in self.items:
                return True, item
            return False, None

    def work(self) -> None:
        with torch.inference_mode(self.inference), torch.no_grad(), _no_autocast():
            while True:
                ok, item = self.next()
                if not ok:
                    return
                try:
                    self.fn(item)
                except BaseException as e:  # passed to the caller, who raises it
                    with self.lock:
                        self.error = self.error or e
                        self.stopped = True
                    return

    def stop(self) -> None:
        with self.lock:
            self.stopped = True


def _no_autocast() -> Any:
    return torch.autocast("cpu", enabled=False)


class _Pool:
    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []
        self.tasks: queue.SimpleQueue[tuple[_Job, threading.Semaphore]] = queue.SimpleQueue()

    def grow(self, n: int) -> None:
        """At least n threads, each with one intra-op thread of its own."""
        if len(self.threads) >= n:
            return
        caller = torch.get_num_threads()
        started = threading.Barrier(n - len(self.threads) + 1)
        for _ in range(n - len(self.threads)):
            t = threading.Thread(target=self._serve, args=(started,), daemon=True)
            t.start()
            self.threads.append(t)
        started.wait()
        # torch.set_num_threads in a worker also sets the default of threads started later;
        # put that back to the caller's (the caller's own setting is unchanged)
        torch.set_num_threads(caller)

    def _serve(self, started: threading.Barrier) -> None:
        _local.worker = True
        # torch sets a thread's threads from the process default when it first asks (which
        # the caller puts back to its own below); ask first, then set this thread's to 1
        torch.get_num_threads()
        torch.set_num_threads(1)
        started.wait()
        while True:
            job: _Job | None
            job, done = self.tasks.get()
            try:
                job.work()
            finally:
                # let go of the job (and of the tensors its loop holds) before the caller
                # goes on: autograd steals a gradient only when nothing else holds it
                job = None
                done.release()

    def run(self, job: _Job, n: int) -> None:
        done = threading.Semaphore(0)
        for _ in range(n):
            self.tasks.put((job, done))
        waited = 0
        try:
            while waited < n:
                done.acquire()
                waited += 1
        except BaseException:  # KeyboardInterrupt: the workers finish their block and stop
            job.stop()
            while waited < n:
                done.acquire()
                waited += 1
            raise


_local = threading.local()
_pool: _Pool | None = None
_pool_lock = threading.Lock()


def _forget_pool() -> None:
    global _pool
    _pool = None  # a forked child has none of the parent's threads


os.register_at_fork(after_in_child=_forget_pool)


def threads_for(device: torch.device) -> int:
    """How many workers a loop on ``device`` gets: torch's threads in this thread on the CPU
    (1 inside a worker: no nesting), else 1 (a GPU's operators are queued, not waited for)."""
    if device.type != "cpu" or getattr(_local, "worker", False):
        return 1
    return torch.get_num_threads()


def parallel_for(fn: Callable[[T], None], items: Iterable[T], threads: int) -> None:
    """fn(item) for every item, on ``threads`` workers (in this thread when 1). The items must
    be independent, or fn must lock what they share; the first error is raised here."""
    if threads <= 1:
        for item in items:
            fn(item)
        return
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = _Pool()
        pool = _pool
        pool.grow(threads)
    job = _Job(fn, items, torch.is_inference_mode_enabled())
    pool.run(job, threads)
    if job.error is not None:
        raise job.error
