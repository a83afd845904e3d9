"""POST /api/check: qkv check on a pasted or dropped article -> qkv.check/2.

Each check runs in one of the server's checking processes (qkv.serve.workers), under a time
and a memory limit, through the checks' gate: never in the server's own process."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from qkv.errors import InputError
from qkv.serve import limits
from qkv.serve.hand_api import to_json

router = APIRouter(prefix="/api", tags=["checker"])


class Article(BaseModel):
    text: Annotated[str, Field(description="the article: Markdown, plain text, notebook, HTML")]
    name: Annotated[
        str, Field(max_length=200, description="its file name; only the suffix is used")
    ] = "article.md"


def check_text(text: str, name: str) -> bytes:
    """The report as JSON (run in a checking process); InputError for an unreadable one."""
    from qkv.review.check import check
    from qkv.review.report import to_dict

    return to_json(to_dict(check(text, name)))


def _unreadable(name: str, message: str) -> bytes:
    """The complete document `qkv check --format json` prints for an unreadable article."""
    from qkv.review.report import EXIT_UNREADABLE, SCHEMA

    doc: dict[str, Any] = {"schema": SCHEMA, "file": name, "exit": EXIT_UNREADABLE}
    return to_json({**doc, "error": message})


@router.post("/check", summary="Check an article's hand-computed attention (qkv.check/2)")
async def check_article(request: Request, article: Article) -> Response:
    """The report; for an unreadable article (or one past the time or memory limit) the
    document `qkv check --format json` prints, with its "error", as a 422."""
    name = article.name.replace("\\", "/").rsplit("/", 1)[-1] or "article.md"
    state = request.app.state
    async with state.checks.place():
        try:
            content, status = await state.workers.run(check_text, article.text, name), 200
        except InputError as e:
            content, status = _unreadable(name, str(e)), 422
        except MemoryError:
            limit = f"{limits.CHECK_MEMORY / 1e9:.3g} GB"
            content, status = _unreadable(name, f"checking it needs more than {limit}"), 422
    return Response(content, status_code=status, media_type="application/json")
