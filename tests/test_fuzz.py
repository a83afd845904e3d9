"""Fuzzing every verb (explain, check, viz, gpt) with random and damaged inputs.

Each case (tests/fuzz_cases.py: an argument list with its files) runs as `qkv ...` in a child
of the fork server (tests/isolate.py) with a CPU and a memory limit, and must:

- end on its own, within QKV_FUZZ_SECONDS of CPU (default 5) and 1 GB more memory;
- exit 0, 1 or 2 (check also 3: nothing could be checked): never a traceback, never an
  internal error (the children run with QKV_DEBUG=1, so an internal error shows its traceback;
  without it, it is exit 70);
- on exit 2, print one error line (warnings and notes may come before it) and nothing on
  stdout, and leave every requested output as it was (absent, or its old content);
- leave nothing in its working folder but its inputs and the outputs it was asked for
  (no temporary file, no hidden .npz), and change no input.

Budget: QKV_FUZZ_CASES cases per verb (default 25, about 15 s for all four);
`QKV_FUZZ_CASES=10000 pytest -m fuzz` is the long mode. QKV_FUZZ_REPORT=FILE appends one JSON
line per verb (cases, seconds, worst CPU and memory, exit codes). A failure names the
innermost qkv frame of its traceback (or of the stack dumped when the CPU limit hit).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from tests import fuzz_cases
from tests.isolate import Server

pytestmark = pytest.mark.fuzz

CASES = int(os.environ.get("QKV_FUZZ_CASES", "25"))
SECONDS = float(os.environ.get("QKV_FUZZ_SECONDS", "5"))
MEMORY = 1 << 30
FUZZ = settings(
    max_examples=CASES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)


@pytest.fixture(scope="module")
def server():
    s = Server(env={"QKV_DEBUG": "1"})  # an internal error shows as a traceback
    yield s
    s.close()


class Record:
    """What one verb's fuzzing saw: counts and the worst case."""

    def __init__(self, verb: str):
        self.verb, self.cases, self.start = verb, 0, time.monotonic()
        self.worst_cpu, self.worst_mb = 0.0, 0.0
        self.codes: dict[int, int] = {}

    def add(self, out) -> None:
        self.cases += 1
        self.worst_cpu = max(self.worst_cpu, out.cpu)
        self.worst_mb = max(self.worst_mb, out.grown_mb)
        self.codes[out.rc] = self.codes.get(out.rc, 0) + 1

    def report(self) -> None:
        path = os.environ.get("QKV_FUZZ_REPORT")
        if path:
            line = {
                "verb": self.verb,
                "cases": self.cases,
                "seconds": round(time.monotonic() - self.start, 1),
                "worst_cpu_s": round(self.worst_cpu, 2),
                "worst_growth_mb": round(self.worst_mb, 1),
                "exit_codes": {str(k): v for k, v in sorted(self.codes.items(), key=str)},
            }
            with open(path, "a", encoding="utf-8") as f:
                f.write(json.dumps(line, ensure_ascii=False) + "\n")


def snapshot(folder: Path) -> dict[str, tuple[str, str]]:
    """Every entry under folder: (kind, content hash) by relative path."""
    out = {}
    for root, dirs, names in os.walk(folder):
        for name in dirs + names:
            path = Path(root, name)
            rel = str(path.relative_to(folder))
            if path.is_symlink():
                out[rel] = ("link", os.readlink(path))
            elif path.is_file():
                out[rel] = ("file", hashlib.sha1(path.read_bytes()).hexdigest())
            else:
                out[rel] = ("dir" if path.is_dir() else "special", "")
    return out


def _requested(rel: str, outputs: list[str]) -> bool:
    """An output, inside one (a checkpoint in --out), or a folder made to hold one."""
    return any(rel == o or rel.startswith(o + "/") or o.startswith(rel + "/") for o in outputs)


