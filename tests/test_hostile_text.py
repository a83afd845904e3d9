"""Text that is not text (a lone UTF-16 surrogate, a command-line byte that is not UTF-8) and
odd shapes in the server's hand calculation: one line and exit 2, or a 4xx, never exit 70 or
a 500 (issue 21). The commands run in the fork server (tests/isolate.py), as the CLI runs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests import samples

SURROGATE = "\ud800"
NOT_UTF8 = os.fsdecode(b"\xed\xa0\x80")  # what Python makes of these bytes in argv


def one_line(out, verb: str, document: bool = False) -> str:
    """Exit 2, one line on stderr; nothing on stdout (but check --format json's document)."""
    err = out.stderr.decode("utf-8", "replace")
    assert out.rc == 2, (out.rc, out.why, err[-2000:])
    assert err.count("\n") == 1 and err.startswith(f"qkv {verb}"), err
    if document:
        assert json.loads(out.stdout)["exit"] == 2
    else:
        assert out.stdout == b"", out.stdout[:200]
    return err


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "in.json").write_text(
        json.dumps({"x": [[1, 2], [3, 4]], "tokens": [SURROGATE, "b"]})
    )
    cells = [
        {"cell_type": "code", "source": ["print(w)\n"], "outputs": [
            {"output_type": "stream", "text": ["[0.5, 0.5]" + SURROGATE + "\n"]}
        ]},
    ]  # fmt: skip
    (tmp_path / "nb.ipynb").write_text(json.dumps({"cells": cells, "nbformat": 4}))
    (tmp_path / "m.npz").write_bytes(samples.maps_npz(tokens=[SURROGATE, "b", "c"]))
    meta = {"schema": "qkv.maps/1", "model": SURROGATE}
    (tmp_path / "meta.npz").write_bytes(samples.maps_npz(meta=meta))
    return tmp_path


CASES = [
    ["explain", "--input", "in.json"],
    *(["explain", "--input", "in.json", "--format", f] for f in ("json", "markdown", "latex")),
    ["explain", "--input", "in.json", "--format", "html", "-o", "o.html"],
    *(["check", "nb.ipynb", "--format", f] for f in ("text", "json", "markdown")),
    ["viz", "--maps", "m.npz", "--view", "summary"],
    ["viz", "--maps", "m.npz", "--view", "model", "-o", "v.html"],
    ["viz", "--maps", "m.npz", "-o", "h.png"],
    ["viz", "--maps", "meta.npz", "--view", "summary", "--format", "json"],
    ["gpt", "sample", "--checkpoint", "ck.pt", "--prompt", "a"],
    ["explain", "--tokens", f"{NOT_UTF8},b", "--x", "[[1,2],[3,4]]"],
    ["gpt", "sample", "--prompt", NOT_UTF8],
    ["check", NOT_UTF8],
    ["explain", "-o", f"{NOT_UTF8}.json"],
]


@pytest.mark.parametrize(
    "argv", CASES, ids=lambda a: " ".join(a).encode("ascii", "replace").decode()
)
def test_text_that_is_not_text_is_one_line(qkv_cli, files, argv):
    """tokens, maps, notebooks and checkpoints with "\\ud800", and arguments that are not
    UTF-8: exit 70 (UnicodeEncodeError) in several commands and formats."""
    pytest.importorskip("torch")
    samples.save_state(samples.tiny_state(vocab="ab" + SURROGATE), files / "ck.pt")
    document = argv[0] == "check" and "json" in argv
    err = one_line(qkv_cli(argv, files), argv[0], document)
    assert "not text" in err or "not UTF-8" in err, err
    assert not [p for p in files.iterdir() if p.suffix in (".html", ".png") or p.name == "o.json"]


# ------------------------------------------------------------------ the server

fastapi = pytest.importorskip("fastapi")


@pytest.fixture(scope="module")
def client():
    from fastapi.testclient import TestClient

    from qkv.serve.app import create_app

    with TestClient(create_app(), base_url="http://127.0.0.1", raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize("fmt", ["json", "markdown", "latex", "html", "png"])
def test_a_surrogate_token_is_a_422_in_every_format(client, fmt):
    body = json.dumps({"x": [[1, 2], [3, 4]], "tokens": [SURROGATE, "b"]})
    r = client.post(f"/api/trace?format={fmt}", content=body, headers=JSON)
    assert r.status_code == 422 and "not text" in r.json()["error"]
    for path in ("/api/layout", "/api/expand?step=weights&row=1&col=1"):
        assert client.post(path, content=body, headers=JSON).status_code == 422


JSON = {"content-type": "application/json"}


@pytest.mark.parametrize(
    "body, message",
    [
        # the window is the spec's now, so trace() checks the body's mask as it checks any
        ({"x": [[1, 2], [3, 4]], "mask": [[1, 1, 1]] * 3}, "mask is 3x3, expected 2x2"),
        ({"q": [[1, 2]], "v": [[3, 4]]}, "missing k"),
        ({"k": [[1, 2]]}, "missing q"),
    ],
)
def test_a_window_mask_that_does_not_fit_is_a_422(client, body, message):
    """mask=window with a mask larger than the inputs, or q and v without k: 500."""
    r = client.post("/api/trace?mask=window", content=json.dumps(body), headers=JSON)
    assert r.status_code == 422 and message in r.json()["error"], r.text
