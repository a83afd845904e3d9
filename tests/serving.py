"""Helpers for the server's tests: a small GPT checkpoint, and `qkv serve` on a free loopback
port in a thread, stopped by the test that started it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def small_checkpoint(folder: Path) -> Path:
    """A GPT with random weights on the built-in corpus's characters (no training: the tests
    compare the server with qkv.gpt on the same weights, not the model's quality)."""
    import torch

    from qkv.gpt import checkpoint
    from qkv.gpt.config import GPTConfig, TrainConfig
    from qkv.gpt.data import CharTokenizer, builtin_corpus
    from qkv.gpt.model import GPT

    torch.manual_seed(0)
    tok = CharTokenizer.from_text(builtin_corpus())
    model = GPT(GPTConfig(vocab_size=len(tok), n_layer=2, n_head=3, n_embd=24, block_size=16))
    path = folder / "checkpoint.pt"
    checkpoint.save(path, model, None, 1, 1.0, TrainConfig(steps=1), tok)
    return path


@contextmanager
def running(app: Any) -> Iterator[str]:
    """The app served by uvicorn on 127.0.0.1:<free port>; yields its base URL."""
    import uvicorn

    from qkv.serve.connections import config

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(config(app))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def wait_until(check: Any, timeout: float = 15.0, every: float = 0.02) -> Any:
    """Poll check() until it returns something true (the page's CSP forbids Playwright's
    eval-based waiting)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("the condition did not hold in time")
        time.sleep(every)
