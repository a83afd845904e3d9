"""Routes of the models: the tiny GPT's next characters and attention (/api/next,
/api/gpt/...), a real model's attention maps (/api/maps). JSON of attention maps is
qkv.maps/1: the maps' metadata and the compact view the page draws (qkv.viz.page.encode)."""

from __future__ import annotations

import threading
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from qkv.errors import InputError
from qkv.serve import limits
from qkv.serve.gate import compute
from qkv.serve.hand_api import to_json

router = APIRouter(prefix="/api", tags=["models"])


def maps_json(maps: Any) -> bytes:
    from qkv.viz.page import encode

    return to_json({"schema": "qkv.maps/1", "meta": maps.meta, "view": encode(maps)})


def _gpt(request: Request) -> Any:
    return request.app.state.gpt


def _prompt(prompt: str) -> str:
    if not prompt:
        raise InputError("the prompt is empty")
    if len(prompt) > limits.MAX_PROMPT:
        raise InputError(f"the prompt has {len(prompt)} characters; at most {limits.MAX_PROMPT}")
    return prompt


@router.get("/gpt/status", summary="The tiny GPT: idle, loading, training (with progress) or ready")
async def gpt_status(request: Request) -> dict[str, Any]:
    """What the tiny GPT is doing; asking changes nothing (POST /api/gpt/start starts it)."""
    status: dict[str, Any] = _gpt(request).status()
    return status


@router.post(
    "/gpt/start",
    summary="Load the tiny GPT, training it first when it has no finished checkpoint",
    description="Starts in the background and answers at once with the status (as GET "
    "/api/gpt/status does); asking again while it works changes nothing. The body is {}.",
)
async def gpt_start(request: Request) -> dict[str, Any]:
    holder = _gpt(request)
    holder.start(train=True)
    status: dict[str, Any] = holder.status()
    return status


def _next(
    holder: Any, prompt: str, top: int, temperature: float, top_k: int | None, words: list[str]
) -> bytes:
    from qkv.gpt.generate import next_chars, word_probability

    model, tok = holder.ready()
    with holder.lock:
        top_chars = next_chars(model, tok, prompt, top, temperature=temperature, top_k=top_k)
        probs = [(w, word_probability(model, tok, prompt, w)) for w in words]
    return to_json(
        {
            "schema": "qkv.probe/1",
            "prompt": prompt,
            "temperature": temperature,
            "top_k": top_k,
            "candidates": [{"word": w, "probability": p} for w, p in probs],
            "next": [{"char": c, "probability": p} for c, p in top_chars],
        }
    )


@router.get(
    "/next",
    summary="The next-character distribution of the tiny GPT (qkv.probe/1)",
    description="`next`: the `top` likeliest characters with the probabilities sampling uses "
    "at this temperature and top-k; `candidates`: P(word | prompt) of each word, from the "
    "model itself (temperature 1). 503 while the model is loading or training.",
)
async def next_token(
    request: Request,
    prompt: Annotated[str, Query(description=f"at most {limits.MAX_PROMPT} characters")],
    top: Annotated[int, Query(description=f"1 to {limits.MAX_TOP}")] = 10,
    temperature: Annotated[float, Query(description="0 (greedy) to 10")] = 1.0,
    top_k: Annotated[int, Query(description="keep the k likeliest; 0: all")] = 0,
    candidates: Annotated[str, Query(description="words, comma-separated (苹果,砖头)")] = "",
) -> Response:
    prompt = _prompt(prompt)
    if not 1 <= top <= limits.MAX_TOP:
        raise InputError(f"top must be between 1 and {limits.MAX_TOP}, not {top}")
    if not 0 <= temperature <= 10:  # NaN fails this too
        raise InputError(f"temperature must be between 0 and 10, not {temperature}")
    if top_k < 0:
        raise InputError(f"top_k must be 0 (all) or more, not {top_k}")
    words = [w.strip() for w in candidates.replace("，", ",").split(",") if w.strip()]
    if len(words) > limits.MAX_CANDIDATES or any(len(w) > 32 for w in words):
        raise InputError(f"give at most {limits.MAX_CANDIDATES} candidates of 32 characters")
    body = await compute(
        request, _next, _gpt(request), prompt, top, temperature, top_k or None, words
    )
    return Response(body, media_type="application/json")


def _gpt_maps(holder: Any, prompt: str) -> bytes:
    from qkv.gpt.generate import attention_maps

    model, tok = holder.ready()
    with holder.lock:
        return maps_json(attention_maps(model, tok, prompt))


@router.get("/gpt/maps", summary="Every layer's and head's attention of the tiny GPT")
async def gpt_maps(
    request: Request, prompt: Annotated[str, Query(description="at most the model's context")]
) -> Response:
    body = await compute(request, _gpt_maps, _gpt(request), _prompt(prompt))
    return Response(body, media_type="application/json")


class MapsRequest(BaseModel):
    model: Annotated[str, Field(description="minilm (all-MiniLM-L6-v2, offline)")] = "minilm"
    text: Annotated[str, Field(description=f"at most {limits.MAX_MAP_TOKENS} tokens")]


hf_lock = threading.Lock()  # one load, then one forward pass at a time (maps and heads)
_hf: dict[str, tuple[Any, Any]] = {}


def real_model(name: str) -> tuple[Any, Any]:
    """The model ``name`` (one of limits.MODELS) and its tokenizer, loaded on first use; call
    it with hf_lock held."""
    from qkv import hf

    if name not in _hf:
        _hf[name] = hf.load(name)
    return _hf[name]


def _real_maps(name: str, text: str) -> bytes:
    from qkv import hf

    with hf_lock:
        model, tokenizer = real_model(name)
        n = len(tokenizer(text, truncation=False)["input_ids"])
        if n > limits.MAX_MAP_TOKENS:
            raise InputError(f"the text is {n} tokens; at most {limits.MAX_MAP_TOKENS}")
        return maps_json(hf.attention_maps(model, text, tokenizer))


@router.post("/maps", summary="A real model's attention maps for a text (qkv.maps/1)")
async def real_maps(request: Request, req: MapsRequest) -> Response:
    if req.model not in limits.MODELS:
        raise InputError(f"unknown model {req.model!r}; models: {', '.join(limits.MODELS)}")
    if not req.text.strip():
        raise InputError("the text is empty")
    if len(req.text) > limits.MAX_MAP_CHARS:  # refused before the tokenizer reads it
        raise InputError(
            f"the text has {len(req.text):,} characters; at most {limits.MAX_MAP_CHARS:,}"
        )
    body = await compute(request, _real_maps, req.model, req.text)
    return Response(body, media_type="application/json")
