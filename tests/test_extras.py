"""A missing optional dependency is one friendly line and exit 2, never a traceback.

The dependency is made to fail to import (a meta path finder in a child process), not
uninstalled: the suite runs with every extra installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

BLOCKED = """
import sys

BLOCK = set(sys.argv[1].split(","))


class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCK:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, Blocker())
from qkv.cli.main import main

sys.exit(main(sys.argv[2:]))
"""


def run_without(blocked: str, argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC), "QKV_DEBUG": ""}
    return subprocess.run(
        [sys.executable, "-c", BLOCKED, blocked, *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("blocked", "argv", "extra"),
    [
        ("matplotlib", ["viz", "-o", "m.png"], "viz"),
        ("matplotlib", ["viz", "--example", "笔记本", "--step", "weights", "-o", "w.svg"], "viz"),
        ("torch", ["gpt", "train", "--steps", "1", "--out", "run"], "torch"),
        ("torch", ["gpt", "sample", "--prompt", "我爱"], "torch"),
        ("transformers", ["viz", "--model", "minilm", "--text", "a b", "--view", "summary"], "hf"),
        # the hf extra brings torch too: the one install that makes --model work
        ("torch", ["viz", "--model", "minilm", "--text", "a b", "--view", "summary"], "hf"),
        ("transformers", ["explain", "--model", "minilm", "--text", "a b"], "hf"),
        ("torch", ["explain", "--model", "minilm", "--text", "a b"], "hf"),
    ],
)
def test_missing_extra_is_one_line(blocked: str, argv: list[str], extra: str, tmp_path: Path):
    done = run_without(blocked, argv, tmp_path)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert f"pip install 'qkv[{extra}]'" in lines[0]
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_a_gpt_run_without_torch_names_its_extra(tmp_path: Path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "checkpoint.pt").write_bytes(b"")
    done = run_without("torch", ["explain", "--model", str(run), "--text", "我爱"], tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and "pip install 'qkv[torch]'" in done.stderr


def test_a_missing_module_of_qkv_itself_is_still_a_bug(tmp_path: Path):
    """Only the optional dependencies are the installation's fault."""
    from qkv.cli.main import missing_extra

    assert missing_extra(ModuleNotFoundError("x", name="qkv.nowhere")) is None
    assert "qkv[viz]" in (missing_extra(ModuleNotFoundError("x", name="matplotlib.pyplot")) or "")
