"""Replay: a GET of the hand calculation's API that was answered before is answered again
from memory, before FastAPI routes it.

Those answers depend on the path and the query string alone (a preset, its options; no
header, no state), and the page asks for the same few again and again. Routing a request
and resolving its query parameters costs more CPU than the cached answer behind them (about
half of a /api/trace request, profiled under load), so the cache sits in front of the router:
the middlewares outside it (security headers, the Host check, the deadlines) still see every
request. Only complete 200 answers are kept, at most MAX_BYTES in all, least recently used
dropped first: a client that varies the query only churns the cache."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

# routes whose GET answers are a function of path and query string
PATHS = frozenset({"/api/trace", "/api/layout", "/api/expand", "/api/examples", "/api/scale"})
MAX_BYTES = 32_000_000  # all answers kept together
MAX_ANSWER = 2_000_000  # one answer larger than this is not kept


class Replay:
    """Pure ASGI middleware (no per-request task or thread, as BaseHTTPMiddleware would add)."""

    def __init__(self, app: Any, max_bytes: int = MAX_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.kept: OrderedDict[tuple[str, bytes], tuple[list[dict[str, Any]], int]] = OrderedDict()
        self.bytes = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope["path"] not in PATHS:
            await self.app(scope, receive, send)
            return
        key = (scope["path"], scope.get("query_string", b""))
        found = self.kept.get(key)
        if found is not None:
            self.kept.move_to_end(key)
            for message in found[0]:
                await send(_copy(message))
            return
        messages: list[dict[str, Any]] = []

        async def keep(message: dict[str, Any]) -> None:
            messages.append(_copy(message))  # as it left here: outer middlewares may add to it
            await send(message)

        await self.app(scope, receive, keep)
        self._remember(key, messages)

    def _remember(self, key: tuple[str, bytes], messages: list[dict[str, Any]]) -> None:
        if not messages or messages[0].get("type") != "http.response.start":
            return
        if messages[0].get("status") != 200 or messages[-1].get("more_body", False):
            return
        size = sum(len(m.get("body", b"")) for m in messages)
        if size > MAX_ANSWER or key in self.kept:
            return
        self.kept[key] = (messages, size)
        self.bytes += size
        while self.bytes > self.max_bytes:
            _, (_, dropped) = self.kept.popitem(last=False)
            self.bytes -= dropped


def _copy(message: dict[str, Any]) -> dict[str, Any]:
    """A message whose header list the receiver may change without changing the kept one."""
    out = dict(message)
    if "headers" in out:
        out["headers"] = list(out["headers"])
    return out
