"""A run folder's two checkpoints (the best and the last), --resume continuing the last one
exactly, the text and preset kept in them, evaluation sized to the device, sample without a
prompt, and the word said when validation rises after its best (issue 24)."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

torch = pytest.importorskip("torch")

from qkv.cli.main import main  # noqa: E402
from qkv.errors import InputError  # noqa: E402
from qkv.gpt import checkpoint  # noqa: E402
from qkv.gpt import train as training  # noqa: E402
from qkv.gpt.config import GPTConfig, TrainConfig, preset  # noqa: E402
from qkv.gpt.data import builtin_corpus  # noqa: E402

# small enough for a few seconds on a shared 2-core machine; dropout, so that torch's RNG
# state matters to resuming exactly
MODEL = GPTConfig(n_layer=1, n_head=2, n_embd=16, block_size=16, dropout=0.1)
TRAIN = TrainConfig(batch_size=4, steps=12, lr=3e-3, min_lr=3e-4, warmup=2, eval_interval=6)
TEXT = builtin_corpus(300)


def cli(capsys, *args):
    code = main(["gpt", *args])
    out, err = capsys.readouterr()
    return code, out, err


def losses_of(out, t, **kw):
    seen = []
    training.train(TEXT, MODEL, t, out, seed=3, on_progress=lambda p: seen.append(p), **kw)
    return seen


def test_resume_continues_the_last_state_exactly(tmp_path):
    """8 steps straight against a run interrupted at step 6 (Ctrl-C; its last evaluation
    at 4), then resumed to 8: the same loss at every step and the same parameters, bit for
    bit (steps 5 and 6 are trained again, the same way)."""
    t = replace(TRAIN, steps=8, eval_interval=4, eval_batches=1)
    straight = [p.loss for p in losses_of(tmp_path / "a", t)]
    seen: list[float] = []

    def stop(p):
        seen.append(p.loss)
        if p.step == 6:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        training.train(TEXT, MODEL, t, tmp_path / "b", seed=3, on_progress=stop)
    assert checkpoint.load(tmp_path / "b", "last")["step"] == 4
    again = [p.loss for p in losses_of(tmp_path / "b", t, resume=True)]
    assert again[:2] == seen[4:6]
    seen = seen[:4] + again
    assert seen == straight
    a = checkpoint.load(tmp_path / "a", "last")
    b = checkpoint.load(tmp_path / "b", "last")
    assert a["step"] == b["step"] == 8 and len(straight) == 8
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert torch.equal(a["rng"]["data"], b["rng"]["data"])


def fake_evaluations(monkeypatch, val):
    """evaluate() returning these validation losses in turn (train: 1.0). Seed 0: the
    validation batches are drawn with seed 2, the training ones with 1."""
    values = iter(val)
    monkeypatch.setattr(
        training, "evaluate", lambda m, d, t, seed, f=None: next(values) if seed == 2 else 1.0
    )


def test_last_and_best_are_kept_beside_each_other(tmp_path, monkeypatch):
    fake_evaluations(monkeypatch, [3.0, 2.0, 2.5, 3.0])  # evaluations at 3, 6, 9, 12
    t = replace(TRAIN, eval_interval=3, eval_batches=1)
    result = training.train(TEXT, MODEL, t, tmp_path, seed=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt", "last.pt", "log.csv"]
    assert checkpoint.load(tmp_path)["step"] == 6  # the best, what sample and probe load
    last = checkpoint.load(tmp_path / "last.pt")
    assert (last["step"], last["best_step"], last["best_val"]) == (12, 6, 2.0)
    assert (result["best_step"], result["step"], result["val_loss"]) == (6, 12, 3.0)
    # --resume continues the last state, not the best
    more = replace(t, steps=15)
    fake_evaluations(monkeypatch, [4.0])
    steps: list = []
    training.train(TEXT, MODEL, more, tmp_path, resume=True, on_progress=steps.append)
    assert [p.step for p in steps] == [13, 14, 15]
    assert checkpoint.load(tmp_path / "last.pt")["step"] == 15


@pytest.mark.parametrize("save,files", [("best", ["checkpoint.pt"]), ("last", ["last.pt"])])
def test_save_best_or_last(tmp_path, save, files):
    t = replace(TRAIN, steps=3, eval_interval=3, eval_batches=1)
    training.train(TEXT, MODEL, t, tmp_path, save=save)
    assert sorted(p.name for p in tmp_path.iterdir()) == [*files, "log.csv"]
    assert checkpoint.load(tmp_path)["step"] == 3  # a folder loads what it has
    with pytest.raises(InputError, match="--save must be one of"):
        training.train(TEXT, MODEL, t, tmp_path / "x", save="all")


def test_resume_takes_the_newer_of_the_two(tmp_path, monkeypatch):
    """A run resumed with --save best leaves last.pt behind: the next --resume continues
    the newer checkpoint.pt."""
    import os

    t = replace(TRAIN, steps=3, eval_interval=3, eval_batches=1)
    fake_evaluations(monkeypatch, [3.0, 2.0])
    training.train(TEXT, MODEL, t, tmp_path)
    training.train(TEXT, MODEL, replace(t, steps=6), tmp_path, resume=True, save="best")
    last = tmp_path / "last.pt"
    os.utime(last, ns=(0, 0))  # whatever the file system's clock resolution
    assert training.resume_path(tmp_path / "checkpoint.pt").name == "checkpoint.pt"
    fake_evaluations(monkeypatch, [1.0])
    steps: list = []
    training.train(
        TEXT, MODEL, replace(t, steps=7), tmp_path, resume=True, on_progress=steps.append
    )
    assert [p.step for p in steps] == [7]


def test_an_older_folder_resumes_from_its_only_checkpoint(tmp_path):
    """A folder of an earlier qkv: checkpoint.pt without RNG states, preset or text."""
    t = replace(TRAIN, steps=3, eval_interval=3, eval_batches=1)
    training.train(TEXT, MODEL, t, tmp_path, save="best")
    state = checkpoint.load(tmp_path)
    for key in ("rng", "best_step", "preset", "text"):
        state.pop(key, None)
    torch.save(state, tmp_path / "checkpoint.pt")
    steps: list = []
    training.train(
        TEXT, MODEL, replace(t, steps=5), tmp_path, resume=True, on_progress=steps.append
    )
    assert [p.step for p in steps] == [4, 5]
    assert checkpoint.load(tmp_path / "last.pt")["step"] == 5


def test_damaged_rng_states_are_one_line(tmp_path):
    t = replace(TRAIN, steps=3, eval_interval=3, eval_batches=1)
    training.train(TEXT, MODEL, t, tmp_path, save="last")
    state = checkpoint.load(tmp_path)
    state["rng"]["torch"] = torch.zeros(3, dtype=torch.uint8)
    torch.save(state, tmp_path / "last.pt")
    with pytest.raises(InputError, match="RNG states are not torch's"):
        training.train(TEXT, MODEL, replace(t, steps=5), tmp_path, resume=True)
    state["rng"] = {"torch": "no"}
    torch.save(state, tmp_path / "last.pt")
    with pytest.raises(InputError, match="rng must hold"):
        checkpoint.load(tmp_path)


SMALL = ["--n-layer", "1", "--n-embd", "16", "--n-head", "2", "--block-size", "16"]


def test_cli_resume_names_the_preset_and_finds_the_text(tmp_path, capsys):
    """The README's case: a baby run on a text, resumed with neither --preset nor --text."""
    text = tmp_path / "t.txt"
    text.write_text(TEXT, encoding="utf-8")
    out = str(tmp_path / "run")
    first = ["train", "--text", str(text), "--preset", "baby", "--out", out, "--steps", "4"]
    code, printed, _ = cli(capsys, *first, *SMALL, "--batch-size", "4", "--eval-interval", "2")
    assert code == 0 and printed.startswith(f"training baby on {text}")
    assert "last state, step 4 (val loss" in printed and "last.pt" in printed
    code, printed, _ = cli(capsys, "train", "--resume", "--out", out, "--steps", "6")
    header = printed.splitlines()[0]
    assert code == 0 and header.startswith(f"training baby on {text} ")
    assert re.search(r"resuming \S+last\.pt at step 4$", header)
    assert checkpoint.load(tmp_path / "run" / "last.pt")["step"] == 6
    code, _, err = cli(capsys, "train", "--resume", "--out", out, "--preset", "tiny")
    assert code == 2 and "is baby; a resumed run keeps its preset" in err
    text.write_text(TEXT + "我", encoding="utf-8")
    code, _, err = cli(capsys, "train", "--resume", "--out", out, "--steps", "8")
    assert code == 2 and "has changed since the run was trained on it" in err
    assert len(err.strip().splitlines()) == 1
    text.unlink()
    code, _, err = cli(capsys, "train", "--resume", "--out", out, "--steps", "8")
    assert code == 2 and "which is not there now; name the text with --text" in err


