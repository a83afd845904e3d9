"""`qkv explain --model minilm` against `qkv viz --model minilm` on the same text.

Both load all-MiniLM-L6-v2 offline and run it once; the hand calculation then recomputes one
head in float64, checks it against the model and renders it. Runs the two commands
alternately, N times each, in fresh processes (text to a file, as a user redirects it), and
prints the ratio of their median wall times (target: at most 1.5x).

    python benchmarks/explain_model.py [--runs 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TEXT = "The cat sat on the mat"
_SCRIPT = Path(sys.executable).with_name("qkv")
QKV = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "qkv"]
EXPLAIN = [*QKV, "explain", "--model", "minilm", "--text", TEXT, "--layer", "1", "--head", "1"]
VIZ = [*QKV, "viz", "--model", "minilm", "--text", TEXT, "--view", "summary"]
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | {"COLUMNS": "100"}


def wall(cmd: list[str], out: Path) -> float:
    t0 = time.perf_counter()
    with out.open("w") as f:
        subprocess.run(cmd, stdout=f, stderr=subprocess.DEVNULL, check=True, env=ENV)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.txt"
        wall(EXPLAIN, out), wall(VIZ, out)  # warm the file cache and the bytecode
        viz, explain = [], []
        for _ in range(args.runs):
            viz.append(wall(VIZ, out))
            explain.append(wall(EXPLAIN, out))
        checked = "matches the model's attention" in out.read_text(encoding="utf-8")
    v, e = statistics.median(viz), statistics.median(explain)
    result = {
        "viz_median_s": round(v, 3),
        "explain_median_s": round(e, 3),
        "ratio": round(e / v, 3),
        "target_ratio": 1.5,
        "verified": checked,
        "runs": args.runs,
    }
    print(f"qkv viz --model minilm --view summary:     {v:.2f} s median")
    print(f"qkv explain --model minilm --layer 1 --head 1: {e:.2f} s median")
    print(f"ratio: {e / v:.3f}x (target <= 1.5x); checked against the model: {checked}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
