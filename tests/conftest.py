import itertools
import os
from pathlib import Path

import pytest

# The renderers read the terminal width; keep output stable in tests.
os.environ.setdefault("COLUMNS", "120")

# QKV_TEST_THREADS=N runs the suite with N torch threads (the results must not depend on it).
if os.environ.get("QKV_TEST_THREADS"):
    import torch

    torch.set_num_threads(int(os.environ["QKV_TEST_THREADS"]))


@pytest.fixture(scope="session")
def fork_server():
    """One fork server for the session (tests/isolate.py): `qkv ...` runs in a child with a
    time and memory limit, fast."""
    from tests.isolate import Server

    server = Server()
    yield server
    server.close()


@pytest.fixture
def qkv_cli(fork_server, tmp_path_factory):
    """run(argv, cwd, stdin=b"", seconds=5, memory=1 GB) -> Outcome, for `qkv argv...`."""
    counter = itertools.count()
    captures = tmp_path_factory.mktemp("capture")

    def run(argv, cwd: Path, stdin: bytes = b"", seconds: float = 5.0, memory: int = 1 << 30):
        capture = captures / str(next(counter))
        return fork_server.run(
            [str(a) for a in argv], cwd, capture, stdin=stdin, seconds=seconds, memory=memory
        )

    return run
