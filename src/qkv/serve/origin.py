"""Requests that change or compute something come only from the page (docs/SECURITY.md).

A web page on another site can make a browser send requests to 127.0.0.1, and through DNS
rebinding even read the answers. Three rules close that:

- the Host header must name this server (loopback names by default, --allow-host to add):
  a rebound name (evil.example resolving to 127.0.0.1) is refused with 400
  (starlette's TrustedHostMiddleware, in create_app);
- a POST must carry a JSON body (Content-Type application/json, else 415). A page on another
  origin can only send JSON with a CORS preflight, which this server never approves; the
  "simple" requests it may send without one (forms, text/plain) are refused;
- a POST that says where it comes from (Origin, Sec-Fetch-Site) must come from this server
  (an allowed name and this port).

GETs change nothing: training the tiny GPT starts by POST /api/gpt/start.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

WITH_BODY = ("POST", "PUT", "PATCH")  # the others have no route here with a side effect
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


def allowed_hosts(host: str, extra: Sequence[str] = ()) -> list[str]:
    """The Host names the server answers: loopback names, the address it is bound to (but a
    wildcard), and those given with --allow-host."""
    names = [*LOOPBACK, *extra]
    if host not in ("0.0.0.0", "::", ""):
        names += [host, f"[{host}]"] if ":" in host else [host]
    return list(dict.fromkeys(n.lower() for n in names))


class PageOnly:
    def __init__(self, app: Any, hosts: Sequence[str]) -> None:
        self.app = app
        self.hosts = {h.lower() for h in hosts}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] not in WITH_BODY:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        server = scope.get("server")
        refusal = self._refusal(headers, server[1] if server else None)
        if refusal is None:
            await self.app(scope, receive, send)
            return
        status, message = refusal
        body = json.dumps({"error": message}).encode()
        start = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": status, "headers": start})
        await send({"type": "http.response.body", "body": body})

    def _refusal(self, headers: dict[str, str], port: int | None) -> tuple[int, str] | None:
        media = headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/json" and not media.endswith("+json"):
            return 415, "a POST body must be JSON (Content-Type: application/json)"
        if headers.get("sec-fetch-site", "") == "cross-site":
            return 403, "requests from another site are refused"
        origin = headers.get("origin")
        if origin is not None and origin != "null":
            parts = urlsplit(origin)
            host = (parts.hostname or "").lower()
            try:
                their_port = parts.port or (443 if parts.scheme == "https" else 80)
            except ValueError:
                their_port = -1
            names = {host, f"[{host}]"}
            same_port = port is None or their_port == port
            if parts.scheme not in ("http", "https") or not names & self.hosts or not same_port:
                return 403, f"requests from {origin[:100]} are refused"
        elif origin == "null":
            return 403, "requests from an opaque origin are refused"
        return None