def judge(case, out, before: dict, after: dict) -> list[str]:
    """Everything wrong with one run (empty: it behaved)."""
    err = out.stderr.decode("utf-8", "replace")
    problems = []
    if out.why:
        problems.append(f"{out.why} (cpu {out.cpu:.1f} s)")
    allowed = (0, 1, 2, 3) if case.argv[0] == "check" else (0, 1, 2)  # 3: nothing checked
    if out.rc not in allowed:
        problems.append(f"exit {out.rc}")
    if "Traceback" in err:
        problems.append("traceback")
    if out.rc == 2:
        problems += _refusal(case, out, err, before, after)
    return problems + _left_behind(case, before, after)


def _refusal(case, out, err: str, before: dict, after: dict) -> list[str]:
    """Exit 2: one error line last (warnings and notes may come before), nothing on stdout,
    no requested output touched."""
    problems = []
    lines = err.splitlines()
    if not lines or not re.match(r"qkv [a-z ]+: error: ", lines[-1]):
        problems.append("exit 2 without an error line")
    if any(": error: " in ln or not re.search(r": (warning|note): ", ln) for ln in lines[:-1]):
        problems.append("more than one error line")
    if out.stdout:
        problems.append("exit 2 with output on stdout")
    for o in case.outputs:
        touched = {k for k in set(before) | set(after) if _requested(k, [o])}
        if any(before.get(k) != after.get(k) for k in touched):
            problems.append(f"exit 2 but {o} was written")
    return problems


def _left_behind(case, before: dict, after: dict) -> list[str]:
    """Nothing but the requested outputs appears, changes or goes."""
    problems = []
    for rel in sorted(set(before) | set(after)):
        if _requested(rel, case.outputs):
            continue
        if rel not in after:
            problems.append(f"{rel} was removed")
        elif rel not in before:
            problems.append(f"{rel} was left behind")
        elif before[rel] != after[rel]:
            problems.append(f"{rel} was changed")
    return problems


FRAME = re.compile(r'File "([^"]+)", line (\d+),? in (\S+)')


def innermost_qkv_frame(stderr: str) -> str:
    """The innermost frame in qkv of a Python traceback (innermost last) or of a
    faulthandler dump ("most recent call first"), as "path:line in function"."""
    frames = [f"{p}:{n} in {fn}" for p, n, fn in FRAME.findall(stderr) if "/qkv/" in p]
    if not frames:
        return ""
    return frames[0] if "most recent call first" in stderr else frames[-1]


def run_verb(server, root: Path, record: Record, case) -> None:
    folder = Path(tempfile.mkdtemp(dir=root))
    capture = Path(tempfile.mkdtemp(dir=root))
    try:
        case.make(folder)
        before = snapshot(folder)
        out = server.run(case.command(), folder, capture, stdin=case.stdin, seconds=SECONDS,
                         memory=MEMORY)  # fmt: skip
        after = snapshot(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(capture, ignore_errors=True)
    record.add(out)
    problems = judge(case, out, before, after)
    if not problems:
        return
    err = out.stderr.decode("utf-8", "replace")
    where = innermost_qkv_frame(err)
    shown = [a if len(a) < 300 else a[:300] + "…" for a in case.command()]
    raise AssertionError(
        f"qkv {' '.join(map(repr, shown))}: {'; '.join(problems)} at {where}\n"
        f"files: {sorted(case.files)} specials: {case.specials}\nstderr: {err[-3000:]}"
    )


@pytest.fixture
def root(tmp_path):
    return tmp_path


def _fuzz(verb: str, strategy, server, root) -> Record:
    record = Record(verb)

    @FUZZ
    @given(strategy)
    def cases(case):
        run_verb(server, root, record, case)

    try:
        cases()
    finally:
        record.report()
    return record


def test_fuzz_explain(server, root):
    assert _fuzz("explain", fuzz_cases.explain_case(), server, root).cases >= CASES


def test_fuzz_viz(server, root):
    assert _fuzz("viz", fuzz_cases.viz_case(), server, root).cases >= CASES


def test_fuzz_gpt(server, root):
    pytest.importorskip("torch")
    assert _fuzz("gpt", fuzz_cases.gpt_case(), server, root).cases >= CASES


def test_fuzz_check(server, root):
    assert _fuzz("check", fuzz_cases.check_case(), server, root).cases >= CASES
