"""A CPU-time budget for one check, so that no article keeps qkv busy for minutes.

The readers are linear in the text, but an article can still hold many thousands of
fragments; past the budget the check stops with a clear error instead of running on. The
budget counts the CPU time of the checking thread, not the wall clock: a busy machine (or a
server checking many articles at once) gives every article the same verdict as an idle one.
"""

from __future__ import annotations

import time
from contextvars import ContextVar

from qkv.errors import InputError

SECONDS = 3.5  # of CPU: with start-up and reading, a check ends well within 5 s
_budget: ContextVar[tuple[float, float] | None] = ContextVar("qkv_check_budget", default=None)


def start(seconds: float = SECONDS) -> None:
    _budget.set((time.thread_time() + seconds, seconds))


def tick() -> None:
    """Raise InputError once the budget of the current check is spent."""
    budget = _budget.get()
    if budget is not None and time.thread_time() > budget[0]:
        _budget.set(None)
        raise InputError(
            f"the article is too complex to check in {budget[1]:g} s of CPU time (too many "
            "matrices); split it into smaller files"
        )
