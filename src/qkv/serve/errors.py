"""Every error is a JSON object {"error": "..."} with a 4xx (or 500) status; no traceback."""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from qkv.errors import InputError
from qkv.serve import limits

log = logging.getLogger("qkv.serve")


class Unavailable(Exception):
    """The request is fine but its model is not ready yet (503, with Retry-After)."""


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


_CELL = re.compile(r"^body (x|q|k|v|wq|wk|wv|mask) row (\d+)(?:, column (\d+))?")
_PAIR = re.compile(r"^(X|Q|K|V|W_Q|W_K|W_V) and (X|Q|K|V|W_Q|W_K|W_V) do not fit")
_NAMES = {"X": "x", "Q": "q", "K": "k", "V": "v", "W_Q": "wq", "W_K": "wk", "W_V": "wv"}


def where(message: str) -> dict[str, Any] | None:
    """Which input a hand-calculation error is about, for the page to mark: the matrices
    (body keys), and the row and column (counted from 1) when the message names a cell."""
    cell = _CELL.match(message)
    if cell:
        name, row, col = cell.groups()
        found: dict[str, Any] = {"inputs": [name], "row": int(row)}
        if col is not None:
            found["col"] = int(col)
        return found
    pair = _PAIR.match(message)
    if pair:
        return {"inputs": [_NAMES[n] for n in pair.groups()]}
    return None


def _validation_text(exc: RequestValidationError) -> str:
    """FastAPI's list of problems as one line: 'query parameter d_k: ...'."""
    parts = []
    for e in exc.errors()[:3]:
        where = [str(p) for p in e.get("loc", ()) if p not in ("query", "body")]
        kind = e.get("loc", ("",))[0]
        name = f"{kind} parameter {'.'.join(where)}" if where else str(kind)
        parts.append(f"{name}: {e.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def install(app: FastAPI) -> None:
    """Map bad input to 422, HTTP errors to their status, anything else to a plain 500."""

    @app.exception_handler(InputError)
    async def bad_input(request: Request, exc: InputError) -> JSONResponse:
        found = where(str(exc))
        if found is None:
            return error(422, str(exc))
        return JSONResponse({"error": str(exc), "where": found}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def bad_params(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error(422, _validation_text(exc))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        message: Any = exc.detail
        if exc.status_code == 404 and message == "Not Found":
            message = f"not found: {request.url.path}"
        return error(exc.status_code, str(message), getattr(exc, "headers", None))

    @app.exception_handler(Unavailable)
    async def not_ready(request: Request, exc: Unavailable) -> JSONResponse:
        return error(503, str(exc), {"Retry-After": str(limits.RETRY_AFTER)})

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return error(500, f"internal error ({type(exc).__name__}); the server log has details")
