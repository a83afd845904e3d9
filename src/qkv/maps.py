"""AttentionMaps: layers x heads x queries x keys, with the tokens; saved as .npz.

What a model's attention looks like, in one small object that the pictures draw.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qkv.core import display
from qkv.errors import InputError

SCHEMA = "qkv.maps/1"


@dataclass
class AttentionMaps:
    maps: np.ndarray  # (layers, heads, queries, keys), float32
    tokens: list[str]  # one per query (and key, for self-attention)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.maps.ndim != 4:
            raise InputError(
                f"attention maps must be layers x heads x N x N, got {self.maps.shape}"
            )
        if self.maps.shape[-2] != len(self.tokens):
            raise InputError(f"{len(self.tokens)} tokens for maps with {self.maps.shape[-2]} rows")

    @property
    def layers(self) -> int:
        return self.maps.shape[0]

    @property
    def heads(self) -> int:
        return self.maps.shape[1]

    def save(self, path: str | Path) -> Path:
        """Write a .npz (atomically: a failed write leaves no half file)."""
        from qkv.atomic import write_atomic

        path = Path(path)
        meta = json.dumps({"schema": SCHEMA, **self.meta}, ensure_ascii=False)
        write_atomic(
            path,
            lambda tmp: np.savez_compressed(
                tmp,
                maps=self.maps.astype(np.float32),
                tokens=np.array(self.tokens, dtype=str),
                meta=np.array(meta),
            ),
        )
        return path

    def _repr_html_(self) -> str | None:
        """Jupyter: shown by qkv.viz when it is installed (see qkv.core.display)."""
        return display.show("html", self)

    @classmethod
    def load(cls, path: str | Path) -> AttentionMaps:
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                if meta.get("schema") != SCHEMA:
                    raise InputError(f"{path}: not a {SCHEMA} file (schema {meta.get('schema')!r})")
                return cls(data["maps"], [str(t) for t in data["tokens"]], meta)
        except FileNotFoundError:
            raise InputError(f"{path} does not exist") from None
        except (OSError, ValueError, KeyError) as e:
            raise InputError(f"{path} is not a readable attention-maps file ({e})") from None
