"""AttentionMaps: layers x heads x queries x keys, with the tokens; saved as .npz.

What a model's attention looks like, in one small object that the pictures draw. A .npz from
a stranger is checked before it is loaded: its size, then each array's declared shape and
dtype (qkv.limits), so that a small file cannot ask for gigabytes; no pickles.
"""

from __future__ import annotations

import io
import json
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from qkv import limits
from qkv.archive import check_directory
from qkv.core import display
from qkv.core.text import ensure_text
from qkv.errors import InputError

if TYPE_CHECKING:
    from qkv.core.trace import Trace

SCHEMA = "qkv.maps/1"
MEMBERS = ("maps", "tokens", "meta")
# What zipfile and numpy raise for a damaged or foreign file (found by tests/test_fuzz.py):
# an encrypted member (RuntimeError), an unsupported flag (NotImplementedError), a broken
# deflate stream (zlib.error), and the usual.
DAMAGED = (
    OSError, ValueError, KeyError, EOFError, RuntimeError, NotImplementedError,
    zipfile.BadZipFile, zlib.error,
)  # fmt: skip
WEIGHT_SLACK = 1e-3  # rounding of a model's softmax, in float16 too


@dataclass
class AttentionMaps:
    maps: np.ndarray  # (layers, heads, queries, keys), float32
    tokens: list[str]  # one per query (and key, unless meta["key_tokens"] lists the keys)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_shape(tuple(self.maps.shape), "attention maps")
        if self.maps.shape[-2] != len(self.tokens):
            raise InputError(f"{len(self.tokens)} tokens for maps with {self.maps.shape[-2]} rows")
        long = next((i for i, t in enumerate(self.tokens) if len(t) > limits.MAX_LABEL), None)
        if long is not None:
            raise InputError(f"token {long + 1} is longer than {limits.MAX_LABEL} characters")
        for i, token in enumerate(self.tokens, start=1):
            ensure_text(token, f"token {i}")
        ensure_text(json.dumps(self.meta, ensure_ascii=False), "meta")
        if not np.isfinite(self.maps).all():
            raise InputError("attention maps hold NaN or infinity")
        low, high = float(self.maps.min()), float(self.maps.max())
        if low < -WEIGHT_SLACK or high > 1 + WEIGHT_SLACK:
            raise InputError(
                f"attention maps hold {low:.3g} to {high:.3g}; weights are between 0 and 1"
            )
        keys = self.meta.get("key_tokens")
        if keys is not None and not (
            isinstance(keys, list)
            and len(keys) == self.maps.shape[-1]
            and all(isinstance(t, str) and len(t) <= limits.MAX_LABEL for t in keys)
        ):
            raise InputError(
                f"attention maps: meta 'key_tokens' must list {self.maps.shape[-1]} labels of at "
                f"most {limits.MAX_LABEL} characters (one per key)"
            )
        special = self.meta.get("special", [])
        if not isinstance(special, list) or not all(
            isinstance(i, int) and not isinstance(i, bool) and 0 <= i < len(self.tokens)
            for i in special
        ):
            raise InputError("attention maps: meta 'special' must list token positions")
        _check_mask(self.meta.get("mask"), self.maps)

    @property
    def layers(self) -> int:
        return self.maps.shape[0]

    @property
    def heads(self) -> int:
        return self.maps.shape[1]

    @property
    def key_tokens(self) -> list[str]:
        """The keys' labels: meta["key_tokens"] (cross-attention), else the tokens when the
        maps are square, else the keys' numbers."""
        keys = self.meta.get("key_tokens")
        if isinstance(keys, list):
            return [str(t) for t in keys]
        s = self.maps.shape[-1]
        return list(self.tokens) if s == len(self.tokens) else [str(j + 1) for j in range(s)]

    def masked(self) -> np.ndarray:
        """(queries, keys) booleans, True where a mask hid the cell: meta["mask"] where the
        maps say (a hand calculation knows its mask), else the cells that are exactly 0 in
        every layer and head (as a causal mask leaves them; a weak weight is rarely 0 in all).
        One layer at a time, so that maps read in place stay on disk."""
        mask = self.meta.get("mask")
        if mask is not None:
            cells = np.frombuffer("".join(mask).encode("ascii"), dtype=np.uint8)
            return (cells == ord("0")).reshape(self.maps.shape[-2:])
        zero = np.ones(self.maps.shape[-2:], dtype=bool)
        for layer in range(self.layers):
            zero &= np.all(np.asarray(self.maps[layer]) == 0, axis=0)
        return zero

    @classmethod
    def from_trace(cls, trace: Trace) -> AttentionMaps:
        """A hand calculation's weights as maps of one layer (a map per head), so that the
        views of maps draw a preset too; its mask goes along in meta["mask"] (1: may attend)."""
        steps = [s for s in trace.steps if s.base == "weights"]  # "weights" or "h2.weights"
        first = steps[0]
        meta: dict[str, Any] = {"source": "qkv.explain"}
        if trace.example:
            meta["example"] = trace.example
        if first.cols != first.rows:
            meta["key_tokens"] = list(first.cols)
        # always said: without it, a weight that underflowed to 0 would read as masked
        allowed = np.ones(first.shape, bool) if first.mask is None else np.asarray(first.mask)
        meta["mask"] = ["".join("1" if ok else "0" for ok in row) for row in allowed]
        maps = np.stack([s.matrix for s in steps])[None].astype(np.float32)
        return cls(maps, list(first.rows), meta)

    def save(self, path: str | Path) -> Path:
        """Write a .npz (complete or nothing, qkv.files), whatever the file's name."""
        from qkv.files import write_file

        meta = json.dumps({"schema": SCHEMA, **self.meta}, ensure_ascii=False)
        return write_file(
            path,
            lambda f: np.savez_compressed(
                f,  # a file object: numpy adds ".npz" to names, never to files
                maps=self.maps.astype(np.float32),
                tokens=np.array(self.tokens, dtype=str),
                meta=np.array(meta),
            ),
            "attention maps",
        )

    def __repr__(self) -> str:
        """One line, not the arrays: what ``print(maps)`` shows."""
        shown = ", ".join(repr(t) for t in self.tokens[:6])
        more = ", …" if len(self.tokens) > 6 else ""
        model = self.meta.get("model")
        name = f" {model}" if isinstance(model, str) and model else ""
        return (
            f"<AttentionMaps{name}: {self.layers} layer(s) × {self.heads} head(s), "
            f"{len(self.tokens)} × {self.maps.shape[-1]} weights; tokens [{shown}{more}]>"
        )

    def _repr_html_(self) -> str | None:
        """Jupyter: shown by qkv.viz when it is installed (see qkv.core.display)."""
        return display.show("html", self)

    @classmethod
    def load(cls, path: str | Path) -> AttentionMaps:
        """Maps saved by :meth:`save`, read with the checks above; InputError if bad.

        A regular file is read in place (a zip needs to seek; its size is checked first);
        anything else (a pipe, a device) through qkv.files' byte limit."""
        from qkv.files import open_regular, read_bytes

        with open_regular(path, "attention maps", limits.MAPS_FILE_BYTES) as f:
            if f is not None:
                return cls.from_file(f, str(path))
        data = read_bytes(path, "attention maps", limits.MAPS_FILE_BYTES)
        return cls.from_file(io.BytesIO(data), str(path))

    @classmethod
    def from_file(cls, f: IO[bytes], name: str = "maps") -> AttentionMaps:
        try:
            arrays = _arrays(f)
            meta = json.loads(str(arrays["meta"][()]))
        except DAMAGED as e:
            first = (str(e).splitlines() or [type(e).__name__])[0][:160]
            raise InputError(f"{name} is not a readable attention-maps file ({first})") from None
        if not isinstance(meta, dict) or meta.get("schema") != SCHEMA:
            found = meta.get("schema") if isinstance(meta, dict) else type(meta).__name__
            raise InputError(f"{name}: not a {SCHEMA} file (schema {found!r})")
        meta.pop("schema")
        try:
            return cls(arrays["maps"], [str(t) for t in arrays["tokens"]], meta)
        except InputError as e:
            raise InputError(f"{name}: {e}") from None


