"""One head of a real model, by hand (qkv.inside, `qkv explain --model`): every layer and
head of MiniLM, of a tiny random BERT and GPT-2 saved here, and of a trained `qkv gpt` run,
recomputed in float64 and held against the model itself, reached by other means than the
ones qkv uses (hidden states from output_hidden_states, the attention module called
directly, output_attentions from a separate forward pass)."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from qkv.cli.main import main  # noqa: E402
from qkv.core.exact import fmt  # noqa: E402
from qkv.errors import InputError  # noqa: E402
from qkv.inside import Mismatch, check_heads, explain_model  # noqa: E402
from qkv.inside.capture import capture  # noqa: E402
from qkv.inside.explain import explain_capture  # noqa: E402
from qkv.inside.sources import open_model  # noqa: E402
from qkv.render.model import parse_columns, render_model  # noqa: E402

TEXT = "The cat sat on the mat"
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat", "<", ">"]


@pytest.fixture(scope="module")
def minilm():
    return open_model("minilm")


def _save(folder: Path, model) -> str:
    folder.mkdir()
    (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    model.eval().save_pretrained(folder)
    transformers.BertTokenizer(str(folder / "vocab.txt")).save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A random BERT and GPT-2 (3 layers, 4 heads of 6), saved with a small vocabulary."""
    root = tmp_path_factory.mktemp("hf")
    torch.manual_seed(0)
    n = len(VOCAB)
    bert = transformers.BertModel(
        transformers.BertConfig(
            vocab_size=n, hidden_size=24, num_hidden_layers=3, num_attention_heads=4,
            intermediate_size=32, max_position_embeddings=32,
        )
    )  # fmt: skip
    gpt2 = transformers.GPT2Model(
        transformers.GPT2Config(vocab_size=n, n_embd=24, n_layer=3, n_head=4, n_positions=32)
    )
    return {"bert": _save(root / "bert", bert), "gpt2": _save(root / "gpt2", gpt2)}


@pytest.fixture(scope="module")
def gpt_run(tmp_path_factory):
    """A `qkv gpt` run of the tiny preset, trained a little (causal, pre-LN)."""
    from qkv.gpt.config import preset
    from qkv.gpt.data import builtin_corpus
    from qkv.gpt.train import train

    out = tmp_path_factory.mktemp("run")
    model_config, train_config = preset("tiny")
    short = replace(train_config, steps=25, eval_interval=25, eval_batches=2, warmup=5)
    train(builtin_corpus(), model_config, short, out, seed=0)
    return out


def _independent(loaded, text, layer):
    """The layer's input, the model's weights and the heads' outputs, found without qkv's
    hooks: output_hidden_states, output_attentions, and the attention module called."""
    model, tok = loaded.model, loaded.tokenizer
    enc = tok(text, return_tensors="pt")
    with torch.no_grad():
        out = model(**enc, output_attentions=True, output_hidden_states=True)
        hidden = out.hidden_states[layer]
        if hasattr(model, "h"):  # GPT-2: pre-LN, the attention reads ln_1(residual)
            block = model.h[layer]
            x = block.ln_1(hidden)
            heads = _gpt2_heads(block.attn, x)
        else:
            x = hidden
            heads = model.encoder.layer[layer].attention.self(x)[0]
    return x[0].double().numpy(), out.attentions[layer][0].double().numpy(), heads[0].double()


def _gpt2_heads(attn, x):
    """GPT-2's heads, from its weights, without its forward (which applies c_proj)."""
    q, k, v = attn.c_attn(x).split(attn.split_size, dim=2)
    b, n, e = q.shape
    q, k, v = (t.view(b, n, attn.num_heads, -1).transpose(1, 2) for t in (q, k, v))
    mask = torch.ones(n, n, dtype=torch.bool).tril()
    a = torch.softmax((q @ k.transpose(-1, -2) * attn.scaling).masked_fill(~mask, -1e30), -1)
    return (a @ v).transpose(1, 2).reshape(b, n, e)


def test_every_head_of_minilm_matches_the_model(minilm):
    checks = check_heads(minilm, TEXT)
    assert len(checks) == 6 * 12
    assert max(c.weights for c in checks) < 1e-5
    assert max(c.output for c in checks) < 1e-4
    assert max(c.projection for c in checks) < 1e-4


