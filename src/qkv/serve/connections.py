"""The server's connections: how many, and how long one may stay without asking anything.

uvicorn closes a kept-alive connection that stays idle after an answer (timeout_keep_alive),
but not one that never sends a request, nor one that sends its request line and headers a
byte at a time: each held a socket and a coroutine for as long as the client liked. The
protocol here gives every request HEADER_SECONDS to arrive whole, from the connection's
start or from the first byte after an answer; past that the connection is closed. Bodies
have their own deadline (qkv.serve.guard.Bodies).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

from qkv.serve import limits


class HeaderDeadline(AutoHTTPProtocol):  # type: ignore[valid-type,misc]
    """uvicorn's HTTP protocol (httptools or h11, as uvicorn chooses), with the deadline."""

    seconds = limits.HEADER_SECONDS
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self._waiting():
            self._disarm()
        elif self._deadline is None:
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _waiting(self) -> bool:
        """No request in progress: none yet, or the last one answered."""
        return self.cycle is None or bool(self.cycle.response_complete)

    def _arm(self) -> None:
        self._deadline = self.loop.call_later(self.seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self._waiting() and not self.transport.is_closing():
            self.transport.close()


def config(app: Any, **overrides: Any) -> Any:
    """The uvicorn.Config of `qkv serve` (and of the tests' servers)."""
    import uvicorn

    settings: dict[str, Any] = {
        "log_level": "warning",
        "access_log": False,
        "http": HeaderDeadline,
        "timeout_keep_alive": limits.KEEP_ALIVE_SECONDS,
        "limit_concurrency": limits.MAX_CONNECTIONS,
        "backlog": limits.MAX_CONNECTIONS,
        "timeout_graceful_shutdown": 5,
    }
    return uvicorn.Config(app, **{**settings, **overrides})
