"""How long `qkv check` takes: on the seed article against `qkv explain`, and on a 200 KB
notebook (targets: ratio <= 1.3; notebook <= 2 s).

Prints the median wall time of the commands (fresh processes, alternating), their ratio, the
in-process time of check() alone (the work beyond start-up), and the wall time of checking a
generated notebook of some 200 KB (80 worked examples in numpy prints and Markdown tables).
Uses the seed article from ../shared/seed when it is there, else a test article of its style.

    python benchmarks/check_speed.py [--runs 20] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT.parent / "shared" / "seed" / "attention-article.txt"
FALLBACK = ROOT / "tests" / "articles" / "zh_plain_tables.txt"
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | {"COLUMNS": "100"}
_SCRIPT = Path(sys.executable).with_name("qkv")
QKV = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "qkv"]


def wall(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    return time.perf_counter() - t0


def notebook(examples: int = 80, seed: int = 0) -> str:
    """A notebook of worked examples, each as a Markdown table and numpy prints."""
    import numpy as np

    rng = np.random.default_rng(seed)
    cells = []
    for k in range(examples):
        x = rng.integers(0, 3, (8, 16))
        s = x @ x.T
        w = np.exp((s - s.max(1, keepdims=True)) / 4)
        w /= w.sum(1, keepdims=True)
        table = ["| | " + " | ".join(f"t{j}" for j in range(8)) + " |", "|---" * 9 + "|"]
        table += [
            f"| t{i} | " + " | ".join(f"{v:.3f}" for v in row) + " |" for i, row in enumerate(w)
        ]
        source = [f"X = np.array({x.tolist()})\n", "scores = X @ X.T\n", "print(scores)\n"]
        source += ["weights = softmax(scores / np.sqrt(16))\n", "print(weights)"]
        printed = np.array2string(s) + "\n" + np.array2string(w, precision=4)
        cells += [
            {"cell_type": "markdown", "metadata": {}, "source": [f"## Example {k}\n", "Input X:"]},
            {
                "cell_type": "code",
                "execution_count": k + 1,
                "metadata": {},
                "outputs": [
                    {
                        "name": "stdout",
                        "output_type": "stream",
                        "text": [line + "\n" for line in printed.split("\n")],
                    }
                ],
                "source": source,
            },
            {
                "cell_type": "markdown",
                "metadata": {},
                "source": ["The weights again, as a table:\n", "\n", *[t + "\n" for t in table]],
            },
        ]
    return json.dumps(
        {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells}, indent=1
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--json")
    args = ap.parse_args()
    article = SEED if SEED.exists() else FALLBACK
    check_cmd = [*QKV, "check", str(article)]
    explain_cmd = [*QKV, "explain"]
    wall(check_cmd), wall(explain_cmd)
    checks, explains = [], []
    for _ in range(args.runs):
        checks.append(wall(check_cmd))
        explains.append(wall(explain_cmd))
    sys.path.insert(0, str(ROOT / "src"))
    from qkv.review.check import check

    text = article.read_text(encoding="utf-8")
    check(text)  # imports and caches
    t0 = time.perf_counter()
    for _ in range(20):
        check(text)
    work = (time.perf_counter() - t0) / 20
    c, e = statistics.median(checks), statistics.median(explains)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        nb = Path(tmp) / "examples.ipynb"
        nb.write_text(notebook(), encoding="utf-8")
        size = nb.stat().st_size
        big = statistics.median(
            wall([*QKV, "check", str(nb)]) for _ in range(max(3, args.runs // 4))
        )
    print(f"article: {article.name}")
    print(f"qkv check   median {c * 1000:.1f} ms")
    print(f"qkv explain median {e * 1000:.1f} ms")
    print(f"ratio check/explain: {c / e:.2f}x; check() alone: {work * 1000:.1f} ms")
    print(f"notebook of {size / 1000:.0f} KB: qkv check median {big * 1000:.0f} ms (target 2000)")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "article": article.name,
                    "check_median_s": c,
                    "explain_median_s": e,
                    "ratio": c / e,
                    "check_work_s": work,
                    "notebook_bytes": size,
                    "notebook_check_s": big,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
