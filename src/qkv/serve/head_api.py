"""/api/head: one head of a real model by hand, with its own numbers, checked against the model
(qkv.inside), laid out as the page draws the hand calculation (qkv.model-layout/1).

The models are the server's own: "minilm" (the offline MiniLM, shared with /api/maps) and
"gpt" (the tiny GPT of /api/next); never a path. The text is bounded in characters before it
is read and in tokens before the model runs; answers are remembered (a small LRU)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from qkv.errors import InputError
from qkv.serve import limits
from qkv.serve.gate import compute
from qkv.serve.hand_api import Answers, to_json

router = APIRouter(prefix="/api", tags=["models"])
MODELS = ("minilm", "gpt")
_answers = Answers(16)
CACHED = 1_000_000  # bytes of an answer worth remembering: 16 of them hold at most 16 MB


class HeadRequest(BaseModel):
    model: Annotated[str, Field(description="minilm (all-MiniLM-L6-v2, offline) or gpt")] = "minilm"
    text: Annotated[str, Field(description=f"at most {limits.MAX_TOKENS} tokens")]
    layer: Annotated[int, Field(description="from 1")] = 1
    head: Annotated[int, Field(description="from 1")] = 1
    query: Annotated[int | None, Field(description="from 1: its row written out")] = None
    lang: Annotated[str, Field(description="zh or en")] = "en"
    digits: Annotated[int, Field(description="significant digits")] = 3
    columns: Annotated[str, Field(description="dimensions shown: 1-16, 1-8,380-384 or all")] = (
        "1-16"
    )

    def key(self) -> tuple[Any, ...]:
        return tuple(self.model_dump().values())


def _check(req: HeadRequest) -> None:
    """What can be refused before any work."""
    if req.model not in MODELS:
        raise InputError(f"unknown model {req.model[:40]!r}; models: {', '.join(MODELS)}")
    if not req.text.strip():
        raise InputError("the text is empty")
    if len(req.text) > limits.MAX_MAP_CHARS:
        raise InputError(
            f"the text has {len(req.text):,} characters; at most {limits.MAX_MAP_CHARS:,}"
        )
    if req.lang not in ("zh", "en"):
        raise InputError(f"lang must be zh or en, not {req.lang[:20]!r}")
    if not 1 <= req.digits <= limits.MAX_DIGITS:
        raise InputError(f"digits must be between 1 and {limits.MAX_DIGITS}")
    if len(req.columns) > 100:
        raise InputError("columns: at most 100 characters (ranges such as 1-16,380-384)")


def _tokens(kind: str, tokenizer: Any, text: str) -> None:
    """At most limits.MAX_TOKENS tokens (a table a person reads), counted before the model
    runs."""
    n = len(text) if kind == "qkv-gpt" else len(tokenizer(text, truncation=False)["input_ids"])
    if n > limits.MAX_TOKENS:
        raise InputError(f"the text is {n} tokens; at most {limits.MAX_TOKENS}")


def _explain(holder: Any, req: HeadRequest) -> Any:
    from qkv.inside import explain_model
    from qkv.inside.sources import Loaded

    if req.model == "gpt":
        model, tok = holder.ready()
        with holder.lock:
            _tokens("qkv-gpt", tok, req.text)
            loaded = Loaded(model, tok, "qkv-gpt", "qkv gpt")
            return explain_model(loaded, req.text, req.layer, req.head, req.query)
    from qkv.serve.model_api import hf_lock, real_model

    with hf_lock:
        model, tok = real_model(req.model)
        _tokens("hf", tok, req.text)
        loaded = Loaded(model, tok, "hf", "all-MiniLM-L6-v2")
        return explain_model(loaded, req.text, req.layer, req.head, req.query)


def _layout(holder: Any, req: HeadRequest) -> bytes:
    from qkv.render.model import model_document

    e = _explain(holder, req)
    doc = model_document(e, "html", lang=req.lang, digits=req.digits, columns=req.columns)
    return to_json(
        {
            "schema": "qkv.model-layout/1",
            "model": e.model,
            "layer": e.layer,
            "head": e.head,
            "layers": e.layers,
            "heads": e.heads,
            "tokens": e.tokens,
            "query": None if e.query is None else e.query + 1,
            "check": e.check.to_dict(),
            "weights": e.trace.weights.tolist(),
            "document": asdict(doc),
        }
    )


@router.post(
    "/head",
    summary="One head of a real model by hand, with its numbers, checked (qkv.model-layout/1)",
    description="The hand calculation of head `head` of layer `layer` (from 1) on `text`, "
    "filled with the model's own numbers and checked against its attention weights and "
    "head output; `query` (from 1) writes that query's row out entry by entry. 422 for bad "
    "input or a model that disagrees; 503 while the tiny GPT is loading or training.",
)
async def head(request: Request, req: HeadRequest) -> Response:
    _check(req)
    key = req.key()
    known = _answers.get(key)
    if known is None:
        body = await compute(request, _layout, request.app.state.gpt, req)
        known = (body, "application/json")
        if len(body) <= CACHED:
            _answers.put(key, known)
    return Response(known[0], media_type=known[1])
