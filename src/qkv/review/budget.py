"""A time budget for one check, so that no article keeps qkv busy for minutes.

The readers are linear in the text, but an article can still hold many thousands of
fragments; past the budget the check stops with a clear error instead of running on.
"""

from __future__ import annotations

import time
from contextvars import ContextVar

from qkv.errors import InputError

SECONDS = 3.5  # with start-up and reading, a check ends well within 5 s
_deadline: ContextVar[float | None] = ContextVar("qkv_check_deadline", default=None)


def start(seconds: float = SECONDS) -> None:
    _deadline.set(time.monotonic() + seconds)


def tick() -> None:
    """Raise InputError once the budget of the current check is spent."""
    deadline = _deadline.get()
    if deadline is not None and time.monotonic() > deadline:
        _deadline.set(None)
        raise InputError(
            f"the article is too complex to check in {SECONDS:g} s (too many matrices); "
            "split it into smaller files"
        )
