"""Threads for training and sampling: --threads, else OMP_NUM_THREADS, else this process's
share of the CPUs it may run on; never the machine's CPU count over the user's choice."""

import pytest

torch = pytest.importorskip("torch")

from qkv import cpus  # noqa: E402
from qkv.cli.main import main  # noqa: E402
from qkv.errors import InputError  # noqa: E402
from qkv.gpt.train import configure_cpu, cpu_threads  # noqa: E402


@pytest.fixture(autouse=True)
def keep_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize(
    "value, want", [("3", 3), ("2,1", 2), (" 4 ", 4), ("0", None), ("many", None), ("", None)]
)
def test_omp_num_threads_is_read_as_openmp_reads_it(monkeypatch, value, want):
    monkeypatch.setenv("OMP_NUM_THREADS", value)
    assert cpus.omp_threads() == want


def test_the_default_is_omp_num_threads_else_a_share_of_the_cpus(monkeypatch):
    monkeypatch.setattr(cpus, "available", lambda: 8)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert cpus.default_threads() == 3  # the user's choice stands, whatever the CPUs
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert cpus.default_threads() == 4  # 8 CPUs shared by 2 processes
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "16")
    assert cpus.default_threads() == 1
    monkeypatch.delenv("LOCAL_WORLD_SIZE")
    assert cpus.default_threads() == 8


def test_configure_cpu_sets_what_it_is_given_or_the_default(monkeypatch):
    assert configure_cpu(1) == 1 and torch.get_num_threads() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert configure_cpu() == 2 and torch.get_num_threads() == 2
    assert cpu_threads(5) == 5
    with pytest.raises(InputError, match="at least 1"):
        cpu_threads(0)


def test_train_and_sample_take_threads(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    out = str(tmp_path / "run")
    assert main(["gpt", "train", "--steps", "2", "--threads", "1", "--out", out]) == 0
    assert "1 threads" in capsys.readouterr().out and torch.get_num_threads() == 1
    assert main(["gpt", "train", "--steps", "2", "--out", str(tmp_path / "omp")]) == 0
    assert "2 threads" in capsys.readouterr().out  # OMP_NUM_THREADS, not the CPU count
    argv = ["gpt", "sample", "--checkpoint", out, "--prompt", "我", "--max-new-tokens", "3"]
    assert main([*argv, "--threads", "1"]) == 0 and torch.get_num_threads() == 1
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        main(["gpt", "sample", "--threads", "0", "--prompt", "我"])
    assert exit_.value.code == 2 and "--threads: 0 is not at least 1" in capsys.readouterr().err


def test_help_says_the_default(capsys, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    for verb in ("train", "sample"):
        with pytest.raises(SystemExit):
            main(["gpt", verb, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert "default: OMP_NUM_THREADS when it is set" in text and ": 3 here" in text
