"""Start-up cost of `qkv explain` against the imports it cannot avoid.

Runs `qkv explain` (the article's example, text output) and
`python -c "import numpy, rich.console, rich.table"` alternately, N times each, in fresh
processes, and prints the ratio of their median wall times. Also checks that torch,
matplotlib and transformers were not imported.

    python benchmarks/startup.py [--runs 30] [--json out.json]
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

BASELINE = [sys.executable, "-c", "import numpy, rich.console, rich.table"]
# The console script a user types; `python -m qkv` when it is not on PATH.
# (next to this interpreter: a shim on PATH, such as pyenv's, would add its own start-up).
_SCRIPT = Path(sys.executable).with_name("qkv")
QKV = [str(_SCRIPT), "explain"] if _SCRIPT.exists() else [sys.executable, "-m", "qkv", "explain"]
HEAVY = ("torch", "matplotlib", "transformers")


# As on a user's machine: bytecode is cached (pip compiles it at install; the warm-up run
# writes it for an editable install). Some sandboxes set PYTHONDONTWRITEBYTECODE.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | {"COLUMNS": "100"}


def wall(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=ENV)
    return time.perf_counter() - t0


def heavy_imports() -> list[str]:
    probe = (
        "import sys, runpy; sys.argv=['qkv','explain'];\n"
        "import io, contextlib\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    from qkv.cli.main import main; main()\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=ENV
    )
    return [m for m in out.stdout.strip().split(",") if m]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()
    wall(QKV), wall(BASELINE)  # warm the file cache
    base, ours = [], []
    for _ in range(args.runs):
        base.append(wall(BASELINE))
        ours.append(wall(QKV))
    b, o = statistics.median(base), statistics.median(ours)
    heavy = heavy_imports()
    result = {
        "baseline_median_s": round(b, 4),
        "qkv_explain_median_s": round(o, 4),
        "ratio": round(o / b, 3),
        "target_ratio": 1.25,
        "heavy_imports": heavy,
        "runs": args.runs,
    }
    print(f"baseline (import numpy, rich.console, rich.table): {b * 1000:.1f} ms median")
    print(f"qkv explain:                                       {o * 1000:.1f} ms median")
    print(f"ratio: {o / b:.3f}x (target <= 1.25x); heavy modules imported: {heavy or 'none'}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
