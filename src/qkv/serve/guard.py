"""ASGI middleware on every request: security headers, answers a client must read in time,
and request bodies counted as they arrive.

The Content-Security-Policy lets the page run only its own scripts (no inline script, no
eval, nothing from another origin), so a token that looks like markup can never run.

A body is read whole (at most MAX_BODY bytes, chunked or not) before the app sees it, within
BODY_SECONDS; a body past SMALL_BODY bytes draws on a budget all requests share (BODY_BUDGET
bytes in flight), so a thousand connections each sending almost a megabyte cannot make the
server hold a gigabyte: past the budget, 503 (at once, for a declared Content-Length).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

from qkv.serve import limits

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


BUSY = "the server holds too many large request bodies; try again shortly"


class _SlowReader(Exception):
    """The client did not read the answer in time."""


class Guard:
    """Security headers on every response; a response the client does not read within
    SEND_SECONDS is abandoned (the connection is closed), so no task waits on it forever."""

    def __init__(self, app: Any, send_seconds: float | None = None) -> None:
        self.app = app
        self.send_seconds = limits.SEND_SECONDS if send_seconds is None else send_seconds

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_guarded(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *HEADERS]
            try:
                await asyncio.wait_for(send(message), self.send_seconds)
            except TimeoutError:
                raise _SlowReader from None

        # uvicorn closes a connection whose answer was not completed
        with contextlib.suppress(_SlowReader):
            await self.app(scope, receive, send_guarded)


@dataclass
class Budget:
    """Bytes of large bodies held at once, by all requests together."""

    total: int = field(default_factory=lambda: limits.BODY_BUDGET)
    used: int = 0

    def take(self, n: int) -> bool:
        if self.used + n > self.total:
            return False
        self.used += n
        return True

    def give_back(self, n: int) -> None:
        self.used -= n


class Bodies:
    """Read each request's body whole before the app runs, counting it as it arrives."""

    def __init__(
        self,
        app: Any,
        max_body: int = limits.MAX_BODY,
        budget: Budget | None = None,
        seconds: float | None = None,
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.budget = budget or Budget()
        self.seconds = limits.BODY_SECONDS if seconds is None else seconds

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await _refuse(send, 413, f"the request body is larger than {self.max_body:,} bytes")
            return
        reading = _Reading(self.budget)
        if length is not None and not reading.reserve(int(length)):
            await _refuse(send, 503, BUSY, {"Retry-After": str(limits.RETRY_AFTER)})
            return
        try:
            first = await self._read(receive, reading)
            if isinstance(first, _Refusal):
                await _refuse(send, first.status, first.message, first.headers)
                return
            replayed = False

            async def replay() -> Any:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return first
                return await receive()  # a disconnect, for whoever waits for one

            await self.app(scope, replay, send)
        finally:
            reading.release()

    async def _read(self, receive: Any, reading: _Reading) -> dict[str, Any] | _Refusal:
        """The whole body as one message, or why not."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.seconds
        while True:
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                return _Refusal(408, f"the request body did not arrive in {self.seconds:g} s")
            if message["type"] != "http.request":
                return dict(message)
            chunk = message.get("body", b"")
            if reading.size + len(chunk) > self.max_body:
                return _Refusal(413, f"the request body is larger than {self.max_body:,} bytes")
            if not reading.add(chunk):
                return _Refusal(503, BUSY, {"Retry-After": str(limits.RETRY_AFTER)})
            if not message.get("more_body", False):
                return {"type": "http.request", "body": reading.body(), "more_body": False}


class _Reading:
    """One body's chunks, and what they drew on the shared budget."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.chunks: list[bytes] = []
        self.size = 0
        self.drawn = 0

    def reserve(self, length: int) -> bool:
        """Draw a large body's declared length at once, before any of it is read: a request
        the budget cannot hold is refused before it sends its megabyte."""
        if length <= limits.SMALL_BODY:
            return True
        if not self.budget.take(length):
            return False
        self.drawn = length
        return True

    def add(self, chunk: bytes) -> bool:
        self.chunks.append(chunk)
        self.size += len(chunk)
        if self.size <= max(limits.SMALL_BODY, self.drawn):
            return True
        need = self.size - self.drawn
        if not self.budget.take(need):
            return False
        self.drawn += need
        return True

    def body(self) -> bytes:
        body = b"".join(self.chunks)
        self.chunks = [body]
        return body

    def release(self) -> None:
        self.budget.give_back(self.drawn)
        self.drawn = 0
        self.chunks = []


@dataclass
class _Refusal:
    status: int
    message: str
    headers: dict[str, str] | None = None


async def _refuse(
    send: Any, status: int, message: str, extra: dict[str, str] | None = None
) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    headers += [(k.lower().encode(), v.encode()) for k, v in (extra or {}).items()]
    headers.append((b"connection", b"close"))  # the rest of the body is not read: hang up
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
