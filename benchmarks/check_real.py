"""`qkv check` on a folder of real published articles with a truth of every wrong number.

    python benchmarks/check_real.py DIR [--only SUBSTRING] [--json out.json]

DIR holds the articles, ``truth.json`` (one entry per article: ``file``, ``correct``, and
``roots`` with an ``id`` each), ``truth/wrong_numbers.json`` (every wrong printed number:
``file``, ``line``, ``written``, ``true``, ``root``) and ``truth/borderline.json`` (numbers that
look off but are reachable from the article's own rounded inputs). The development set of this
project's workspace has that layout; the articles are other people's texts and are not part of
the project, so the benchmark skips (exit 0, with a line saying so) when DIR is absent.

Every article is checked as a user would check it, ``qkv check FILE --format json`` in a process
of its own (its wall time is the article's time). A finding is every JSON object with
``expected``, ``line`` and ``claimed``. Findings are matched one to one with the wrong numbers:
the same file, a line within one of the truth's, and an expected value within 2% + 5e-4 of the
true one (a finding on the same line with the same written number first). A finding that
matches a wrong number already matched is a duplicate; any other finding is false. It prints,
per article and in total: the exit code against the wanted one (1 for an article with mistakes,
0 or 3 for a correct one), the wrong numbers covered, the false findings (those on a borderline
number marked), the roots found (a root counts when any of its numbers is covered), tracebacks
and the time; then the false findings one per line.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def as_float(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        m = NUMBER.search(value.replace("\u2212", "-").replace(",", ""))
        return float(m.group(0)) if m else None
    return None


def findings_of(document: object) -> list[dict]:
    """Every object of the report that states a written number, its line and a true value."""
    out: list[dict] = []
    stack = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "expected" in item and "line" in item and ("claimed" in item or "written" in item):
                out.append(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    unique, seen = [], set()
    for f in out:
        key = (f.get("line"), str(f.get("claimed", f.get("written"))), str(f.get("expected")))
        key += (str(f.get("col", "")),)
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


@dataclass
class Result:
    file: str
    exit: int | None = None
    wanted: str = ""
    ok: bool = False
    wrong: int = 0
    covered: set[int] = field(default_factory=set)
    false: list[tuple[object, object, object, bool]] = field(default_factory=list)
    duplicates: int = 0
    roots: int = 0
    roots_found: int = 0
    traceback: bool = False
    seconds: float = 0.0


def tolerance(true: float) -> float:
    return 0.02 * abs(true) + 5e-4


def same_number(a: object, b: object) -> bool:
    x, y = as_float(a), as_float(b)
    return x is not None and y is not None and abs(x - y) <= 1e-9 * max(1.0, abs(y))


def match(findings: list[dict], wrong: list[dict], border: list[dict], result: Result) -> None:
    for f in findings:
        line, expected = as_float(f.get("line")), as_float(f.get("expected"))
        claimed = f.get("claimed", f.get("written"))
        candidates = []
        if line is not None and expected is not None:
            for k, w in enumerate(wrong):
                if abs(w["line"] - line) <= 1 and abs(expected - w["true"]) <= tolerance(w["true"]):
                    rank = (w["line"] != line, not same_number(claimed, w["written"]))
                    candidates.append((rank, abs(expected - w["true"]), k))
        free = [k for *_, k in sorted(candidates) if k not in result.covered]
        if free:
            result.covered.add(free[0])
        elif candidates:
            result.duplicates += 1
        else:
            on_border = line is not None and any(
                abs(b["line"] - line) <= 1 and same_number(claimed, b["written"]) for b in border
            )
            result.false.append((f.get("line"), claimed, f.get("expected"), on_border))


def check_article(qkv: list[str], folder: Path, article: dict, wrong: list, border: list) -> Result:
    name = article["file"]
    result = Result(name, wanted="0/3" if article["correct"] else "1", wrong=len(wrong))
    start = time.perf_counter()
    run = subprocess.run(
        [*qkv, "check", str(folder / name), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    result.seconds = time.perf_counter() - start
    result.exit = run.returncode
    result.traceback = "Traceback (most recent call last)" in run.stdout + run.stderr
    result.ok = result.exit == 1 if not article["correct"] else result.exit in (0, 3)
    try:
        document = json.loads(run.stdout) if run.stdout.strip() else None
    except ValueError:
        document = None
    match(findings_of(document), wrong, border, result)
    roots = {r["id"] for r in article["roots"]}
    result.roots = len(roots)
    result.roots_found = len({wrong[k]["root"] for k in result.covered} & roots)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--only", default="", help="articles whose name holds this")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    folder = args.folder
    if not (folder / "truth.json").is_file():
        print(f"{folder}: no truth.json there; nothing to measure (skipped)")
        return 0
    truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
    wrong_all = json.loads((folder / "truth" / "wrong_numbers.json").read_text(encoding="utf-8"))
    border_all = json.loads((folder / "truth" / "borderline.json").read_text(encoding="utf-8"))
    qkv = [sys.executable, "-m", "qkv"]
    results = []
    header = f"{'article':50} {'exit':>4} {'want':>4} {'covered':>9} {'false':>5} {'roots':>7}"
    header += f" {'s':>5}"
    print(header)
    print("-" * len(header))
    for article in truth:
        if args.only not in article["file"]:
            continue
        wrong = [w for w in wrong_all if w["file"] == article["file"]]
        border = [b for b in border_all if b["file"] == article["file"]]
        r = check_article(qkv, folder, article, wrong, border)
        results.append(r)
        note = "  TRACEBACK" if r.traceback else ""
        print(
            f"{r.file[:50]:50} {r.exit!s:>4} {r.wanted:>4} {len(r.covered):>4}/{r.wrong:<4} "
            f"{len(r.false):>5} {r.roots_found:>3}/{r.roots:<3} {r.seconds:5.2f}{note}"
        )
    print("-" * len(header))
    totals = summary(results)
    for r in results:
        for line, claimed, expected, on_border in r.false:
            mark = "  [borderline]" if on_border else ""
            print(f"  false: {r.file}:{line} {claimed} -> {expected}{mark}")
    for key, value in totals.items():
        print(f"  {key:28} {value}")
    if args.json:
        args.json.write_text(json.dumps(totals, indent=2) + "\n", encoding="utf-8")
    return 0


def summary(results: list[Result]) -> dict[str, str]:
    n = len(results)
    bad = [r for r in results if r.wanted == "1"]
    wrong = sum(r.wrong for r in results)
    covered = sum(len(r.covered) for r in results)
    roots = sum(r.roots for r in results)
    found = sum(r.roots_found for r in results)
    false = sum(len(r.false) for r in results)
    slowest = max((r.seconds for r in results), default=0.0)
    return {
        "articles": f"{n} ({len(bad)} with mistakes)",
        "exit code as wanted": f"{sum(r.ok for r in results)}/{n}",
        "correct articles exit 1": f"{sum(r.exit == 1 for r in results if r.wanted != '1')}",
        "false findings": f"{false} ({false / max(n, 1) * 10:.1f} per 10 articles)",
        "roots found": f"{found}/{roots} ({100 * found / max(roots, 1):.0f}%)",
        "wrong numbers covered": f"{covered}/{wrong} ({100 * covered / max(wrong, 1):.0f}%)",
        "tracebacks": str(sum(r.traceback for r in results)),
        "slowest article": f"{slowest:.2f} s",
    }


if __name__ == "__main__":
    sys.exit(main())