def test_evaluation_is_sized_to_the_device():
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    _, shakespeare = preset("shakespeare-char")
    assert shakespeare.eval_batches == 200  # nanoGPT's, kept on a GPU
    assert training.sized_eval(shakespeare, gpu).eval_batches == 200
    assert training.sized_eval(shakespeare, cpu).eval_batches == 75  # 0.3 × 250 steps
    assert training.sized_eval(replace(shakespeare, steps=10), cpu).eval_batches == 3
    assert training.sized_eval(shakespeare, cpu, start=4990).eval_batches == 3  # resumed
    _, tiny = preset("tiny")
    assert training.sized_eval(tiny, cpu) == tiny  # small presets keep theirs


def test_cli_eval_iters_and_the_header_before_the_first_step(tmp_path, capsys, monkeypatch):
    seen = []
    real = training.evaluate

    def counting(model, data, t, seed, forward=None):
        seen.append(t.eval_batches)
        return real(model, data, t, seed, forward)

    monkeypatch.setattr(training, "evaluate", counting)
    out = str(tmp_path / "r")
    args = ["train", "--out", out, "--steps", "2", "--eval-iters", "1", *SMALL]
    code, printed, _ = cli(capsys, *args)
    assert code == 0 and seen == [1, 1]
    assert "evaluating 1 batch of train and val every 100 steps" in printed.splitlines()[0]
    with pytest.raises(SystemExit) as stopped:
        main(["gpt", "train", "--out", out + "2", "--eval-iters", "0"])
    assert (
        stopped.value.code == 2 and "--eval-iters: 0 is not at least 1" in capsys.readouterr().err
    )


