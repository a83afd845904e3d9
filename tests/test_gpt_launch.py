"""qkv gpt train --nproc: no open port, the text read once, one run per folder, no link
followed (issue 21)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from qkv.cli.main import main  # noqa: E402
from qkv.gpt import checkpoint, run_folder  # noqa: E402
from qkv.gpt.data import builtin_corpus  # noqa: E402
from tests import sockets  # noqa: E402


def start(argv: list[str], stdin: bytes | None = None) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen(
        [sys.executable, "-m", "qkv", *argv],
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        start_new_session=True,
    )


def finish(
    proc: subprocess.Popen[bytes], timeout: float = 120, stdin: bytes | None = None
) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"ran past {timeout} s")
    return proc.returncode, out.decode(), err.decode()


def test_nproc_listens_on_no_network_address(tmp_path):
    """torch's elastic launcher kept its TCPStore on *:PORT (every interface), unauthenticated,
    and unpickled what it read from it: a process on another host could run code. The
    processes now meet through a file; gloo listens on loopback only."""
    proc = start(["gpt", "train", "--nproc", "2", "--steps", "300", "--out", str(tmp_path / "r")])
    seen: set[tuple[str, str, int]] = set()
    ranks_seen = 0
    while proc.poll() is None:
        pids = sockets.tree(proc.pid)
        ranks_seen = max(ranks_seen, len(pids) - 1)
        seen |= sockets.listening(pids)
        launcher = sockets.listening({proc.pid})
        assert not launcher, f"the launcher listens on {launcher}"
        time.sleep(0.1)
    code, _, err = finish(proc)
    assert code == 0, err
    assert ranks_seen >= 2  # the processes were watched while they ran
    assert seen, "gloo's loopback listeners were not seen: the sampling saw nothing"
    assert not sockets.beyond_loopback(seen), seen


def test_nproc_reads_standard_input_once(tmp_path):
    """--text - with --nproc: each process read standard input again (and found it empty)."""
    text = builtin_corpus(800).encode()
    argv = ["gpt", "train", "--nproc", "2", "--steps", "3", "--text", "-", "--out", "r"]
    proc = start(argv, text)
    code, printed, err = finish(proc, stdin=text)
    assert code == 0, err
    assert f"on - ({len(text.decode()):,} characters, 2 processes" in printed
    assert checkpoint.load(Path("r"))["step"] == 3
    # and nothing of the hand-over is left behind (a private folder, removed)
    assert sorted(p.name for p in Path("r").iterdir()) == ["checkpoint.pt", "last.pt", "log.csv"]


@pytest.fixture(autouse=True)
def _in(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def test_a_second_run_into_a_folder_in_use_is_refused_with_the_holders_pid(tmp_path, capsys):
    """Two trainings into one folder both reported success; the last writer won."""
    out = tmp_path / "run"
    with run_folder.held(out):
        for extra in ([], ["--nproc", "2"]):
            assert main(["gpt", "train", "--steps", "2", "--out", str(out), *extra]) == 2
            err = capsys.readouterr().err
            assert f"in use by another training run (process {os.getpid()})" in err
        assert sorted(p.name for p in out.iterdir()) == [".lock"]
    assert not out.exists()  # made for the lock, left empty: removed
    assert main(["gpt", "train", "--steps", "2", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "last.pt", "log.csv"]


def test_a_run_folder_reached_through_a_link_is_refused(tmp_path, capsys):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    for out in ("link", "link/run"):
        assert main(["gpt", "train", "--steps", "2", "--out", out]) == 2
        assert "is a symbolic link" in capsys.readouterr().err
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_several_machines_need_a_named_rendezvous(capsys):
    assert main(["gpt", "train", "--nnodes", "2", "--steps", "2"]) == 2
    assert "--rdzv-endpoint" in capsys.readouterr().err
