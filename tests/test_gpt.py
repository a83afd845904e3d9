"""The tiny GPT: data, model, KV cache, training, checkpoints, probe, CLI."""

import json
from dataclasses import replace

import pytest

torch = pytest.importorskip("torch")

from qkv.cli.main import main  # noqa: E402
from qkv.errors import InputError  # noqa: E402
from qkv.gpt import checkpoint  # noqa: E402
from qkv.gpt.config import GPTConfig, preset  # noqa: E402
from qkv.gpt.data import CharTokenizer, builtin_corpus  # noqa: E402
from qkv.gpt.generate import attention_maps, generate, word_probability  # noqa: E402
from qkv.gpt.model import GPT  # noqa: E402
from qkv.gpt.train import train  # noqa: E402
from qkv.maps import AttentionMaps  # noqa: E402


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The default training (tiny preset, built-in corpus, seed 0), once for this module."""
    out = tmp_path_factory.mktemp("gpt")
    model_config, train_config = preset("tiny")
    result = train(builtin_corpus(), model_config, train_config, out, seed=0)
    model, tok = checkpoint.restore(checkpoint.load(out))
    return out, model, tok, result


def test_corpus_is_deterministic_and_never_eats_bricks():
    text = builtin_corpus()
    assert text == builtin_corpus() and len(text) > 40_000
    assert "吃砖" not in text and "砖头" in text and "我爱吃苹果" in text


def test_tokenizer_round_trip_and_unknown_characters():
    tok = CharTokenizer.from_text("我爱吃苹果。")
    assert tok.decode(tok.encode("苹果我爱吃")) == "苹果我爱吃"
    with pytest.raises(InputError, match=r"never saw: '砖' \(U\+7816\), '头' \(U\+5934\)"):
        tok.encode("砖头", "the prompt")


def test_model_shapes_and_tied_embeddings():
    model = GPT(GPTConfig(vocab_size=11, n_layer=2, n_head=2, n_embd=16, block_size=8))
    idx = torch.randint(0, 11, (3, 8))
    logits, loss, weights = model(idx, idx, need_weights=True)
    assert logits.shape == (3, 8, 11) and loss.ndim == 0
    assert len(weights) == 2 and weights[0].shape == (3, 2, 8, 8)
    assert torch.allclose(weights[0].sum(-1), torch.ones(3, 2, 8))
    assert torch.equal(weights[0][0, 0].triu(1), torch.zeros(8, 8))  # causal
    assert model.lm_head.weight is model.wte.weight
    with pytest.raises(ValueError, match="exceed the context"):
        model(torch.zeros(1, 9, dtype=torch.long))


def test_apple_is_far_more_likely_than_brick(trained):
    _, model, tok, result = trained
    apple = word_probability(model, tok, "我爱吃", "苹果")
    brick = word_probability(model, tok, "我爱吃", "砖头")
    assert apple >= 100 * brick
    assert result["val_loss"] < 1.3  # it learned the corpus, not just this pair


def test_cached_and_uncached_greedy_are_identical(trained):
    _, model, tok, _ = trained
    prompt = tok.encode("我爱")
    cached = generate(model, prompt, 100, temperature=0, use_cache=True)
    plain = generate(model, prompt, 100, temperature=0, use_cache=False)
    assert cached == plain and len(cached) == 102  # 100 > context 32: the window restarts
    assert tok.decode(cached).count("。") >= 5  # sentences, not noise


def test_sampling_is_seeded_and_respects_top_k(trained):
    _, model, tok, _ = trained
    prompt = tok.encode("他想")
    a = generate(model, prompt, 30, temperature=1.0, top_k=3, seed=5)
    b = generate(model, prompt, 30, temperature=1.0, top_k=3, seed=5)
    assert a == b
    c = generate(model, prompt, 30, temperature=1.0, top_p=0.5, seed=5)
    assert len(c) == 32


def test_attention_maps_round_trip(trained, tmp_path):
    _, model, tok, _ = trained
    maps = attention_maps(model, tok, "我爱吃苹果")
    assert maps.maps.shape == (2, 4, 5, 5) and maps.tokens == list("我爱吃苹果")
    path = maps.save(tmp_path / "m.npz")
    back = AttentionMaps.load(path)
    assert back.tokens == maps.tokens and (back.maps == maps.maps).all()
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="not a readable"):
        AttentionMaps.load(tmp_path / "bad.npz")


def test_resume_and_refusing_to_overwrite(tmp_path):
    model_config, train_config = preset("tiny")
    short = replace(train_config, steps=20, eval_interval=10, eval_batches=2)
    text = builtin_corpus(800)
    train(text, model_config, short, tmp_path, seed=1)
    assert checkpoint.load(tmp_path)["step"] == 20
    with pytest.raises(InputError, match="exists; use --resume"):
        train(text, model_config, short, tmp_path)
    train(text, model_config, replace(short, steps=30), tmp_path, resume=True)
    assert checkpoint.load(tmp_path)["step"] == 30


def test_interrupt_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    model_config, train_config = preset("tiny")
    short = replace(train_config, steps=40, eval_interval=10, eval_batches=2)

    def stop(p):
        if p.step == 25:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(builtin_corpus(800), model_config, short, tmp_path, on_progress=stop)
    state = checkpoint.load(tmp_path)
    assert state["step"] in (10, 20)
    # an interrupted save leaves the previous file and no temporary files
    real_save = torch.save

    def broken_save(obj, f):
        real_save(obj, f)
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", broken_save)
    model, tok = checkpoint.restore(state)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save(tmp_path / "checkpoint.pt", model, None, 99, 0.0, short, tok)
    assert checkpoint.load(tmp_path)["step"] == state["step"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt", "last.pt", "log.csv"]


def test_foreign_and_damaged_checkpoints(tmp_path):
    (tmp_path / "checkpoint.pt").write_bytes(b"garbage")
    with pytest.raises(InputError, match="not a readable checkpoint"):
        checkpoint.load(tmp_path)
    torch.save({"format": "other/9"}, tmp_path / "checkpoint.pt")
    with pytest.raises(InputError, match="format 'other/9'"):
        checkpoint.load(tmp_path)
    with pytest.raises(InputError, match="no checkpoint"):
        checkpoint.load(tmp_path / "nowhere")


def cli(capsys, *args):
    code = main(["gpt", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_probe_sample_attention(trained, capsys, tmp_path):
    out_dir = str(trained[0])
    code, out, _ = cli(
        capsys,
        "probe",
        "--checkpoint",
        out_dir,
        "--prompt",
        "我爱吃",
        "--candidates",
        "苹果,砖头",
        "--format",
        "json",
    )
    data = json.loads(out)
    assert code == 0 and data["schema"] == "qkv.probe/1"
    p = {c["word"]: c["probability"] for c in data["candidates"]}
    assert p["苹果"] >= 100 * p["砖头"]
    assert len(data["next"]) == 10
    code, out, _ = cli(
        capsys,
        "sample",
        "--checkpoint",
        out_dir,
        "--prompt",
        "我爱",
        "--max-new-tokens",
        "20",
        "--temperature",
        "0",
    )
    assert code == 0 and out.startswith("我爱") and len(out.strip()) == 22
    target = tmp_path / "a.npz"
    code, out, _ = cli(
        capsys, "attention", "--checkpoint", out_dir, "--prompt", "我爱吃", "-o", str(target)
    )
    assert code == 0 and AttentionMaps.load(target).maps.shape == (2, 4, 3, 3)


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--steps", "0"], "--steps must be at least 1"),
        (["train", "--preset", "huge"], "unknown preset 'huge'"),
        (["probe", "--checkpoint", "CKPT", "--prompt", "我爱吃榴莲"], "never saw: '榴'"),
        (["sample", "--checkpoint", "CKPT", "--prompt", ""], "--prompt is empty"),
        (["sample", "--checkpoint", "/nonexistent", "--prompt", "我"], "no checkpoint"),
    ],
)
def test_cli_bad_input(trained, capsys, tmp_path, args, message):
    args = [str(trained[0]) if a == "CKPT" else a for a in args]
    code, _, err = cli(
        capsys, *args, *(["--out", str(tmp_path / "o")] if args[0] == "train" else [])
    )
    assert code == 2 and message in err and err.count("\n") == 1


def test_cli_bad_corpus(capsys, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    code, _, err = cli(capsys, "train", "--text", str(empty), "--out", str(tmp_path / "o"))
    assert code == 2 and "empty" in err
    binary = tmp_path / "bin.txt"
    binary.write_bytes(bytes(range(256)))
    code, _, err = cli(capsys, "train", "--text", str(binary), "--out", str(tmp_path / "o"))
    assert code == 2 and "binary" in err
    short = tmp_path / "short.txt"
    short.write_text("abc" * 20)
    code, _, err = cli(capsys, "train", "--text", str(short), "--out", str(tmp_path / "o"))
    assert code == 2 and "too short" in err
    assert not (tmp_path / "o" / "checkpoint.pt").exists()