@pytest.mark.parametrize("layer", [1, 4, 6])
def test_minilm_heads_against_the_model_reached_another_way(minilm, layer):
    x, weights, heads = _independent(minilm, TEXT, layer - 1)
    for head in (1, 7, 12):
        e = explain_model(minilm, TEXT, layer, head)
        np.testing.assert_array_equal(e.trace["x"].matrix, x)  # exactly the model's numbers
        assert np.abs(e.trace.weights - weights[head - 1]).max() < 1e-5
        d = slice(32 * (head - 1), 32 * head)
        assert np.abs(e.trace.output - heads[:, d].numpy()).max() < 1e-4
        assert e.tokens == ["[CLS]", "the", "cat", "sat", "on", "the", "mat", "[SEP]"]
        assert e.trace.causal is None and e.trace.scale_text == "1/√32"


@pytest.mark.parametrize("kind", ["bert", "gpt2"])
def test_every_head_of_tiny_random_models(tiny, kind):
    loaded = open_model(tiny[kind])
    checks = check_heads(loaded, "the cat sat on the mat")
    assert len(checks) == 3 * 4
    assert max(c.weights for c in checks) < 1e-5
    assert max(c.output for c in checks) < 1e-4
    for layer in range(3):
        x, weights, heads = _independent(loaded, "the cat sat on the mat", layer)
        e = explain_model(loaded, "the cat sat on the mat", layer + 1, 3)
        np.testing.assert_allclose(e.trace["x"].matrix, x, rtol=0, atol=1e-6)
        assert np.abs(e.trace.weights - weights[2]).max() < 1e-5
        assert np.abs(e.trace.output - heads[:, 12:18].numpy()).max() < 1e-4
    assert (e.trace.causal is not None) == (kind == "gpt2")
    if kind == "gpt2":  # a decoder: nothing above the diagonal
        assert np.all(np.triu(e.trace.weights, 1) == 0) and "masked" in e.trace


def test_every_head_of_a_trained_gpt_run(gpt_run):
    from qkv.gpt import checkpoint
    from qkv.gpt.generate import attention_maps

    checks = check_heads(str(gpt_run), "我爱吃苹果")
    assert len(checks) == 2 * 4
    assert max(c.weights for c in checks) < 1e-5
    assert max(c.output for c in checks) < 1e-4
    model, tok = checkpoint.restore(checkpoint.load(gpt_run))
    maps = attention_maps(model, tok, "我爱吃苹果")  # the model's own maps, another call
    for layer in (1, 2):
        for head in (1, 4):
            e = explain_model(gpt_run, "我爱吃苹果", layer, head, query="吃")
            assert np.abs(e.trace.weights - maps.maps[layer - 1, head - 1]).max() < 1e-5
            assert e.tokens == list("我爱吃苹果") and e.query == 2
            assert np.all(np.triu(e.trace.weights, 1) == 0)


def test_grouped_query_heads_read_their_key_value_head():
    from qkv.gpt.config import GPTConfig
    from qkv.gpt.data import CharTokenizer
    from qkv.gpt.model import GPT
    from qkv.nn import MultiHeadAttention

    torch.manual_seed(1)
    model = GPT(GPTConfig(vocab_size=5, n_layer=1, n_head=4, n_embd=16, block_size=8))
    model.blocks[0].attn = MultiHeadAttention(16, 4, num_kv_heads=2)
    tok = CharTokenizer(list("abcde"))
    checks = check_heads(model, "abcab", tokenizer=tok)
    assert len(checks) == 4 and max(c.weights for c in checks) < 1e-5
    e = explain_model(model, "abcab", 1, 4, tokenizer=tok)
    assert e.kv_heads == 2 and "head 4 reads key/value head 2" in render_model(e, lang="en")


def test_a_disagreement_is_an_error_not_a_footnote(minilm):
    cap = capture(minilm, TEXT, [0])
    explain_capture(cap, "minilm", 0, 0)  # as the model computed it: fine
    cap.layers[0].scale *= 1.01  # a scale the model does not use
    with pytest.raises(Mismatch, match=r"weights differ by .*\(float32 rounding allows 1e-05\)"):
        explain_capture(cap, "minilm", 0, 0)


def test_one_querys_row_adds_up(minilm):
    e = explain_model(minilm, TEXT, 2, 5, query="cat")
    w = e.work
    assert w.query == 2 and w.products.shape == (32, 8)
    np.testing.assert_allclose(w.running[-1], e.trace["scores"].matrix[2], rtol=1e-12)
    np.testing.assert_allclose(w.terms / w.total, e.trace.weights[2], rtol=1e-12)
    np.testing.assert_allclose(w.weighted.sum(axis=0), e.trace.output[2], atol=1e-12)
    q, k = e.trace["q"].matrix[2], e.trace["k"].matrix
    assert w.products[5, 3] == q[5] * k[3, 5]


