"""A bounded number of computations at once, and a bounded queue before them.

Every request that computes passes a Gate: at most ``limit`` run at once and ``queue`` more
wait (each holding its parsed body); one more is refused at once with 503 and Retry-After, so
that no burst of requests can pile up memory or starve the requests behind it. Requests that
compute nothing (/healthz, the page's files, cached answers) pass no gate.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

from qkv.serve import limits
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

    def full(self) -> bool:
        """Would one more be refused?"""
        return self.running >= self.limit and self.waiting >= self.queue

    @contextlib.asynccontextmanager
    async def place(self) -> AsyncIterator[None]:
        """Hold one of the places; Busy when the queue is full."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.limit)
        if self.full():
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


# the gate (an attribute of app.state) each POST passes, for Shed
POST_GATES = {
    "/api/check": "checks",
    "/api/trace": "compute",
    "/api/layout": "compute",
    "/api/expand": "compute",
    "/api/maps": "compute",
    "/api/head": "compute",
}


class Shed:
    """ASGI middleware: a POST whose gate is full is refused (503, Retry-After, the connection
    closed) before its body is read or parsed: a burst of megabyte bodies then costs the
    server their headers, not their megabytes."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        name = POST_GATES.get(scope.get("path", "")) if scope["type"] == "http" else None
        gate = getattr(scope["app"].state, name, None) if name and "app" in scope else None
        if scope.get("method") != "POST" or gate is None or not gate.full():
            await self.app(scope, receive, send)
            return
        body = json.dumps({"error": f"the server is busy ({gate.name}); try again shortly"})
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(body)),
            (b"retry-after", str(limits.RETRY_AFTER).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body.encode()})
