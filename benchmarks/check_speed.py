"""How long `qkv check` takes on the seed article, against `qkv explain`.

Prints the median wall time of both commands (fresh processes, alternating), their ratio, and
the in-process time of check() alone (the work beyond start-up). Uses the seed article from
../shared/seed when it is there, else a test article of the same style.

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
    print(f"article: {article.name}")
    print(f"qkv check   median {c * 1000:.1f} ms")
    print(f"qkv explain median {e * 1000:.1f} ms")
    print(f"ratio check/explain: {c / e:.2f}x; check() alone: {work * 1000:.1f} ms")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "article": article.name,
                    "check_median_s": c,
                    "explain_median_s": e,
                    "ratio": c / e,
                    "check_work_s": work,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
