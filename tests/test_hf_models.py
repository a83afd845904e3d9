"""Any local Hugging Face model: an encoder (BERT), a decoder (GPT-2) and an encoder–decoder
(T5), each tiny and randomly initialised here from a config, with a BertTokenizer built from a
small vocabulary file: nothing is downloaded. And qkv.hf.from_outputs for a notebook."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from qkv.cli.main import main  # noqa: E402
from qkv.errors import InputError  # noqa: E402
from qkv.hf import attention_maps, from_outputs, load  # noqa: E402
from qkv.maps import AttentionMaps  # noqa: E402

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat", "a", "dog"]
TEXT = "the cat sat on the mat"
TARGET = "a dog sat"


def _tokenizer(folder):
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    return transformers.BertTokenizer(str(vocab))


def _save(folder, model):
    folder.mkdir()
    tok = _tokenizer(folder)
    model.eval().save_pretrained(folder)
    tok.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf")
    torch.manual_seed(0)
    n = len(VOCAB)
    bert = transformers.BertModel(
        transformers.BertConfig(
            vocab_size=n,
            hidden_size=16,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=32,
            max_position_embeddings=32,
        )
    )
    gpt2 = transformers.GPT2Model(
        transformers.GPT2Config(vocab_size=n, n_embd=16, n_layer=2, n_head=2, n_positions=32)
    )
    t5 = transformers.T5Model(
        transformers.T5Config(
            vocab_size=n,
            d_model=16,
            d_kv=8,
            d_ff=32,
            num_layers=2,
            num_decoder_layers=2,
            num_heads=2,
            decoder_start_token_id=0,
            pad_token_id=0,
        )
    )
    return {
        "bert": _save(root / "bert", bert),
        "gpt2": _save(root / "gpt2", gpt2),
        "t5": _save(root / "t5", t5),
    }


def test_from_outputs_is_the_models_attentions(models):
    model, tok = load(models["bert"])
    enc = tok(["the cat sat", "a dog sat on the mat"], return_tensors="pt", padding=True)
    with torch.no_grad():
        out = model(**enc, output_attentions=True)
    tokens = tok.convert_ids_to_tokens(enc["input_ids"][1])
    maps = from_outputs(out.attentions, tokens, batch=1)
    assert maps.maps.shape == (2, 2, 8, 8) and maps.tokens[:3] == ["[CLS]", "a", "dog"]
    np.testing.assert_array_equal(maps.maps[1, 0], out.attentions[1][1, 0].numpy())
    np.testing.assert_allclose(maps.maps.sum(-1), 1.0, rtol=1e-5)
    # NumPy arrays work too, and the keys default to the tokens
    again = from_outputs(tuple(a.numpy() for a in out.attentions), tokens, batch=1)
    np.testing.assert_array_equal(again.maps, maps.maps)
    assert again.key_tokens == tokens and "key_tokens" not in again.meta
    # the whole output object works too
    whole = from_outputs(out, tokens, batch=1)
    np.testing.assert_array_equal(whole.maps, maps.maps)


def test_from_outputs_of_an_encoder_decoder_needs_the_kind(models):
    model, tok = load(models["t5"])
    enc, dec = tok(TEXT, return_tensors="pt"), tok(TARGET, return_tensors="pt")
    with torch.no_grad():
        out = model(**enc, decoder_input_ids=dec["input_ids"], output_attentions=True)
    with pytest.raises(InputError, match=r"pass outputs\.encoder_attentions"):
        from_outputs(out, ["x"])
    keys = tok.convert_ids_to_tokens(enc["input_ids"][0])
    queries = tok.convert_ids_to_tokens(dec["input_ids"][0])
    cross = from_outputs(out.cross_attentions, queries, keys)
    assert cross.maps.shape == (2, 2, 5, 8) and cross.key_tokens == keys
    np.testing.assert_array_equal(cross.maps[1, 1], out.cross_attentions[1][0, 1].numpy())


@pytest.mark.parametrize(
    "attentions, tokens, kw, message",
    [
        (None, ["a"], {}, "output_attentions=True"),
        ((None, None), ["a"], {}, "attn_implementation='eager'"),
        ((np.ones((1, 2, 3)),), ["a"], {}, "expected (batch, heads, queries, keys)"),
        ((np.ones((1, 2, 3, 3)) / 3,), ["a", "b"], {}, "2 tokens for attentions with 3 queries"),
        ((np.ones((1, 2, 2, 3)) / 3,), ["a", "b"], {}, "give key_tokens"),
        ((np.ones((1, 2, 2, 2)) / 2,), ["a", "b"], {"batch": 1}, "batch 1 is out of range"),
        (
            (np.ones((1, 2, 2, 2)) / 2, np.ones((1, 3, 2, 2)) / 2),
            ["a", "b"],
            {},
            "differ in shape",
        ),
    ],
)
def test_from_outputs_bad_input(attentions, tokens, kw, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        from_outputs(attentions, tokens, **kw)


def test_encoder_decoder_and_encoder_decoder_folders(models):
    bert = attention_maps(models["bert"], TEXT)
    assert bert.maps.shape == (2, 2, 8, 8) and bert.tokens[0] == "[CLS]" and "cat" in bert.tokens
    assert bert.meta["special"] == [0, 7]
    gpt2 = attention_maps(models["gpt2"], TEXT)
    w = gpt2.maps[0, 0]
    assert np.allclose(np.triu(w, 1), 0) and np.allclose(w.sum(-1), 1, rtol=1e-5)  # causal
    cross = attention_maps(models["t5"], TEXT, target=TARGET)  # default: cross-attention
    assert cross.meta["part"] == "cross"
    assert cross.maps.shape == (2, 2, 5, 8)  # decoder queries x encoder keys
    assert cross.tokens == ["[CLS]", "a", "dog", "sat", "[SEP]"]
    assert cross.key_tokens[:3] == ["[CLS]", "the", "cat"]
    enc = attention_maps(models["t5"], TEXT, target=TARGET, part="encoder")
    dec = attention_maps(models["t5"], TEXT, target=TARGET, part="decoder")
    assert enc.maps.shape == (2, 2, 8, 8) and dec.maps.shape == (2, 2, 5, 5)
    assert np.allclose(np.triu(dec.maps[1, 1], 1), 0)  # the decoder is causal


def test_cross_attention_maps_round_trip_with_their_key_tokens(models, tmp_path):
    cross = attention_maps(models["t5"], TEXT, target=TARGET)
    back = AttentionMaps.load(cross.save(tmp_path / "cross.npz"))
    assert back.key_tokens == cross.key_tokens and back.tokens == cross.tokens
    with pytest.raises(InputError, match="key_tokens"):
        AttentionMaps(cross.maps, cross.tokens, {"key_tokens": ["x"]})


def test_part_and_target_only_for_encoder_decoders(models):
    with pytest.raises(InputError, match="for encoder–decoder models"):
        attention_maps(models["bert"], TEXT, part="cross")
    with pytest.raises(InputError, match="part must be one of"):
        attention_maps(models["t5"], TEXT, part="both")


def test_cli_viz_model_folder(models, tmp_path, capsys):
    code = main(
        ["viz", "--model", models["gpt2"], "--text", TEXT, "--view", "summary", "--format", "json"]
    )
    out, _ = capsys.readouterr()
    assert code == 0 and len(json.loads(out)["heads"]) == 4
    page = tmp_path / "cross.html"
    code = main(
        [
            "viz",
            "--model",
            models["t5"],
            "--text",
            TEXT,
            "--target",
            TARGET,
            "--view",
            "head",
            "-o",
            str(page),
        ]
    )
    capsys.readouterr()
    html = page.read_text(encoding="utf-8")
    assert code == 0 and '"key_tokens": ["[CLS]", "the", "cat"' in html.replace("\\u005b", "[")
    pytest.importorskip("matplotlib")
    png = tmp_path / "enc.png"
    code = main(
        ["viz", "--model", models["t5"], "--text", TEXT, "--part", "encoder", "-o", str(png)]
    )
    capsys.readouterr()
    assert code == 0 and png.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--part", "cross", "--view", "summary"], "--target and --part are for --model"),
        (
            ["--model", "BERT", "--text", TEXT, "--part", "cross", "--view", "summary"],
            "encoder–decoder",
        ),
    ],
)
def test_cli_bad_model_options(models, capsys, args, message):
    args = [models["bert"] if a == "BERT" else a for a in args]
    code = main(["viz", *args])
    _, err = capsys.readouterr()
    assert code == 2 and message in err and err.count("\n") == 1