def _check_mask(mask: Any, maps: np.ndarray) -> None:
    """meta["mask"], where present: one text of 1 (may attend) and 0 (masked) per query, a
    character per key."""
    if mask is None:
        return
    n, s = maps.shape[-2:]
    if not (
        isinstance(mask, list)
        and len(mask) == n
        and all(isinstance(r, str) and len(r) == s and set(r) <= {"0", "1"} for r in mask)
    ):
        raise InputError(
            f"attention maps: meta 'mask' must be {n} texts of {s} characters 0 or 1 "
            "(one per query; 0: masked)"
        )


def check_shape(shape: tuple[int, ...], what: str) -> None:
    """layers x heads x queries x keys, none empty, within qkv.limits."""
    if len(shape) != 4:
        raise InputError(f"{what} must be layers x heads x queries x keys, got shape {shape}")
    if min(shape) < 1:
        raise InputError(f"{what} are empty (shape {shape})")
    if (
        max(shape[:2]) > limits.MAX_MAP_LAYERS
        or shape[0] * shape[1] > limits.MAX_MAP_HEADS
        or max(shape[2:]) > limits.MAX_MAP_TOKENS
    ):
        raise InputError(
            f"{what} of shape {shape} are too large (at most {limits.MAX_MAP_LAYERS} layers, "
            f"{limits.MAX_MAP_LAYERS} heads a layer, {limits.MAX_MAP_HEADS:,} heads in all and "
            f"{limits.MAX_MAP_TOKENS:,} tokens)"
        )
    if int(np.prod(shape, dtype=object)) > limits.MAX_MAP_CELLS:
        raise InputError(
            f"{what} of shape {shape} are too large (at most {limits.MAX_MAP_CELLS:,} numbers)"
        )


