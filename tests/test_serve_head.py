"""A cell of a real model's attention opens its hand calculation, with the model's own numbers:
/api/head through the app, and the page in headless Chromium (the model view's heatmap and
the tiny GPT's head view clicked), labels inert to markup."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
pytest.importorskip("torch")
pytest.importorskip("transformers")

from fastapi.testclient import TestClient

from qkv.core.exact import fmt
from qkv.serve.app import create_app
from qkv.serve.models import GPTSource
from tests.serving import running, small_checkpoint, wait_until

XSS = "<img src=x onerror=alert(1)>"
TEXT = f"{XSS} the cat sat"
LOCAL = "http://127.0.0.1"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return small_checkpoint(tmp_path_factory.mktemp("gpt"))


@pytest.fixture(scope="module")
def client(checkpoint):
    with TestClient(create_app(GPTSource(checkpoint)), base_url=LOCAL) as c:
        yield c


def _maps(text):
    from qkv.hf import attention_maps

    return attention_maps("minilm", text)


def test_the_api_is_the_models_head(client):
    r = client.post("/api/head", json={"text": TEXT, "layer": 2, "head": 5, "query": 3})
    assert r.status_code == 200
    d = r.json()
    assert d["schema"] == "qkv.model-layout/1" and (d["layer"], d["head"], d["query"]) == (2, 5, 3)
    maps = _maps(TEXT)
    assert d["tokens"] == maps.tokens
    assert np.abs(np.array(d["weights"]) - maps.maps[1, 4]).max() < 1e-5
    ids = [s["id"] for s in d["document"]["sections"]]
    assert ids[0] == "model" and "q.softmax" in ids and ids[-1] == "check"
    x = next(s for s in d["document"]["sections"] if s["id"] == "x")
    assert len(x["table"]["cols"]) == 16  # the default window, said in a note
    assert "Columns 1–16 of 384 shown" in x["notes"][0]
    assert d["check"]["weights"] < 1e-5 and d["check"]["output"] < 1e-4


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"text": "a", "layer": 7}, "layer 7 is out of range 1..6"),
        ({"text": "a", "head": 0}, "head 0 is out of range 1..12"),
        ({"text": "a", "query": 9}, "query 9 is out of range"),
        ({"model": "/etc/passwd", "text": "a"}, "unknown model"),
        ({"text": " "}, "the text is empty"),
        ({"text": "cat " * 70}, "at most 64"),
        ({"text": "a" * 10_001}, "at most 10,000"),
        ({"text": "a", "columns": "1-999"}, "outside 1..384"),
        ({"text": "a", "lang": "fr"}, "zh or en"),
    ],
)
def test_bad_requests_are_one_line_422s(client, body, message):
    r = client.post("/api/head", json=body)
    assert r.status_code == 422 and message in r.json()["error"]


def test_the_tiny_gpt_is_there_too(client, checkpoint):
    from qkv.gpt import checkpoint as ck
    from qkv.gpt.generate import attention_maps

    client.post("/api/gpt/start", json={})
    wait_until(lambda: client.get("/api/gpt/status").json()["state"] == "ready", timeout=120)
    r = client.post("/api/head", json={"model": "gpt", "text": "我爱吃", "layer": 2, "head": 3})
    model, tok = ck.restore(ck.load(checkpoint))
    expected = attention_maps(model, tok, "我爱吃").maps[1, 2]
    assert r.status_code == 200 and np.abs(np.array(r.json()["weights"]) - expected).max() < 1e-5


@pytest.fixture(scope="module")
def site(checkpoint):
    with running(create_app(GPTSource(checkpoint))) as url:
        yield url


def _page(browser, url):
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    seen = {"dialogs": [], "errors": []}
    page.on("dialog", lambda d: (seen["dialogs"].append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    page.goto(url)
    return page, seen


def _head_drawn(page, before=0):
    js = "Number(document.getElementById('panel-trace').dataset.ready || 0)"
    wait_until(lambda: page.evaluate(js) > before, timeout=60)
    return page.evaluate(js)


def _cells(page, step):
    return page.evaluate(
        f"[...document.querySelectorAll('[data-step=\"{step}\"] tbody tr')]"
        ".map(r => [...r.querySelectorAll('td')].map(td => td.textContent))"
    )


@pytest.mark.browser
def test_a_heatmap_cell_opens_its_hand_calculation(site, browser):
    page, seen = _page(browser, f"{site}/?panel=model&lang=en")
    page.fill("#panel-model input.text", TEXT)
    page.click("#panel-model button.show")
    # the panel first draws its own sentence (asked for when it was mounted): wait for ours
    drawn = "document.querySelector('#panel-model .maps')?.dataset.text"
    wait_until(lambda: page.evaluate(drawn) == TEXT, timeout=60)
    wait_until(lambda: page.evaluate("!!document.querySelector('#panel-model canvas.heat')"))
    page.select_option("#panel-model select.layer", index=1)  # layer 2
    page.select_option("#panel-model select.head", index=4)  # head 5
    # the heatmap is drawn again for the head chosen; click only once it shows that head
    wait_until(
        lambda: page.evaluate(
            "(() => { const h = document.querySelector('#panel-model canvas.heat');"
            " return h.dataset.layer === '1' && h.dataset.head === '4'; })()"
        )
    )
    box = page.evaluate(
        "(() => { const h = document.querySelector('#panel-model canvas.heat');"
        " h.scrollIntoView(); const r = h.getBoundingClientRect(), s = r.width / h.width;"
        " return [r.left + (h.width - 16) * s, r.top + (h.height - 16) * s]; })()"
    )
    maps = _maps(TEXT)
    n = len(maps.tokens)
    page.mouse.click(*box)  # the last query's last key
    # the panel may also be drawing the article's example, started when the page loaded:
    # wait for the head's own drawing, not just any
    title = "document.querySelector('#panel-trace .htitle')?.textContent || ''"
    wait_until(
        lambda: (
            "layer 2, head 5" in page.evaluate(title)
            and [len(r) for r in _cells(page, "weights")[-1:]] == [n]
        ),
        timeout=60,
    )
    assert page.is_visible("#panel-trace") and not page.is_visible("#panel-model")
    weights = _cells(page, "weights")
    assert weights[-1] == [fmt(w, 3) for w in maps.maps[1, 4, n - 1]]  # the model's, printed
    picked = page.evaluate(
        "[...document.querySelectorAll('[data-step=\"weights\"] td.picked')]"
        ".map(td => [td.dataset.i, td.dataset.j])"
    )
    assert picked == [[str(n - 1), str(n - 1)]]
    softmax = page.text_content('[data-step="q.softmax"] h3')
    assert "[SEP]" in softmax  # the query's row, written out
    labels = page.evaluate(
        "[...document.querySelectorAll('[data-step=\"weights\"] tbody th')].map(t => t.textContent)"
    )
    assert labels == maps.tokens and "<" in labels
    assert page.evaluate("document.querySelectorAll('img').length") == 0
    assert seen == {"dialogs": [], "errors": []}
    # a weight clicked there writes that query's row out instead
    before = page.evaluate("Number(document.getElementById('panel-trace').dataset.ready)")
    page.click('[data-step="weights"] td[data-i="2"][data-j="1"]')
    _head_drawn(page, before)
    assert f"Query {maps.tokens[2]}:" in page.text_content('[data-step="q.products"] h3')


@pytest.mark.browser
def test_the_tiny_gpts_head_view_and_the_panels_own_choice(site, browser):
    page, seen = _page(browser, f"{site}/?panel=gpt&lang=zh&p=我爱吃")
    wait_until(lambda: page.evaluate("!!document.querySelector('#panel-gpt canvas.heat')"), 120)
    page.select_option("#panel-gpt select.view", index=1)  # the head view
    wait_until(
        lambda: page.evaluate("!!document.querySelector('#panel-gpt .tok[data-side=\"k\"]')")
    )
    page.click('#panel-gpt .tok[data-side="q"][data-index="2"]')
    page.click('#panel-gpt .tok[data-side="k"][data-index="0"]')
    _head_drawn(page)
    assert "第 1 层,第 1 个头" in page.text_content("#panel-trace .htitle")
    assert _cells(page, "q.softmax")[0][0] != ""  # 吃's row, written out
    # back to the article's example from the panel's own menu, and forth to a model's head
    page.select_option("#panel-trace select.preset", "笔记本")
    wait_until(lambda: page.evaluate("!!document.querySelector('#step-weights')"))
    page.select_option("#panel-trace select.preset", "model")
    wait_until(lambda: page.evaluate("!!document.querySelector('#panel-trace .htitle')"))
    assert seen == {"dialogs": [], "errors": []}
