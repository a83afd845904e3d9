"""create_app(): the FastAPI application of `qkv serve`: the page, its static files, the JSON
API (documented at /docs, from /openapi.json), /healthz, and on every request, outermost
first: security headers and a deadline to read the answer (Guard), the Host check
(TrustedHostMiddleware), JSON-only POSTs from the page (PageOnly), a POST whose gate is full
refused before its body is read (Shed), bodies counted as they arrive (Bodies), a GET of the
hand calculation answered before replayed from memory (Replay). Computations
pass the gates of app.state (qkv.serve.gate); articles are checked in worker processes
(qkv.serve.workers)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.trustedhost import TrustedHostMiddleware

from qkv.serve import check_api, errors, hand_api, head_api, limits, model_api
from qkv.serve.gate import Gate, Shed
from qkv.serve.guard import Bodies, Guard
from qkv.serve.models import GPTHolder, GPTSource, cache_dir, find_gpt
from qkv.serve.origin import PageOnly, allowed_hosts
from qkv.serve.replay import Replay
from qkv.serve.workers import Workers

STATIC = Path(str(files("qkv.serve") / "static"))
NO_CACHE = {"Cache-Control": "no-cache"}


def create_app(gpt: GPTSource | None = None, hosts: Sequence[str] | None = None) -> FastAPI:
    """The app; ``gpt`` says where the tiny GPT comes from (default: find_gpt's search);
    ``hosts`` the Host names it answers (default: the loopback names)."""
    workers = Workers()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        workers.close()

    app = FastAPI(
        title="qkv",
        version="0.1.0",
        summary="Attention you can compute by hand, check, see, train and run fast.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.gpt = GPTHolder(gpt or find_gpt(None, cache_dir()))
    app.state.compute = Gate("computations", limits.COMPUTATIONS, limits.QUEUE)
    app.state.checks = Gate("checks", limits.CHECK_WORKERS, limits.CHECK_QUEUE)
    app.state.workers = workers
    errors.install(app)
    hosts = list(hosts) if hosts is not None else allowed_hosts("127.0.0.1")
    # added last = run first: Guard, the Host, PageOnly, Shed, Bodies, then Replay
    app.add_middleware(Replay)
    app.add_middleware(Bodies)
    app.add_middleware(Shed)
    app.add_middleware(PageOnly, hosts=hosts)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=hosts, www_redirect=False)
    app.add_middleware(Guard)
    for router in (hand_api.router, check_api.router, model_api.router, head_api.router):
        app.include_router(router)
    _pages(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


@cache
def _maps_view(suffix: str) -> bytes:
    return (files("qkv.viz") / "templates" / f"maps_view.{suffix}").read_bytes()


def _pages(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False)
    def index() -> Response:
        return Response(
            (STATIC / "index.html").read_bytes(), media_type="text/html", headers=NO_CACHE
        )

    # the same drawing as `qkv viz --view model|head` pages, from qkv.viz
    @app.get("/static/maps_view.js", include_in_schema=False)
    def maps_view_js() -> Response:
        return Response(_maps_view("js"), media_type="text/javascript", headers=NO_CACHE)

    @app.get("/static/maps_view.css", include_in_schema=False)
    def maps_view_css() -> Response:
        return Response(_maps_view("css"), media_type="text/css", headers=NO_CACHE)

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:  # none: say so without a 404 in the browser's console
        return Response(status_code=204)

    # async: answered on the event loop, never behind a computation or a worker thread
    @app.get("/healthz", summary="Liveness: {status: ok}", tags=["server"])
    async def healthz(request: Request) -> dict[str, Any]:
        return {"status": "ok", "version": app.version, "gpt": request.app.state.gpt.state}

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        from qkv.serve.docs import page

        return HTMLResponse(page(app.openapi()))
