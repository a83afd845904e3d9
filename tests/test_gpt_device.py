"""qkv gpt's device and training options on the CPU: --device, nanoGPT's option names over the
presets, the shakespeare-char preset, and the compiled forward's checkpoint."""

import functools
from contextlib import nullcontext

import pytest

torch = pytest.importorskip("torch")

from qkv.cli.main import main  # noqa: E402
from qkv.errors import InputError  # noqa: E402
from qkv.gpt import checkpoint, device  # noqa: E402
from qkv.gpt import train as training  # noqa: E402
from qkv.gpt.config import GPTConfig, TrainConfig, preset  # noqa: E402
from qkv.gpt.data import builtin_corpus  # noqa: E402
from qkv.gpt.generate import generate  # noqa: E402

SMALL = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "16"]


def cli(capsys, *args):
    code = main(["gpt", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_device_resolution(monkeypatch):
    assert device.resolve("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert device.resolve("auto") == torch.device("cpu")
    with pytest.raises(InputError, match=r"--device cuda: .* sees no CUDA GPU"):
        device.resolve("cuda")
    assert isinstance(device.autocast(torch.device("cpu")), nullcontext)  # float32 there


@pytest.mark.parametrize("verb", ["train", "sample", "probe", "attention"])
def test_device_cuda_without_cuda_is_one_line_and_exit_2(verb, capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    extra = ["--out", tmp_path / "o"] if verb == "train" else ["--prompt", "我"]
    code, out, err = cli(capsys, verb, "--device", "cuda", *extra)
    assert code == 2 and "sees no CUDA GPU" in err and err.count("\n") == 1 and out == ""
    assert not (tmp_path / "o").exists()


def test_options_override_the_preset_and_reach_the_checkpoint(capsys, tmp_path):
    out = tmp_path / "run"
    code, _, err = cli(
        capsys,
        "train",
        "--device",
        "cpu",
        *SMALL,
        "--batch-size",
        "4",
        "--max-iters",
        "3",
        "--eval-interval",
        "3",
        "--lr",
        "0.002",
        "--dropout",
        "0.1",
        "--out",
        out,
    )
    assert code == 0, err
    state = checkpoint.load(out)
    c, t = state["config"], state["train"]
    assert (c["n_layer"], c["n_head"], c["n_embd"], c["block_size"]) == (1, 2, 16, 16)
    assert c["dropout"] == 0.1 and c["bias"] is True  # the rest from preset tiny
    assert (t["batch_size"], t["steps"], t["eval_interval"]) == (4, 3, 3)
    assert t["lr"] == 0.002 and t["min_lr"] == pytest.approx(0.0002)
    assert state["step"] == 3
    # --resume keeps the checkpoint's settings: changing one is refused, --steps is not
    code, _, err = cli(capsys, "train", "--resume", "--out", out, "--lr", "0.1")
    assert code == 2 and "--lr: a resumed run keeps its checkpoint's settings" in err
    code, _, err = cli(capsys, "train", "--resume", "--out", out, "--steps", "4")
    assert code == 0, err
    assert checkpoint.load(out)["step"] == 4


@pytest.mark.parametrize(
    "args, message",
    [
        (["--n-embd", "10", "--n-head", "4"], "n_embd 10 is not a multiple of n_head"),
        (["--n-layer", "65"], "n_layer must be a whole number >= 1 and at most 64"),
        (["--block-size", "5000"], "block_size must be a whole number >= 1 and at most 1,024"),
        (["--dropout", "1"], "is not in [0, 1)"),
        (["--lr", "0"], "is not greater than 0"),
        (["--lr", "nan"], "is not a finite number"),
        (["--batch-size", "0"], "is not at least 1"),
        (["--max-iters", "0"], "--steps must be at least 1"),
        (["--device", "tpu"], "invalid choice: 'tpu'"),
    ],
)
def test_bad_options_are_refused_before_training(capsys, tmp_path, args, message):
    try:
        code, _, err = cli(capsys, "train", *args, "--out", tmp_path / "o")
    except SystemExit as e:  # argparse's own refusal (a bad number, an unknown choice)
        code, err = e.code, capsys.readouterr().err
    assert code == 2 and message in err
    assert not (tmp_path / "o").exists()


def test_shakespeare_char_is_nanogpts_configuration():
    model, t = preset("shakespeare-char")
    assert model == GPTConfig(
        n_layer=6, n_head=6, n_embd=384, block_size=256, dropout=0.2, bias=False
    )
    assert (t.batch_size, t.steps, t.lr, t.min_lr, t.warmup) == (64, 5000, 1e-3, 1e-4, 100)
    assert (t.eval_interval, t.eval_batches) == (250, 200)


def test_compiled_training_saves_the_plain_models_names(tmp_path, monkeypatch):
    """--compile trains through torch.compile's module; the checkpoint holds the model's own
    parameter names and loads into a plain GPT (the eager backend: no C++ compiling here)."""
    eager = functools.partial(torch.compile, backend="eager")
    monkeypatch.setattr(training.torch, "compile", eager)
    model_config = GPTConfig(n_layer=1, n_head=2, n_embd=16, block_size=16)
    t = TrainConfig(batch_size=4, steps=2, eval_interval=2, eval_batches=2)
    result = training.train(builtin_corpus(800), model_config, t, tmp_path, compile=True)
    state = checkpoint.load(tmp_path)
    assert not any("_orig_mod" in k for k in state["model"]) and state["step"] == 2
    model, tok = checkpoint.restore(state)
    assert result["val_loss"] == pytest.approx(result["best_val"])
    assert len(generate(model, tok.encode("我"), 5, temperature=0)) == 6


def test_nproc_passes_the_device_and_the_options_to_its_processes(capsys, tmp_path, monkeypatch):
    """--nproc N starts N processes that each run the command: with the same settings."""
    from qkv.gpt import launch

    seen = {}

    def local(nproc, argv, text, source):
        seen["nproc"], seen["argv"] = nproc, argv
        return 0

    monkeypatch.setattr(launch, "local", local)
    args = [*SMALL, "--lr", "0.002", "--dropout", "0.1", "--batch-size", "4", "--compile"]
    code, _, err = cli(capsys, "train", "--nproc", "2", "--device", "cpu", *args, "--out", tmp_path)
    assert code == 0, err
    argv = seen["argv"]
    assert seen["nproc"] == 2 and argv[:2] == ["gpt", "train"] and "--nproc" not in argv

    def given(flag):
        return argv[argv.index(flag) + 1]

    assert given("--device") == "cpu" and "--compile" in argv
    assert (given("--n-layer"), given("--n-embd"), given("--block-size")) == ("1", "16", "16")
    assert float(given("--lr")) == 0.002 and float(given("--dropout")) == 0.1
    assert given("--batch-size") == "4" and given("--out") == str(tmp_path)