def test_header_is_printed_before_the_first_step(tmp_path, capsys, monkeypatch):
    """At once when training starts (a first step may take half a minute on a CPU), and not
    at all for a refused run."""
    real = training._step
    printed = []

    def first(*a, **k):
        printed.append(capsys.readouterr().out)
        return real(*a, **k)

    monkeypatch.setattr(training, "_step", first)
    out = str(tmp_path / "r")
    assert main(["gpt", "train", "--out", out, "--steps", "1", "--eval-iters", "1", *SMALL]) == 0
    assert printed[0].startswith("training tiny on the built-in corpus")
    assert "evaluating 1 batch of train and val" in printed[0]
    capsys.readouterr()
    assert main(["gpt", "train", "--out", out, "--steps", "1", *SMALL]) == 2
    out_text, err = capsys.readouterr()
    assert out_text == "" and "exists; use --resume" in err


def test_overfitting_is_said_in_one_line(tmp_path):
    from pathlib import Path

    from qkv.cli.gpt import closing

    result = {"best_val": 3.73, "best_step": 250, "step": 2000, "val_loss": 5.99}
    lines = closing(result, Path("runs/mill"), "both")
    assert lines[-1] == (
        "val loss rose from 3.73 at step 250 to 5.99 at step 2000 (overfitting: fewer steps "
        "or a larger text); checkpoint.pt keeps step 250"
    )
    steady = {"best_val": 1.50, "best_step": 1900, "step": 2000, "val_loss": 1.51}
    assert not any("rose" in ln for ln in closing(steady, Path("r"), "both"))


