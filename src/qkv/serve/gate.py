"""A bounded number of computations at once, and a bounded queue before them.

Every request that computes passes a Gate: at most ``limit`` run at once and ``queue`` more
wait (each holding its parsed body); one more is refused at once with 503 and Retry-After, so
that no burst of requests can pile up memory or starve the requests behind it. Requests that
compute nothing (/healthz, the page's files, cached answers) pass no gate.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

from qkv.serve.errors import Unavailable

T = TypeVar("T")


class Busy(Unavailable):
    """Every place of a gate is taken (503 with Retry-After)."""


class Gate:
    def __init__(self, name: str, limit: int, queue: int) -> None:
        self.name = name
        self.limit = limit
        self.queue = queue
        self.waiting = 0
        self.running = 0
        self._slots: asyncio.Semaphore | None = None  # made in the server's event loop

    @contextlib.asynccontextmanager
    async def place(self) -> AsyncIterator[None]:
        """Hold one of the places; Busy when the queue is full."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.limit)
        if self.running >= self.limit and self.waiting >= self.queue:
            raise Busy(
                f"the server is busy ({self.running} {self.name} running, {self.waiting} "
                "waiting); try again shortly"
            )
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        self.running += 1
        try:
            yield
        finally:
            self.running -= 1
            self._slots.release()


async def compute(request: Any, fn: Callable[..., T], *args: Any) -> T:
    """fn(*args) in a worker thread, through the app's computation gate."""
    async with request.app.state.compute.place():
        return await run_in_threadpool(fn, *args)
