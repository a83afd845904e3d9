"""What `qkv gpt train` prints: plain lines when stdout is not a terminal, a bar that starts
with real numbers on one, honest speed (ms a step and tokens ÷ the time in steps, evaluations
left out; MFU only where the device's peak is known) and the total time."""

from __future__ import annotations

import io
import itertools
import re

import pytest
from rich.console import Console

from qkv.cli.progress import TrainDisplay, duration

torch = pytest.importorskip("torch")

from qkv.gpt.train import Progress  # noqa: E402


def reports(total: int, eval_every: int, tokens: int = 1000) -> list[Progress]:
    out = []
    for step in range(1, total + 1):
        p = Progress(step, total, 3.0 - step / total, 0.0, tokens=step * tokens)
        p.elapsed = step * 0.5  # 0.4 s a step, 0.1 s of evaluations
        p.tokens_per_s = p.tokens / (step * 0.4)
        p.ms_per_step = 400.0
        if step % eval_every == 0:
            p.train_loss, p.val_loss, p.saved = 2.0, 2.1, True
        out.append(p)
    return out


def test_plain_lines_before_the_first_evaluation_when_not_a_terminal():
    buf = io.StringIO()
    display = TrainDisplay("training tiny", 400, console=Console(file=buf, width=80))
    for p in reports(400, 100):
        display(p)
    display.close()
    lines = buf.getvalue().splitlines()
    assert lines[0] == "training tiny"
    first_eval = next(i for i, ln in enumerate(lines) if ln.startswith("step 100: train loss"))
    before = [ln for ln in lines[:first_eval] if re.match(r"step \d+/400  loss", ln)]
    assert [int(ln.split()[1].split("/")[0]) for ln in before] == [1, 20, 40, 60, 80, 100]
    assert "400 ms/step  2,500 tok/s" in before[-1]  # 100,000 tokens in 40 s of steps
    assert "MFU" not in buf.getvalue()  # no peak known: no MFU
    assert display.summary() == (
        "trained to step 400 in 3 min 20 s: 400,000 tokens, 2,500 tokens/s and 400 ms a "
        "step on average; evaluations and checkpoints 40.0 s"
    )
    assert "nan" not in buf.getvalue()


def test_a_plain_line_every_few_seconds_on_a_slow_run():
    now = [0.0]
    buf = io.StringIO()
    display = TrainDisplay("h", 10_000, console=Console(file=buf), clock=lambda: now[0])
    for p in reports(30, 10_000):
        now[0] += 4.0  # a slow machine: 4 s a step, far from 1/20 of the run
        display(p)
    steps = [int(m) for m in re.findall(r"^step (\d+)/", buf.getvalue(), re.M)]
    assert steps[:4] == [1, 4, 7, 10]  # every 10 s or so


def test_the_bar_never_starts_at_step_0_with_loss_nan():
    """A resumed run (or any run) draws its first report's numbers, not a placeholder."""
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=100, color_system=None)
    display = TrainDisplay("training tiny", 400, console=console)
    first = reports(400, 100)[200:260]  # resumed at step 200
    for p in first:
        display(p)
    display.close()
    out = buf.getvalue()
    assert "nan" not in out and "step 0/" not in out
    assert "step 201/400" in out and "step 260/400" in out


def test_duration():
    assert [duration(s) for s in (4.24, 192, 3725)] == ["4.2 s", "3 min 12 s", "1 h 02 min"]


def test_train_reports_speed_without_evaluations(tmp_path, monkeypatch):
    """Evaluations made slow (0.5 s each): tokens/s and ms/step leave them out."""
    import time

    from qkv.gpt import train as training
    from qkv.gpt.config import GPTConfig, TrainConfig
    from qkv.gpt.data import builtin_corpus

    real = training.evaluate

    def slow(*a, **k):
        time.sleep(0.25)
        return real(*a, **k)

    monkeypatch.setattr(training, "evaluate", slow)
    model_config = GPTConfig(n_layer=1, n_head=2, n_embd=16, block_size=16)
    short = TrainConfig(batch_size=4, steps=4, eval_interval=2, eval_batches=1, warmup=1)
    seen: list[Progress] = []
    training.train(builtin_corpus(300), model_config, short, tmp_path, on_progress=seen.append)
    batch = short.batch_size * model_config.block_size
    assert [p.tokens for p in seen] == [batch * s for s in (1, 2, 3, 4)]
    last = seen[-1]
    stepping = last.ms_per_step * 4 / 1000
    assert 0 < stepping < last.elapsed - 0.9  # four evaluations of 0.25 s, not counted
    assert last.tokens_per_s == pytest.approx(last.tokens / stepping)
    assert last.mfu is None  # the CPU's peak is not known
    assert all(a.elapsed < b.elapsed for a, b in itertools.pairwise(seen))


def test_mfu_where_the_peak_is_known():
    from qkv.gpt.config import GPTConfig
    from qkv.gpt.model import GPT
    from qkv.gpt.train import PEAKS, flops_per_token, peak_flops

    assert peak_flops(torch.device("cpu")) is None
    assert dict(PEAKS)["A100"] == 312e12  # nanoGPT's figure for bfloat16
    model = GPT(GPTConfig(vocab_size=10, n_layer=2, n_head=2, n_embd=16, block_size=8))
    params = sum(p.numel() for p in model.parameters()) - 8 * 16
    assert flops_per_token(model) == 6 * params + 12 * 2 * 16 * 8


def test_cli_prints_progress_and_total_time_when_piped(tmp_path, capsys):
    from qkv.cli.main import main

    out = tmp_path / "run"
    assert main(["gpt", "train", "--steps", "3", "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("training tiny")
    assert re.match(r"step 1/3  loss [\d.]+  [\d.,]+ ms/step  [\d,]+ tok/s  ", lines[1])
    assert any(
        re.match(r"trained to step 3 in [\d.]+ s: [\d,]+ tokens, [\d,]+ tokens/s", ln)
        for ln in lines
    )
