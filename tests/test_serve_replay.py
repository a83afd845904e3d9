"""Replay: GET answers of the hand calculation's API kept and sent again, byte for byte, with
the outer middlewares' headers once, and only complete 200 answers, within a byte budget."""

from __future__ import annotations

import asyncio
import gc

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient

from qkv.serve.app import create_app
from qkv.serve.models import GPTSource
from qkv.serve.replay import Replay

LOCAL = "http://127.0.0.1"


@pytest.fixture()
def client(tmp_path):
    app = create_app(GPTSource(tmp_path / "none.pt"))
    with TestClient(app, base_url=LOCAL, raise_server_exceptions=False) as c:
        yield c


def _replay(app) -> Replay:
    stack = app.middleware_stack
    while not isinstance(stack, Replay):
        stack = stack.app
    return stack


def test_an_answer_sent_again_is_the_same_bytes_and_headers(client):
    first = client.get("/api/trace", params={"example": "search", "lang": "en"})
    again = client.get("/api/trace", params={"example": "search", "lang": "en"})
    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    assert again.headers.items() == first.headers.items()  # security headers once, not twice
    assert again.headers.get_list("x-content-type-options") == ["nosniff"]
    kept = _replay(client.app)
    assert len(kept.kept) == 1 and kept.bytes == len(first.content)


def test_errors_posts_and_other_paths_are_not_kept(client):
    assert client.get("/api/trace", params={"example": "nonesuch"}).status_code >= 400
    body = {"x": [[1, 0], [0, 1]]}
    assert client.post("/api/trace", json=body).status_code == 200
    assert client.get("/healthz").status_code == 200
    assert not _replay(client.app).kept


def test_the_kept_answers_stay_within_their_budget():
    async def app(scope, receive, send):  # a stand-in route: 1,000 bytes per answer
        body = scope["query_string"].ljust(1000, b".")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    replay = Replay(app, max_bytes=5_000)

    async def get(query: bytes) -> bytes:
        sent: list[dict] = []

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "method": "GET", "path": "/api/trace", "query_string": query}
        await replay(scope, None, send)
        return sent[-1]["body"]

    for k in range(50):  # a client varying its query only churns the cache
        assert asyncio.run(get(b"q=%d" % k)).startswith(b"q=%d" % k)
    assert replay.bytes <= 5_000 and len(replay.kept) == 5
    assert [key[1] for key in replay.kept] == [b"q=%d" % k for k in range(45, 50)]


def test_the_server_settles_its_heap_once_started():
    from qkv.serve import heap

    before = gc.get_threshold()
    try:
        heap.settle()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] == heap.YOUNG
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
