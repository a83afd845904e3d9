"""ASGI middleware on every response: security headers, and bodies over the limit refused.

The Content-Security-Policy lets the page run only its own scripts (no inline script, no
eval, nothing from another origin), so a token that looks like markup can never run. A body
is read whole (at most MAX_BODY bytes, chunked or not) before the app sees it.
"""

from __future__ import annotations

import json
from typing import Any

from qkv.serve.limits import MAX_BODY

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


class Guard:
    def __init__(self, app: Any, max_body: int = MAX_BODY) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_guarded(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *HEADERS]
            await send(message)

        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await self._refuse(send_guarded)
            return
        first = await self._read(receive)
        if first is None:
            await self._refuse(send_guarded)
            return
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if not replayed:
                replayed = True
                return first
            return await receive()  # a disconnect, for whoever waits for one

        await self.app(scope, replay, send_guarded)

    async def _read(self, receive: Any) -> dict[str, Any] | None:
        """The whole body as one message, or None past the limit (a chunked body has no
        length to check up front)."""
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return dict(message)
            body += message.get("body", b"")
            if len(body) > self.max_body:
                return None
            if not message.get("more_body", False):
                return {"type": "http.request", "body": bytes(body), "more_body": False}

    async def _refuse(self, send: Any) -> None:
        body = json.dumps(
            {"error": f"the request body is larger than {self.max_body:,} bytes"}
        ).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