def _arrays(f: IO[bytes]) -> dict[str, np.ndarray]:
    """The three arrays, each header read and checked before its data is (and the archive's
    entries counted before zipfile reads them)."""
    check_directory(f, "the maps file", limits.MAP_ZIP_ENTRIES, limits.MAP_ZIP_DIRECTORY)
    with zipfile.ZipFile(f) as z:
        present = {n.removesuffix(".npy") for n in z.namelist()}
        missing = [m for m in MEMBERS if m not in present]
        if missing:
            raise KeyError(f"no {missing[0]!r} array")
        out = {}
        for member in MEMBERS:
            with z.open(f"{member}.npy") as f:
                shape, dtype = _header(f)
            _check_member(member, shape, dtype)
            with z.open(f"{member}.npy") as f:
                out[member] = np.lib.format.read_array(f, allow_pickle=False)
        return out


def _header(f: Any) -> tuple[tuple[int, ...], np.dtype[Any]]:
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(f)
    else:
        raise ValueError(f".npy version {version} is not supported")
    return tuple(shape), dtype


def _check_member(member: str, shape: tuple[int, ...], dtype: np.dtype[Any]) -> None:
    if member == "maps":
        if dtype.kind != "f":
            raise ValueError(f"maps are {dtype}, not floating point")
        check_shape(shape, "maps")
        return
    if dtype.kind != "U":
        raise ValueError(f"{member} is {dtype}, not text")
    count = int(np.prod(shape, dtype=object))
    if member == "tokens" and len(shape) != 1:
        raise ValueError(f"tokens must be one list, not shape {shape}")
    if member == "meta" and shape != ():
        raise ValueError(f"meta must be one text, not shape {shape}")
    bound = limits.MAP_TOKEN_BYTES if member == "tokens" else limits.MAP_META_BYTES
    if count * dtype.itemsize > bound:
        raise ValueError(f"{member} declares {count * dtype.itemsize:,} bytes")
