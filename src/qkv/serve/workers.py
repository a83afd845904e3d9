"""Processes that check articles for the server, each check under a time and a memory limit.

The checker is pure Python: in a thread of the server it would hold the interpreter's lock
while it works, and every other request, /healthz included, would wait for it (a regex that
ran for minutes once stopped the whole server). In a process of its own it can only use its
own core; one that runs past its time is killed and replaced, so a check can never stall
the server, and one that runs out of memory ends with MemoryError in its own process.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import os
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from qkv.errors import InputError
from qkv.serve import limits

Job = Callable[..., Any]


class TooLong(InputError):
    """A check ran past its time and its process was ended (422)."""


class _Worker:
    """One process and the pipe to it."""

    def __init__(self, memory: int) -> None:
        ctx = mp.get_context("spawn")  # a fresh interpreter: nothing of the server's threads
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(child, memory), daemon=True)
        self.process.start()
        child.close()

    def call(self, job: Job, args: tuple[Any, ...], seconds: float) -> Any:
        """job(*args) in the process (blocking: run this in a thread)."""
        self.conn.send((job, args))
        if not self.conn.poll(seconds):
            raise TimeoutError
        kind, value = self.conn.recv()
        if kind == "error":
            raise RuntimeError(value)
        if kind == "memory":
            raise MemoryError(value)
        return value

    def end(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.close()
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)


def _serve(conn: Connection, memory: int) -> None:
    """The process's loop: run each job it is sent, send back what came of it."""
    import resource

    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    # a check is batch work: the server's own process (/healthz, hand calculations) goes first
    os.nice(limits.CHECK_NICE)
    while True:
        try:
            job, args = conn.recv()
        except (EOFError, OSError):
            return  # the server is gone
        try:
            reply: tuple[str, Any] = ("ok", job(*args))
        except MemoryError:
            reply = ("memory", "out of memory")
        except InputError as e:
            reply = ("ok", e)  # bad input is an answer; the caller raises it
        except Exception as e:
            reply = ("error", f"{type(e).__name__}: {e}")
        conn.send(reply)


class Workers:
    """``size`` processes, started when first needed; at most one job each at a time (the
    caller's Gate lets no more than ``size`` in)."""

    def __init__(
        self,
        size: int = limits.CHECK_WORKERS,
        seconds: float = limits.CHECK_SECONDS,
        memory: int = limits.CHECK_MEMORY,
    ) -> None:
        self.size, self.seconds, self.memory = size, seconds, memory
        self._idle: list[_Worker] = []
        self._all: list[_Worker] = []
        self._lock = threading.Lock()

    def _take(self) -> _Worker:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        worker = _Worker(self.memory)
        with self._lock:
            self._all.append(worker)
        return worker

    def _give_back(self, worker: _Worker) -> None:
        with self._lock:
            if len(self._idle) < self.size:
                self._idle.append(worker)
                return
            self._all.remove(worker)
        worker.end()

    def _run(self, job: Job, args: tuple[Any, ...]) -> Any:
        worker = self._take()
        try:
            value = worker.call(job, args, self.seconds)
        except (TimeoutError, EOFError, OSError, MemoryError):
            with self._lock:
                self._all.remove(worker)
            worker.end()  # killed (it ran too long) or dead: the next job gets a new one
            raise
        self._give_back(worker)
        return value

    async def run(self, job: Job, *args: Any) -> Any:
        """job(*args) in one of the processes; TooLong past the time limit; InputError as
        the job raised it; MemoryError past the memory limit."""
        try:
            value = await asyncio.to_thread(self._run, job, args)
        except TimeoutError:
            raise TooLong(f"this took longer than {self.seconds:g} s; it was stopped") from None
        except (EOFError, OSError):
            raise RuntimeError("a worker process ended unexpectedly") from None
        if isinstance(value, InputError):
            raise value
        return value

    def close(self) -> None:
        with self._lock:
            workers, self._all, self._idle = self._all, [], []
        for w in workers:
            w.end()
