"""How many CPU threads a process of qkv uses, decided without importing torch (the CLI says
it in --help).

The user's choice stands: OMP_NUM_THREADS when it is set (torch reads it at start-up too).
Else the CPUs this process may run on (a container or taskset often allows fewer than the
machine has), shared among the processes torchrun started on this machine (LOCAL_WORLD_SIZE).
"""

from __future__ import annotations

import os


def omp_threads() -> int | None:
    """OMP_NUM_THREADS when it holds a whole number >= 1 (its first, as OpenMP reads a list),
    else None."""
    value = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    return int(value) if value.isdigit() and int(value) >= 1 else None


def available() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_threads() -> int:
    """OMP_NUM_THREADS when set, else this process's share of the CPUs it may run on."""
    omp = omp_threads()
    if omp is not None:
        return omp
    local = os.environ.get("LOCAL_WORLD_SIZE", "1")
    processes = int(local) if local.isdigit() and int(local) >= 1 else 1
    return max(1, available() // processes)
