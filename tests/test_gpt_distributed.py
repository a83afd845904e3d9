"""Data-parallel GPT training on gloo processes: the same steps as one process, the same loss
curve, checkpoints that resume on any number of processes, and no hang when a rank dies."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace

import pytest

torch = pytest.importorskip("torch")

from qkv.cli.main import main  # noqa: E402
from qkv.gpt import checkpoint  # noqa: E402
from qkv.gpt.config import GPTConfig, TrainConfig  # noqa: E402
from qkv.gpt.data import builtin_corpus  # noqa: E402
from qkv.gpt.train import train  # noqa: E402
from tests.ranks import run_ranks  # noqa: E402

MODEL = GPTConfig(n_layer=2, n_head=2, n_embd=32, block_size=16)
TRAIN = TrainConfig(
    batch_size=8, steps=50, lr=3e-3, min_lr=3e-4, warmup=5, eval_interval=10, eval_batches=2
)
TEXT = builtin_corpus(600)


def fit(rank, world, out, steps, resume=False, grad_accum=1, die_at=None):
    """Train in this process (one rank of world, or alone); the loss of every step."""
    losses = []

    def seen(p):
        losses.append(p.loss)
        if die_at is not None and rank == world - 1 and p.step == die_at:
            os._exit(9)

    t = replace(TRAIN, steps=steps)
    train(TEXT, MODEL, t, out, seed=3, resume=resume, grad_accum=grad_accum, on_progress=seen)
    return losses


def weights(out):
    return checkpoint.load(out)["model"]


def largest_difference(a, b):
    return max(float((a[k] - b[k]).abs().max()) for k in a)


def test_one_step_on_two_processes_equals_one_process(tmp_path):
    run_ranks(fit, 2, tmp_path / "two", 1)
    fit(0, 1, tmp_path / "one", 1)
    assert largest_difference(weights(tmp_path / "two"), weights(tmp_path / "one")) < 1e-7


def test_the_loss_curve_does_not_depend_on_the_processes(tmp_path):
    """50 seeded steps: 2 processes and 1 process with the same global batch."""
    two = run_ranks(fit, 2, tmp_path / "two", 50)
    one = fit(0, 1, tmp_path / "one", 50)
    assert two[0] == two[1]  # every rank reports the global batch's loss
    assert len(one) == 50 and one[-1] < one[0] - 1  # it learned something
    assert max(abs(a - b) for a, b in zip(one, two[0], strict=True)) < 1e-4
    assert largest_difference(weights(tmp_path / "two"), weights(tmp_path / "one")) < 1e-4


def test_gradient_accumulation_keeps_the_global_batch(tmp_path):
    whole = fit(0, 1, tmp_path / "whole", 3)
    parts = fit(0, 1, tmp_path / "parts", 3, grad_accum=4)
    assert max(abs(a - b) for a, b in zip(whole, parts, strict=True)) < 1e-5
    assert largest_difference(weights(tmp_path / "whole"), weights(tmp_path / "parts")) < 1e-6


def test_checkpoints_resume_on_any_number_of_processes(tmp_path):
    """A checkpoint of 2 processes continues on 1 and on 2 alike, and back again."""
    run_ranks(fit, 2, tmp_path / "a", 20)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    fit(0, 1, tmp_path / "a", 30, resume=True)  # 2 -> 1
    run_ranks(fit, 2, tmp_path / "b", 30, True)  # 2 -> 2
    assert checkpoint.load(tmp_path / "a")["step"] == 30
    assert largest_difference(weights(tmp_path / "a"), weights(tmp_path / "b")) < 1e-5
    run_ranks(fit, 2, tmp_path / "a", 40, True)  # 1 -> 2
    fit(0, 1, tmp_path / "b", 40, resume=True)  # 2 -> 1
    assert checkpoint.load(tmp_path / "a")["step"] == 40
    assert largest_difference(weights(tmp_path / "a"), weights(tmp_path / "b")) < 1e-5


def timed_fit(rank, world, out):
    t0 = time.monotonic()
    try:
        fit(rank, world, out, 50, die_at=3)
    except Exception as e:
        return ("raised", type(e).__name__, time.monotonic() - t0)
    return ("finished", "", time.monotonic() - t0)


def test_a_killed_rank_stops_the_training_with_an_error(tmp_path):
    first, last = run_ranks(timed_fit, 2, tmp_path, timeout=60, allow=True)
    assert last == ("died", 9)
    kind, error, seconds = first
    assert kind == "raised" and error == "RuntimeError" and seconds < 30


def run_cli(argv, timeout=120):
    """`python -m qkv argv` in a session of its own: at the deadline the launcher and every
    process it started are killed, and the test fails instead of hanging."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "qkv", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"qkv {' '.join(argv)} ran past {timeout} s")
    return proc.returncode, out, err


def test_cli_trains_on_two_processes_and_rank_0_alone_speaks(tmp_path):
    out = tmp_path / "run"
    argv = ["gpt", "train", "--nproc", "2", "--steps", "10", "--out", str(out)]
    code, printed, err = run_cli(argv)
    assert code == 0, err
    assert printed.count("training tiny on the built-in corpus") == 1
    assert "2 processes × 1 threads" in printed
    assert printed.count("best val loss") == 1
    assert checkpoint.load(out)["step"] == 10


def test_cli_refuses_bad_parallel_options_before_starting(tmp_path, capsys, monkeypatch):
    out = str(tmp_path / "run")
    assert main(["gpt", "train", "--nproc", "3", "--steps", "5", "--out", out]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "qkv gpt train: error: the batch of 32 does not split into 3 process(es) × 1 "
        "micro-batch(es) of equal size; choose --nproc and --grad-accum whose product divides 32"
    ]
    assert main(["gpt", "train", "--nproc", "0", "--out", out]) == 2
    assert "--nproc must be at least 1" in capsys.readouterr().err
    assert main(["gpt", "train", "--grad-accum", "0", "--steps", "5", "--out", out]) == 2
    assert "--grad-accum must be at least 1" in capsys.readouterr().err
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["gpt", "train", "--nproc", "2", "--out", out]) == 2
    assert "under torchrun leave it out" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
