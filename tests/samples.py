"""Small inputs the hostile-input tests and the fuzz suite build on: attention maps, npz files
with whatever arrays one wants, and a tiny GPT checkpoint made without training."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

VOCAB = "我爱吃苹果砖头。的是了"


def random_weights(layers: int, heads: int, n: int, s: int | None = None, seed: int = 0):
    """Rows that sum to 1 (layers, heads, n, s), float32."""
    rng = np.random.default_rng(seed)
    w = rng.random((layers, heads, n, s or n)).astype(np.float32) + 1e-3
    return w / w.sum(-1, keepdims=True)


def npz_bytes(**arrays: Any) -> bytes:
    """An .npz of exactly these arrays (np.savez to a file object: no name is changed)."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def maps_npz(
    layers: int = 1,
    heads: int = 2,
    n: int = 3,
    tokens: list[str] | None = None,
    meta: Any = None,
    maps: Any = None,
) -> bytes:
    """A qkv.maps/1 file; any part may be replaced by something wrong."""
    maps = random_weights(layers, heads, n) if maps is None else maps
    tokens = [f"t{i}" for i in range(n)] if tokens is None else tokens
    meta = {"schema": "qkv.maps/1"} if meta is None else meta
    return npz_bytes(maps=maps, tokens=np.array(tokens, dtype=str), meta=np.array(json.dumps(meta)))


def with_zip_flag(data: bytes, bit: int) -> bytes:
    """A zip with general-purpose flag ``bit`` set on every member (0: encrypted, 5:
    compressed patched data), in the local headers and the central directory."""
    b = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        i = b.find(signature)
        while i >= 0:
            b[i + offset] |= 1 << bit
            i = b.find(signature, i + 4)
    return bytes(b)


def compressed_maps_npz() -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(
        buf,
        maps=random_weights(1, 2, 3),
        tokens=np.array(["a", "b", "c"]),
        meta=np.array(json.dumps({"schema": "qkv.maps/1"})),
    )
    return buf.getvalue()


def broken_deflate(data: bytes) -> bytes:
    """The first member's deflate stream damaged just after its header."""
    b = bytearray(data)
    start = 30 + int.from_bytes(b[26:28], "little") + int.from_bytes(b[28:30], "little")
    b[start : start + 4] = b"\xff\xff\xff\xff"
    return bytes(b)


def declared_npz(shape: tuple[int, ...], dtype: str = "<f4") -> bytes:
    """An .npz whose maps.npy header declares ``shape`` but holds no data: the declaration
    alone must be refused (a small file asking for gigabytes)."""
    header = {"descr": dtype, "fortran_order": False, "shape": shape}
    text = repr(header).encode("latin1")
    pad = 64 - (10 + len(text) + 1) % 64
    npy = b"\x93NUMPY\x01\x00" + (len(text) + pad + 1).to_bytes(2, "little")
    npy += text + b" " * pad + b"\n"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("maps.npy", npy)
        z.writestr("tokens.npy", _npy(np.array(["a"], dtype=str)))
        z.writestr("meta.npy", _npy(np.array(json.dumps({"schema": "qkv.maps/1"}))))
    return buf.getvalue()


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def tiny_state(vocab: str = VOCAB, block_size: int = 8, seed: int = 0) -> dict[str, Any]:
    """A checkpoint dict of a 1-layer GPT with random weights (no training: fast)."""
    import torch

    from qkv.gpt.checkpoint import FORMAT
    from qkv.gpt.config import GPTConfig, TrainConfig
    from qkv.gpt.model import GPT

    torch.manual_seed(seed)
    config = GPTConfig(vocab_size=len(vocab), n_layer=1, n_head=2, n_embd=8, block_size=block_size)
    model = GPT(config)
    train = TrainConfig(batch_size=4, steps=2, warmup=1, eval_interval=1, eval_batches=1)
    from dataclasses import asdict

    return {
        "format": FORMAT,
        "config": asdict(config),
        "train": asdict(train),
        "vocab": list(vocab),
        "model": model.state_dict(),
        "optimizer": None,
        "step": 0,
        "best_val": float("inf"),
    }


def save_state(state: Any, path: Path) -> Path:
    import torch

    torch.save(state, path)
    return path
