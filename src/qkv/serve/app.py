"""create_app(): the FastAPI application of `qkv serve`: the page, its static files, the JSON
API (documented at /docs, from /openapi.json), /healthz, and the guard on every response."""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from qkv.serve import check_api, errors, hand_api, model_api
from qkv.serve.guard import Guard
from qkv.serve.models import GPTHolder, GPTSource, cache_dir, find_gpt

STATIC = Path(str(files("qkv.serve") / "static"))
NO_CACHE = {"Cache-Control": "no-cache"}


def create_app(gpt: GPTSource | None = None) -> FastAPI:
    """The app; ``gpt`` says where the tiny GPT comes from (default: find_gpt's search)."""
    app = FastAPI(
        title="qkv",
        version="0.1.0",
        summary="Attention you can compute by hand, check, see, train and run fast.",
        docs_url=None,
        redoc_url=None,
    )
    app.state.gpt = GPTHolder(gpt or find_gpt(None, cache_dir()))
    errors.install(app)
    app.add_middleware(Guard)
    for router in (hand_api.router, check_api.router, model_api.router):
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

    @app.get("/healthz", summary="Liveness: {status: ok}", tags=["server"])
    def healthz(request: Request) -> dict[str, Any]:
        return {"status": "ok", "version": app.version, "gpt": request.app.state.gpt.state}

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        from qkv.serve.docs import page

        return HTMLResponse(page(app.openapi()))
