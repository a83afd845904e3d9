"""POST /api/check: qkv check on a pasted or dropped article -> qkv.check/2."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, Field

from qkv.errors import InputError
from qkv.serve.hand_api import to_json

router = APIRouter(prefix="/api", tags=["checker"])


class Article(BaseModel):
    text: Annotated[str, Field(description="the article: Markdown, plain text, notebook, HTML")]
    name: Annotated[
        str, Field(max_length=200, description="its file name; only the suffix is used")
    ] = "article.md"


def _check(article: Article) -> tuple[bytes, int]:
    """The report, or for an unreadable article the complete document `qkv check --format
    json` prints (with its "error"), as a 422."""
    from qkv.review.check import check
    from qkv.review.report import EXIT_UNREADABLE, SCHEMA, to_dict

    name = article.name.replace("\\", "/").rsplit("/", 1)[-1] or "article.md"
    try:
        return to_json(to_dict(check(article.text, name))), 200
    except InputError as e:
        doc: dict[str, Any] = {"schema": SCHEMA, "file": name, "exit": EXIT_UNREADABLE}
        return to_json({**doc, "error": str(e)}), 422


@router.post("/check", summary="Check an article's hand-computed attention (qkv.check/2)")
async def check_article(article: Article) -> Response:
    content, status = await run_in_threadpool(_check, article)
    return Response(content, status_code=status, media_type="application/json")
