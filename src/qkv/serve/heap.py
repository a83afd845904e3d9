"""The garbage collector of a long-running `qkv serve`.

Everything imported at start-up (FastAPI, pydantic, numpy, torch when a GPT is loaded) is
hundreds of thousands of objects that live as long as the process. CPython's full (gen-2)
collections walk all of them: measured on this server under load, 14 in 10 s of 65-120 ms
each, which made the p99 of every request. Moving them to the permanent generation once
(gc.freeze, after a collection so that nothing dead is kept) and collecting the young
generation less often (a request allocates thousands of short-lived objects) keeps the
collector's pauses to what requests themselves leave behind."""

from __future__ import annotations

import gc

# gen-0 threshold: allocations between young collections (CPython's default is 700);
# gen-1 and gen-2 keep their defaults, so cycles made by requests are still freed
YOUNG = 20_000


def settle() -> None:
    """Collect once, freeze what start-up made, and collect the young less often. Called by
    the CLI right before the server runs: in a test's process it would change the whole run."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG, middle, old)