def test_sample_without_a_prompt_and_from_the_last_state(tmp_path, capsys):
    out = tmp_path / "r"
    t = replace(TRAIN, steps=2, eval_interval=2, eval_batches=1)
    training.train(TEXT, MODEL, t, out)  # the built-in corpus has no newline
    code, printed, _ = cli(capsys, "sample", "--checkpoint", str(out), "--max-new-tokens", "5")
    first = checkpoint.restore(checkpoint.load(out))[1].chars[0]
    assert code == 0 and printed.startswith(first) and len(printed.rstrip("\n")) == 6
    lines = TEXT.replace("。", "。\n")
    training.train(lines, MODEL, t, tmp_path / "n")
    code, printed, _ = cli(capsys, "sample", "--checkpoint", str(tmp_path / "n" / "last.pt"))
    assert code == 0 and printed.startswith("\n")


def test_baby_preset_and_readme_agree_on_biases():
    from pathlib import Path

    readme = Path(__file__).parent.parent.joinpath("README.md").read_text(encoding="utf-8")
    baby_lines = [ln for ln in readme.splitlines() if "`baby` (4 layers" in ln]
    assert baby_lines
    model_config, _ = preset("baby")
    for line in baby_lines:
        assert ("no biases" in line) == (not model_config.bias), line
        assert ("with biases" in line) == model_config.bias, line


def readme_example():
    """The README's own-text training command, and the steps it asks for."""
    from pathlib import Path

    readme = Path(__file__).parent.parent.joinpath("README.md").read_text(encoding="utf-8")
    line = next(ln for ln in readme.splitlines() if "gpt train --text examples/input.txt" in ln)
    args = line.split("#")[0].split()[1:]
    return args, int(args[args.index("--steps") + 1]), readme


def test_readme_example_says_what_to_expect():
    args, steps, readme = readme_example()
    assert args[:3] == ["gpt", "train", "--text"] and "--preset" in args
    assert f"`baby` learns\nit in {steps} steps" in readme  # the expectation, at its steps


@pytest.mark.slow
def test_readme_example_does_not_overfit_in_its_steps(tmp_path, capsys, monkeypatch, request):
    """The README's command, evaluated every 10 steps: the best is the last (3 to 35 s on
    the shared 2-core machine: only with -m slow)."""
    from pathlib import Path

    if "slow" not in (request.config.option.markexpr or ""):
        pytest.skip("trains baby for the README's steps; run with -m slow")
    args, steps, _ = readme_example()
    monkeypatch.chdir(Path(__file__).parent.parent)
    out = args.index("--out") + 1
    args[out] = str(tmp_path / "mill")
    assert main([*args, "--eval-interval", "10"]) == 0
    printed = capsys.readouterr().out
    assert "rose" not in printed
    assert checkpoint.load(tmp_path / "mill")["step"] == steps


def test_the_page_counts_a_run_finished_by_its_last_state(tmp_path, monkeypatch):
    """qkv serve trains the tiny GPT when its run is unfinished: the last state's step says
    so, not the best's (an earlier step when validation rose at the end)."""
    pytest.importorskip("fastapi")
    from qkv.serve.models import GPTHolder, GPTSource

    fake_evaluations(monkeypatch, [2.0, 3.0])  # the best at step 6, the last at 12
    training.train(TEXT, MODEL, TRAIN, tmp_path, seed=0)
    assert checkpoint.load(tmp_path)["step"] == 6
    holder = GPTHolder(GPTSource(tmp_path / "checkpoint.pt", train_steps=12, trains=True))
    assert not holder._unfinished()
    holder = GPTHolder(GPTSource(tmp_path / "checkpoint.pt", train_steps=13, trains=True))
    assert holder._unfinished()
