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


def pytest_collection_modifyitems(config, items):
    """`cuda` tests run where CUDA is; `compile` tests (minutes of compiling on a CPU),
    `mutation` tests (each runs tests on a mutated copy of src/qkv) and `slow` ones run only
    when asked for with -m."""
    asked = config.getoption("-m") or ""
    no_cuda = None
    for item in items:
        if "compile" in item.keywords and "compile" not in asked:
            item.add_marker(pytest.mark.skip(reason="compiles kernels for minutes: -m compile"))
        if "mutation" in item.keywords and "mutation" not in asked:
            item.add_marker(pytest.mark.skip(reason="tests on mutated copies: -m mutation"))
        if "slow" in item.keywords and "slow" not in asked:
            item.add_marker(pytest.mark.skip(reason="a minute or more: -m slow"))
        if "cuda" in item.keywords:
            if no_cuda is None:
                no_cuda = _why_no_cuda()
            if no_cuda:
                item.add_marker(pytest.mark.skip(reason=no_cuda))


def _why_no_cuda():
    try:
        import torch
    except ImportError:
        return "needs torch with CUDA (torch is not installed)"
    if not torch.cuda.is_available():
        return f"needs CUDA (torch {torch.__version__}: torch.cuda.is_available() is False)"
    return ""


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


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium (Debian's, through the playwright package), one per test module;
    skipped with the reason where either is missing."""
    import shutil
    from pathlib import Path

    pytest.importorskip("playwright")
    from qkv.viz.browser import CHROMIUM, launch

    if not Path(CHROMIUM).exists() and shutil.which(CHROMIUM) is None:
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian package chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()
