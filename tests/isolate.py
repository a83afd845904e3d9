"""Run `qkv ...` in a child process with a time and memory limit, fast.

A fork server (this file run as a script) imports qkv, torch and matplotlib once and never
computes with them; for each case it forks a child that runs ``qkv.cli.main.main(argv)``
exactly as the command line would, pinned to one CPU, under RLIMIT_AS (its address space may
grow by at most ``memory`` bytes) and RLIMIT_CPU (``seconds`` of CPU time, then SIGXCPU); a
child still alive after three times that on the wall clock (blocked, or starved on a busy
machine) is killed. CPU time, not wall time, is the measure: this machine is shared. A fork
costs milliseconds where a fresh `python -m qkv gpt` costs seconds of imports: enough for
10,000 cases a verb.

The child's stdout and stderr go to files in a folder outside the case's working folder, so
the working folder holds only what qkv wrote there.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

PRELOAD = (
    "qkv.cli.main",
    "qkv.cli.check",
    "qkv.cli.explain",
    "qkv.cli.gpt",
    "qkv.cli.viz",
    "qkv.review.check",
    "qkv.review.report",
    "qkv.render",
    "qkv.render.text",
    "qkv.render.html",
    "qkv.maps",
    "qkv.files",
    "qkv.viz.heatmap",
    "qkv.viz.page",
    "qkv.viz.summary",
    "qkv.gpt.checkpoint",
    "qkv.gpt.generate",
    "qkv.gpt.train",
    "matplotlib.figure",
    "matplotlib.backends.backend_agg",
    "qkv.hf",
    "transformers",
    "transformers.models.auto.modeling_auto",
    "transformers.models.auto.tokenization_auto",
    "transformers.models.bert.modeling_bert",
)


@dataclass
class Outcome:
    rc: int | None  # None: killed (over time or by a signal)
    stdout: bytes
    stderr: bytes
    seconds: float  # wall clock
    cpu: float  # user + system seconds of the child
    grown_mb: float  # peak resident memory above the child's at the fork (-1: killed)
    why: str = ""  # "", "over the CPU limit", "still running at the wall-clock limit", "signal 11"


class Server:
    """One fork server; ``run`` one case at a time."""

    def __init__(self, env: dict[str, str] | None = None):
        # QKV_TEST_SRC: run the cases against another copy of qkv (e.g. before a fix)
        src = os.environ.get("QKV_TEST_SRC") or str(Path(__file__).resolve().parents[1] / "src")
        full = {**os.environ, "PYTHONPATH": src, "COLUMNS": "120", **(env or {})}
        self.proc = subprocess.Popen(
            [sys.executable, __file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=full,
            text=True,
        )
        ready = self.proc.stdout.readline() if self.proc.stdout else ""
        if ready.strip() != "ready":
            raise RuntimeError(f"the fork server did not start: {ready!r}")

    def run(
        self,
        argv: list[str],
        cwd: Path,
        capture: Path,
        *,
        stdin: bytes = b"",
        seconds: float = 5.0,
        memory: int = 1 << 30,
    ) -> Outcome:
        capture.mkdir(parents=True, exist_ok=True)
        (capture / "stdin").write_bytes(stdin)
        request = {
            "argv": argv,
            "cwd": str(cwd),
            "capture": str(capture),
            "seconds": seconds,
            "memory": memory,
        }
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        reply = json.loads(self.proc.stdout.readline())
        return Outcome(
            reply["rc"],
            (capture / "stdout").read_bytes(),
            (capture / "stderr").read_bytes(),
            reply["seconds"],
            reply["cpu"],
            reply["grown_mb"],
            reply["why"],
        )

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# --------------------------------------------------------------------------- the server


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _vm_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return 0


def _child(request: dict[str, object]) -> None:
    """In the forked child: limits, redirections, then the command line. Never returns."""
    import faulthandler
    import io
    import resource
    import traceback

    capture = Path(str(request["capture"]))
    os.chdir(str(request["cwd"]))
    grow = int(request["memory"])  # type: ignore[call-overload]
    resource.setrlimit(resource.RLIMIT_AS, (_vm_bytes() + grow, resource.RLIM_INFINITY))
    cpu = max(1, math.ceil(float(request["seconds"])))  # type: ignore[arg-type]
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    with contextlib.suppress(OSError):  # one CPU: CPU time is then close to wall time
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    for fd, name, flags in (
        (0, "stdin", os.O_RDONLY),
        (1, "stdout", os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
        (2, "stderr", os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
    ):
        new = os.open(capture / name, flags, 0o644)
        os.dup2(new, fd)
        os.close(new)
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8")
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8")
    for signum in (signal.SIGXCPU, signal.SIGUSR1):  # where it was when stopped: on stderr
        faulthandler.register(signum, file=sys.stderr, chain=False)
    rc = 99
    start_kb = _status_kb("VmRSS")
    try:
        from qkv.cli.main import main

        rc = main([str(a) for a in request["argv"]])  # type: ignore[attr-defined]
    except SystemExit as e:  # argparse: --help, usage errors
        rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    except BaseException:
        traceback.print_exc()
        rc = 99
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        with contextlib.suppress(Exception):  # peak resident memory above the start
            grown = (_status_kb("VmHWM") - start_kb) / 1024
            (capture / "grown_mb").write_text(f"{max(0.0, grown):.1f}")
        os._exit(rc)


def _serve_one(request: dict[str, object]) -> dict[str, object]:
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        _child(request)
    limit = float(request["seconds"])  # type: ignore[arg-type]
    deadline = start + 3 * limit + 5
    why = ""
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGUSR1)  # its stack to stderr first
            time.sleep(0.3)
            os.kill(pid, signal.SIGKILL)
            _, status, usage = os.wait4(pid, 0)
            why = "still running at the wall-clock limit"
            break
        time.sleep(0.002)
    seconds = time.monotonic() - start
    cpu = usage.ru_utime + usage.ru_stime
    rc: int | None = None
    if os.WIFEXITED(status):
        rc = os.WEXITSTATUS(status)
    elif not why:
        why = f"signal {os.WTERMSIG(status)}"
    if cpu >= limit:
        why = "over the CPU limit"
    report = Path(str(request["capture"])) / "grown_mb"
    grown = float(report.read_text()) if report.exists() else -1.0  # killed: not measured
    return {"rc": rc, "seconds": seconds, "cpu": cpu, "grown_mb": grown, "why": why}


def serve() -> None:
    import importlib

    os.environ.setdefault("MPLBACKEND", "Agg")
    for name in PRELOAD:
        with contextlib.suppress(ImportError):  # another copy of qkv may lack some
            importlib.import_module(name)
    from qkv.viz.fonts import find_cjk_font

    find_cjk_font()  # matplotlib's font list, read once here rather than in every child
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(_serve_one(json.loads(line))), flush=True)


if __name__ == "__main__":
    serve()
