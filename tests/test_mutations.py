"""Planted mutations: each one, applied to a copy of src/qkv, must make the tests that guard
it fail. Run with ``pytest -m mutation`` (skipped otherwise: about a minute on two cores).

Each mutation is a text replacement in qkv.core, qkv.nn or a face that a plausible slip could make;
its tests are a few files or a ``-k`` selection, run in a child Python whose PYTHONPATH is the
mutated copy. ``test_the_copy_itself_passes`` runs every selection on an unmutated copy, so a
failure below is the mutation's doing, not the copy's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = ("tests/test_core_attention.py", "tests/test_core_masks.py", "tests/test_core_properties.py")
NN = "tests/test_nn_attention.py"


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str  # under src/qkv
    old: str  # occurs exactly once in the file
    new: str
    tests: tuple[str, ...]  # pytest arguments: files, -k selections


MUTATIONS = (
    Mutation(
        "exact masked scores drop the float mask",
        "core/trace/pipeline.py",
        "else chain.current_exact + finite_add",
        "else chain.current_exact",
        CORE,
    ),
    Mutation(
        "trace: lengths OR window",
        "core/trace/pipeline.py",
        "structured if valid is None else structured & valid",
        "structured if valid is None else structured | valid",
        CORE,
    ),
    Mutation(
        "attention: structured masks ORed",
        "core/masks.py",
        "allowed = allowed & part",
        "allowed = allowed | part",
        CORE,
    ),
    Mutation(
        "causal offset off by one",
        "core/masks.py",
        'return n_keys - n_queries if align == "bottom_right" else 0',
        'return n_keys - n_queries + 1 if align == "bottom_right" else 0',
        CORE,
    ),
    Mutation(
        "top-left causal treated as bottom-right",
        "core/masks.py",
        'return n_keys - n_queries if align == "bottom_right" else 0',
        "return n_keys - n_queries",
        CORE,
    ),
    Mutation(
        "window with causal keeps the looser bound",
        "core/masks.py",
        "min(hi, offset + right)",
        "max(hi, offset + right)",
        CORE,
    ),
    Mutation(
        "documents: a query sees later documents",
        "core/masks.py",
        "return query_doc == key_doc",
        "return query_doc <= key_doc",
        CORE,
    ),
    Mutation(
        "boolean mask polarity flipped",
        "core/masks.py",
        "if m.dtype == bool:\n        return m",
        "if m.dtype == bool:\n        return ~m",
        CORE,
    ),
    Mutation(
        "default scale 1 instead of 1/sqrt(d_k)",
        "core/scale.py",
        'return 1.0 / math.sqrt(d_k), f"1/√{d_k}"',
        'return 1.0, f"1/√{d_k}"',
        CORE,
    ),
    Mutation(
        "default scale 1/d_k instead of 1/sqrt(d_k)",
        "core/scale.py",
        'return 1.0 / math.sqrt(d_k), f"1/√{d_k}"',
        'return 1.0 / d_k, f"1/√{d_k}"',
        CORE,
    ),
    Mutation(
        "core softmax without the max shift",
        "core/softmax.py",
        "np.exp(s - m)",
        "np.exp(s)",
        CORE,
    ),
    Mutation(
        "core GQA: query head h uses key head h % Hkv",
        "core/attention.py",
        "np.repeat(k, hq // hkv, axis=-3), np.repeat(v, hq // hkv, axis=-3)",
        "np.tile(k, (hq // hkv, 1, 1)), np.tile(v, (hq // hkv, 1, 1))",
        CORE,
    ),
    Mutation(
        "scale contrast forgets the float mask",
        "core/trace/pipeline.py",
        "scaled = scaled + chain.added",
        "scaled = scaled",
        ("tests/test_core_attention.py",),
    ),
    Mutation(
        "spec: a block mask read as allow",
        "core/spec.py",
        'if self.mask_means == "block":',
        'if self.mask_means == "never":',
        ("tests/test_core_spec.py",),
    ),
    Mutation(
        "spec text: window:W read as W keys back only",
        "core/spec.py",
        "(n[0], n[0]) if len(n) == 1",
        "(n[0], 0) if len(n) == 1",
        ("tests/test_core_spec.py", "tests/test_cli_explain.py", "-k", "mask or window or spec"),
    ),
    Mutation(
        "serve: the query's window ignored",
        "serve/hand.py",
        'f"window:{opts.window}"',
        '"window:0"',
        ("tests/test_core_spec.py", "-k", "http"),
    ),
    Mutation(
        "nn softmax: no max-shift guard for a fully masked row",
        "nn/explicit.py",
        "top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))",
        "top = top",
        (NN, "-k", "fully_masked or (forward and math and 5x2 and float64)"),
    ),
    Mutation(
        "nn GQA: query head h uses key head h % Hkv",
        "nn/gqa.py",
        "return t.view(*t.shape[:-3], hkv, g, *t.shape[-2:])",
        "return t.view(*t.shape[:-3], g, hkv, *t.shape[-2:]).transpose(-4, -3)",
        (NN, "-k", "forward and math and 113x203 and float64"),
    ),
    Mutation(
        "nn float mask subtracted",
        "nn/explicit.py",
        "scores = scores + bias.to(wide)",
        "scores = scores - bias.to(wide)",
        (NN, "-k", "fully_masked_float or (forward and math and 2x5 and float64 and mask)"),
    ),
    Mutation(
        "nn causal mask one key short",
        "nn/masks.py",
        "return j <= i + offset",
        "return j < i + offset",
        (NN, "-k", "forward and math and 5x2 and float64 and bottom_right"),
    ),
)


def _copy(tmp_path: Path) -> Path:
    """src/qkv copied under tmp_path/src; returns tmp_path/src."""
    src = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "qkv", src / "qkv", ignore=shutil.ignore_patterns("__pycache__"))
    return src


def _run(src: Path, tests: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(src), "PYTHONDONTWRITEBYTECODE": "1"}
    argv = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:warnings"]
    argv += ["-p", "no:cacheprovider", "-m", "not mutation", *tests]
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.mutation
@pytest.mark.parametrize("m", MUTATIONS, ids=[m.name for m in MUTATIONS])
def test_the_mutation_is_caught(m: Mutation, tmp_path: Path) -> None:
    src = _copy(tmp_path)
    target = src / "qkv" / m.path
    text = target.read_text(encoding="utf-8")
    assert text.count(m.old) == 1, f"{m.path} no longer holds {m.old!r} once: update MUTATIONS"
    target.write_text(text.replace(m.old, m.new), encoding="utf-8")
    done = _run(src, m.tests)
    tail = (done.stdout + done.stderr)[-1500:]
    assert done.returncode == 1, f"the mutation survived (exit {done.returncode}):\n{tail}"
    assert "FAILED" in done.stdout, tail  # a test failed, not the collection


@pytest.mark.mutation
def test_the_copy_itself_passes(tmp_path: Path) -> None:
    src = _copy(tmp_path)
    selections = {m.tests for m in MUTATIONS}
    for tests in sorted(selections):
        done = _run(src, tests)
        assert done.returncode == 0, (done.stdout + done.stderr)[-1500:]
    assert str(src) in _run_where(src)


def _run_where(src: Path) -> str:
    """Where the child imports qkv from (the copy, not the working tree)."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    code = "import qkv; print(qkv.__file__)"
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