def _table(text: str, title: str) -> dict[str, list[float]]:
    """The rows of the first table after ``title`` in plain text: label -> numbers."""
    lines = text[text.index(title) :].splitlines()[2:]
    rows = {}
    for line in lines[1:]:
        label, *cells = line.split() or [""]
        try:
            rows.setdefault(label, [float(c) for c in cells])
        except ValueError:  # the note under the table
            break
    return rows


def test_every_printed_number_is_the_models_to_its_digits(minilm):
    x, weights, _ = _independent(minilm, TEXT, 0)
    e = explain_model(minilm, TEXT, 1, 1)
    text = render_model(e, "text", lang="en", columns="1-6")
    shown = _table(text, "Input X")
    assert list(shown) == ["[CLS]", "the", "cat", "sat", "on", "mat", "[SEP]"]
    for label, row in shown.items():
        i = e.tokens.index(label)
        assert [fmt(v, 3) for v in x[i, :6]] == [fmt(v, 3) for v in row]
    printed = _table(text, "Attention weights A")
    for label, row in printed.items():
        i = e.tokens.index(label)
        assert np.allclose(row, weights[0, i], rtol=5e-3, atol=5e-4)
    assert "Columns 1–6 of 384 shown" in text and "Rows 1–6 of 384 shown" in text


def test_columns_that_fit_and_every_column_elsewhere(minilm):
    e = explain_model(minilm, TEXT, 1, 1, query=3)
    text = render_model(e, "text", lang="en", width=100)
    assert "Columns 1–9 of 384 shown" in text and "of 32 shown" in text
    assert "Query cat: softmax, term by term" in text
    data = json.loads(render_model(e, "json"))
    assert data["schema"] == "qkv.model-head/1" and data["d_model"] == 384
    x = next(s for s in data["trace"]["steps"] if s["id"] == "x")
    assert len(x["matrix"][0]) == 384 and data["query"]["query"] == 3
    html = render_model(e, "html", lang="zh")
    assert html.count("<th>384</th>") >= 2 and "overflow-x: auto" in html
    assert "和模型本身对照" in html
    for fmt_name in ("markdown", "latex"):
        assert "W_O" in render_model(e, fmt_name, lang="en", columns="all")
    assert parse_columns("1-3,380-384", 384) == [0, 1, 2, 379, 380, 381, 382, 383]
    with pytest.raises(InputError, match=r"outside 1\.\.384"):
        parse_columns("380-390", 384)


def test_labels_are_escaped_in_html(tiny):
    e = explain_model(tiny["bert"], "the <cat> sat", 1, 1)
    assert "<" in e.tokens and ">" in e.tokens
    html = render_model(e, "html", lang="en")
    assert "<th><</th>" not in html and "<th>&lt;</th>" in html


def test_the_cli(tiny, capsys, tmp_path):
    args = ["explain", "--model", tiny["gpt2"], "--text", "the cat sat", "--lang", "en"]
    assert main([*args, "--layer", "3", "--head", "2", "--query", "2"]) == 0
    out = capsys.readouterr().out
    assert "layer 3, head 2" in out and "matches the model's attention to" in out
    assert main([*args, "--format", "json", "-o", str(tmp_path / "h.json")]) == 0
    assert json.loads((tmp_path / "h.json").read_text())["layer"] == 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--layer", "4"], "layer 4 is out of range 1..3"),
        (["--head", "5"], "head 5 is out of range 1..4"),
        (["--query", "9"], "query 9 is out of range 1..5"),
        (["--query", "dog"], "query 'dog' is neither a number"),
        (["--layer", "0"], "numbered from 1"),
        (["--x", "[[1]]"], "--x is for the hand calculation's own matrices"),
        (["--columns", "1-99"], "--columns '1-99' is outside 1..24"),
    ],
)
def test_bad_input_is_one_line(tiny, capsys, extra, message):
    code = main(["explain", "--model", tiny["bert"], "--text", "the cat sat", *extra])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_a_model_qkv_does_not_know_is_refused(capsys, tmp_path):
    assert main(["explain", "--model", str(tmp_path), "--text", "a"]) == 2
    assert "not minilm, a Hugging Face model folder" in capsys.readouterr().err
    assert main(["explain", "--text", "a"]) == 2
    assert "give --model too" in capsys.readouterr().err


def test_minilm_from_the_command_line(capsys):
    args = ["explain", "--model", "minilm", "--text", TEXT, "--layer", "1", "--head", "1"]
    assert main([*args, "--lang", "en"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"matches the model's attention to \d\.\de-0[6-9]", out)
    assert "Inside all-MiniLM-L6-v2: layer 1, head 1" in out
